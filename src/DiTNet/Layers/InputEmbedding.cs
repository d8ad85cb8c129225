using System.Numerics;
using DiTNet.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace DiTNet.Layers;

/// <summary>
/// The input embedding: the channels of x, cond, mu and spks (repeated over the frames), in that
/// order, are concatenated into <c>[B, N, 2M + U + S]</c> and projected by <c>Linear(2M+U+S, D)</c>
/// to p; the output is <c>conv(p) + p</c> with the causal <see cref="ConvPositionEmbedding{T}"/>.
/// </summary>
/// <remarks>
/// Inputs are channels-first as the model receives them; the transpose to frames-first happens
/// while concatenating, so it costs no extra pass.
/// </remarks>
public sealed class InputEmbedding<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // concat: [B, N, 2M + U + S]; output: [B, N, D]
    private readonly Tensor<T> _concat = new(0);
    private readonly Tensor<T> _dConcat = new(0);
    private readonly Tensor<T> _dProjected = new(0);
    private readonly Tensor<T> _output = new(0);
    private int _batch;
    private int _frames;
    private bool _forwardDone;

    /// <summary>Creates the embedding; parameters are named <c>input_embed.proj.*</c> and <c>input_embed.conv_pos_embed.*</c>.</summary>
    public InputEmbedding(int melDim, int muDim, int spkDim, int dim)
    {
        MelDim = melDim;
        MuDim = muDim;
        SpkDim = spkDim;
        Dim = dim;
        Proj = new Linear<T>("input_embed.proj", 2 * melDim + muDim + spkDim, dim);
        ConvPositionEmbedding = new ConvPositionEmbedding<T>("input_embed.conv_pos_embed", dim);
    }

    /// <summary>M, the mel channels of x and cond.</summary>
    public int MelDim { get; }

    /// <summary>U, the channels of mu.</summary>
    public int MuDim { get; }

    /// <summary>S, the channels of spks.</summary>
    public int SpkDim { get; }

    /// <summary>D, the model width.</summary>
    public int Dim { get; }

    /// <summary>The projection, <c>Linear(2M+U+S, D)</c>.</summary>
    public Linear<T> Proj { get; }

    /// <summary>The causal convolutional position embedding.</summary>
    public ConvPositionEmbedding<T> ConvPositionEmbedding { get; }

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters => Proj.Parameters.Concat(ConvPositionEmbedding.Parameters);

    /// <summary>Embeds the inputs.</summary>
    /// <param name="x">x: <c>[B, M, N]</c>.</param>
    /// <param name="cond">cond: <c>[B, M, N]</c>.</param>
    /// <param name="mu">mu: <c>[B, U, N]</c>.</param>
    /// <param name="spks">spks: <c>[B, S]</c>.</param>
    /// <returns>h: <c>[B, N, D]</c>, a buffer owned by the layer.</returns>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public Tensor<T> Forward(Tensor<T> x, Tensor<T> cond, Tensor<T> mu, Tensor<T> spks, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Dim(1) != MelDim)
        {
            throw new ArgumentException($"x must have shape [B, {MelDim}, N] but has shape {x.ShapeString}.", nameof(x));
        }
        int batch = x.Dim(0), frames = x.Dim(2);
        ShapeCheck.Require(cond, nameof(cond), batch, MelDim, frames);
        ShapeCheck.Require(mu, nameof(mu), batch, MuDim, frames);
        ShapeCheck.Require(spks, nameof(spks), batch, SpkDim);
        _batch = batch;
        _frames = frames;

        // 1. concatenate x, cond, mu, spks along channels, transposing to frames-first
        int width = Proj.InFeatures;
        _concat.EnsureShape(batch, frames, width);
        for (int b = 0; b < batch; b++)
        {
            Span<T> item = _concat.Slice(b);
            TransposeInto(x.Slice(b), MelDim, frames, item, width, 0);
            TransposeInto(cond.Slice(b), MelDim, frames, item, width, MelDim);
            TransposeInto(mu.Slice(b), MuDim, frames, item, width, 2 * MelDim);
            Span<T> speaker = spks.Row(b);
            for (int n = 0; n < frames; n++)
            {
                speaker.CopyTo(item.Slice(n * width + 2 * MelDim + MuDim, SpkDim));
            }
        }

        // 2. project
        var projected = Proj.Forward(_concat, threads);

        // 3. add the convolutional position embedding
        var position = ConvPositionEmbedding.Forward(projected, threads);
        _output.EnsureShape(batch, frames, Dim);
        TensorPrimitives.Add(position.Span, projected.Span, _output.Span);
        _forwardDone = true;
        return _output;
    }

    /// <summary>Back-propagates through the last forward pass.</summary>
    /// <param name="outputGradient">dH: <c>[B, N, D]</c>.</param>
    /// <param name="xGradient">dX: <c>[B, M, N]</c>, added into, or null.</param>
    /// <param name="condGradient">dCond: <c>[B, M, N]</c>, added into, or null.</param>
    /// <param name="muGradient">dMu: <c>[B, U, N]</c>, added into, or null.</param>
    /// <param name="spksGradient">dSpks: <c>[B, S]</c>, added into, or null.</param>
    /// <remarks>Adds into the gradients and the parameter gradients; the caller zeroes them.</remarks>
    /// <exception cref="ArgumentException">A shape does not match the last forward pass.</exception>
    public void Backward(Tensor<T> outputGradient, Tensor<T>? xGradient, Tensor<T>? condGradient,
        Tensor<T>? muGradient, Tensor<T>? spksGradient, int threads = 0)
    {
        if (!_forwardDone)
        {
            throw new InvalidOperationException("Backward was called before Forward.");
        }
        int batch = _batch, frames = _frames;
        ShapeCheck.Require(outputGradient, nameof(outputGradient), batch, frames, Dim);
        CheckOptional(xGradient, nameof(xGradient), batch, MelDim, frames);
        CheckOptional(condGradient, nameof(condGradient), batch, MelDim, frames);
        CheckOptional(muGradient, nameof(muGradient), batch, MuDim, frames);
        CheckOptional(spksGradient, nameof(spksGradient), batch, SpkDim);

        // 3. the residual passes dH straight to p; the convolution adds its part
        _dProjected.EnsureShape(batch, frames, Dim);
        outputGradient.Span.CopyTo(_dProjected.Span);
        ConvPositionEmbedding.Backward(outputGradient, _dProjected, threads);

        // 2. projection
        bool needInputs = xGradient is not null || condGradient is not null || muGradient is not null || spksGradient is not null;
        int width = Proj.InFeatures;
        _dConcat.EnsureShape(batch, frames, width);
        _dConcat.Clear();
        Proj.Backward(_dProjected, needInputs ? _dConcat : null, threads);
        if (!needInputs)
        {
            return;
        }

        // 1. split the concatenation back into channels-first gradients
        for (int b = 0; b < batch; b++)
        {
            Span<T> item = _dConcat.Slice(b);
            if (xGradient is not null)
            {
                AddTransposed(item, width, 0, MelDim, frames, xGradient.Slice(b));
            }
            if (condGradient is not null)
            {
                AddTransposed(item, width, MelDim, MelDim, frames, condGradient.Slice(b));
            }
            if (muGradient is not null)
            {
                AddTransposed(item, width, 2 * MelDim, MuDim, frames, muGradient.Slice(b));
            }
            if (spksGradient is not null)
            {
                Span<T> dSpeaker = spksGradient.Row(b);
                for (int n = 0; n < frames; n++)
                {
                    TensorPrimitives.Add(dSpeaker, item.Slice(n * width + 2 * MelDim + MuDim, SpkDim), dSpeaker);
                }
            }
        }
    }

    // source: [C, N] channels-first; destination: [N, width], columns offset .. offset + C − 1
    private static void TransposeInto(ReadOnlySpan<T> source, int channels, int frames, Span<T> destination, int width, int offset)
    {
        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<T> row = source.Slice(c * frames, frames);
            for (int n = 0; n < frames; n++)
            {
                destination[n * width + offset + c] = row[n];
            }
        }
    }

    // source: [N, width], columns offset .. offset + C − 1; destination: [C, N] channels-first, added into
    private static void AddTransposed(ReadOnlySpan<T> source, int width, int offset, int channels, int frames, Span<T> destination)
    {
        for (int c = 0; c < channels; c++)
        {
            Span<T> row = destination.Slice(c * frames, frames);
            for (int n = 0; n < frames; n++)
            {
                row[n] += source[n * width + offset + c];
            }
        }
    }

    private static void CheckOptional(Tensor<T>? tensor, string name, params ReadOnlySpan<int> shape)
    {
        if (tensor is not null)
        {
            ShapeCheck.Require(tensor, name, shape);
        }
    }
}
