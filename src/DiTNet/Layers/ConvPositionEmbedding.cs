using System.Numerics;
using DiTNet.Kernels;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// The causal convolutional position embedding: left-pad K−1 frames with zeros,
/// <c>Conv1d(D, D, K, groups G)</c>, Mish, and the same again with a second convolution.
/// K is 31 and G is 16 in the reference model.
/// </summary>
/// <remarks>
/// Only earlier frames are read, so padding frames at the end of an item never reach real frames.
/// The caller adds the input back: the embedding's output is <c>conv(h) + h</c>.
/// </remarks>
public sealed class ConvPositionEmbedding<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The convolution width K.</summary>
    public const int KernelSize = 31;

    /// <summary>The convolution groups G.</summary>
    public const int Groups = 16;

    // pre1, pre2: the convolutions' outputs before Mish; hidden: Mish(pre1); all [B, N, D]
    private readonly Tensor<T> _pre1 = new(0);
    private readonly Tensor<T> _hidden = new(0);
    private readonly Tensor<T> _pre2 = new(0);
    private readonly Tensor<T> _output = new(0);
    private readonly Tensor<T> _dPre1 = new(0);
    private readonly Tensor<T> _dPre2 = new(0);

    // the weights repacked as [K, G, D/G, D/G] and their gradients in that layout
    private readonly T[] _packed1;
    private readonly T[] _packed2;
    private readonly T[] _dPacked1;
    private readonly T[] _dPacked2;
    private Tensor<T>? _input;

    /// <summary>Creates the embedding; parameters are named <c>{name}.conv1.0.*</c> and <c>{name}.conv2.0.*</c>.</summary>
    /// <exception cref="ArgumentException"><paramref name="dim"/> is not a positive multiple of 16.</exception>
    public ConvPositionEmbedding(string name, int dim)
    {
        if (dim <= 0 || dim % Groups != 0)
        {
            throw new ArgumentException($"dim must be a positive multiple of {Groups}, got {dim}.", nameof(dim));
        }
        Dim = dim;
        int[] weightShape = [dim, dim / Groups, KernelSize];
        Conv1Weight = new Parameter<T>(name + ".conv1.0.weight", weightShape);
        Conv1Bias = new Parameter<T>(name + ".conv1.0.bias", [dim]);
        Conv2Weight = new Parameter<T>(name + ".conv2.0.weight", weightShape);
        Conv2Bias = new Parameter<T>(name + ".conv2.0.bias", [dim]);
        int packedLength = dim * (dim / Groups) * KernelSize;
        _packed1 = new T[packedLength];
        _packed2 = new T[packedLength];
        _dPacked1 = new T[packedLength];
        _dPacked2 = new T[packedLength];
    }

    /// <summary>D, the channels.</summary>
    public int Dim { get; }

    /// <summary>The first convolution's weight, <c>[D, D/16, 31]</c>.</summary>
    public Parameter<T> Conv1Weight { get; }

    /// <summary>The first convolution's bias, <c>[D]</c>.</summary>
    public Parameter<T> Conv1Bias { get; }

    /// <summary>The second convolution's weight, <c>[D, D/16, 31]</c>.</summary>
    public Parameter<T> Conv2Weight { get; }

    /// <summary>The second convolution's bias, <c>[D]</c>.</summary>
    public Parameter<T> Conv2Bias { get; }

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters => [Conv1Weight, Conv1Bias, Conv2Weight, Conv2Bias];

    /// <summary>Draws weights and biases from <c>U(−1/√(D/16·31), 1/√(D/16·31))</c>, PyTorch's default for Conv1d.</summary>
    public void Initialize(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        double bound = 1.0 / Math.Sqrt(Dim / Groups * KernelSize);
        foreach (var parameter in Parameters)
        {
            Span<T> values = parameter.Value.Span;
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = T.CreateTruncating((random.NextDouble() * 2 - 1) * bound);
            }
        }
    }

    /// <summary>Computes <c>Mish(conv2(Mish(conv1(h))))</c>, without the residual.</summary>
    /// <param name="input">h: <c>[B, N, D]</c>; kept by reference for the backward pass.</param>
    /// <returns><c>[B, N, D]</c>, a buffer owned by the layer.</returns>
    /// <exception cref="ArgumentException">The last dimension of <paramref name="input"/> is not D.</exception>
    public Tensor<T> Forward(Tensor<T> input, int threads = 0)
    {
        ShapeCheck.RequireWidth(input, nameof(input), 3, Dim);
        int batch = input.Dim(0), frames = input.Dim(1);
        Conv.PackWeight<T>(Conv1Weight.Value.Span, Dim, Groups, KernelSize, _packed1);
        Conv.PackWeight<T>(Conv2Weight.Value.Span, Dim, Groups, KernelSize, _packed2);
        _pre1.EnsureShape(batch, frames, Dim);
        _hidden.EnsureShape(batch, frames, Dim);
        _pre2.EnsureShape(batch, frames, Dim);
        _output.EnsureShape(batch, frames, Dim);

        for (int b = 0; b < batch; b++)
        {
            // 1. first convolution, Mish
            Conv.CausalGrouped<T>(input.Slice(b), frames, Dim, Groups, KernelSize, _packed1, Conv1Bias.Value.Span, _pre1.Slice(b), threads);
            Activations.Mish<T>(_pre1.Slice(b), _hidden.Slice(b));

            // 2. second convolution, Mish
            Conv.CausalGrouped<T>(_hidden.Slice(b), frames, Dim, Groups, KernelSize, _packed2, Conv2Bias.Value.Span, _pre2.Slice(b), threads);
            Activations.Mish<T>(_pre2.Slice(b), _output.Slice(b));
        }
        _input = input;
        return _output;
    }

    /// <summary>Back-propagates through the last forward pass.</summary>
    /// <param name="outputGradient">dOut: <c>[B, N, D]</c>.</param>
    /// <param name="inputGradient">dH: <c>[B, N, D]</c>, added into.</param>
    /// <remarks>Adds into <paramref name="inputGradient"/> and the parameter gradients; the caller zeroes them.</remarks>
    /// <exception cref="ArgumentException">A shape does not match the last forward pass.</exception>
    public void Backward(Tensor<T> outputGradient, Tensor<T> inputGradient, int threads = 0)
    {
        if (_input is null)
        {
            throw new InvalidOperationException("Backward was called before Forward.");
        }
        int batch = _input.Dim(0), frames = _input.Dim(1);
        ShapeCheck.Require(outputGradient, nameof(outputGradient), batch, frames, Dim);
        ShapeCheck.Require(inputGradient, nameof(inputGradient), batch, frames, Dim);
        Array.Clear(_dPacked1);
        Array.Clear(_dPacked2);
        _dPre1.EnsureShape(batch, frames, Dim);
        _dPre1.Clear();
        _dPre2.EnsureShape(batch, frames, Dim);

        for (int b = 0; b < batch; b++)
        {
            // 2. Mish, then the second convolution
            Activations.MishBackward<T>(_pre2.Slice(b), outputGradient.Slice(b), _dPre2.Slice(b));
            Conv.CausalGroupedBackward<T>(_hidden.Slice(b), _dPre2.Slice(b), frames, Dim, Groups, KernelSize,
                _packed2, _dPre1.Slice(b), _dPacked2, Conv2Bias.Gradient.Span, threads);

            // 1. Mish, then the first convolution
            Activations.MishBackward<T>(_pre1.Slice(b), _dPre1.Slice(b), _dPre1.Slice(b));
            Conv.CausalGroupedBackward<T>(_input.Slice(b), _dPre1.Slice(b), frames, Dim, Groups, KernelSize,
                _packed1, inputGradient.Slice(b), _dPacked1, Conv1Bias.Gradient.Span, threads);
        }
        Conv.AddUnpackedWeight<T>(_dPacked1, Dim, Groups, KernelSize, Conv1Weight.Gradient.Span);
        Conv.AddUnpackedWeight<T>(_dPacked2, Dim, Groups, KernelSize, Conv2Weight.Gradient.Span);
    }
}
