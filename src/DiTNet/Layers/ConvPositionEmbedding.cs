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

    // the weights repacked as [G, K, D/G, D/G] and their gradients in that layout
    private readonly T[] _packed1;
    private readonly T[] _packed2;
    private readonly T[] _dPacked1;
    private readonly T[] _dPacked2;
    private Tensor<T>? _input;

    // Mish and its derivative run on row ranges among the kernel threads, on the tensors in the pass fields
    private readonly Action<int, int> _mishRows;
    private readonly Action<int, int> _mishGradientRows;
    private Tensor<T>? _passPre;
    private Tensor<T>? _passIn;
    private Tensor<T>? _passOut;
    private int _passItem;

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
        _mishRows = MishRows;
        _mishGradientRows = MishGradientRows;
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
            RunMish(_pre1, _hidden, b, threads);

            // 2. second convolution, Mish
            Conv.CausalGrouped<T>(_hidden.Slice(b), frames, Dim, Groups, KernelSize, _packed2, Conv2Bias.Value.Span, _pre2.Slice(b), threads);
            RunMish(_pre2, _output, b, threads);
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
            RunMishGradient(_pre2, outputGradient, _dPre2, b, threads);
            Conv.CausalGroupedBackward<T>(_hidden.Slice(b), _dPre2.Slice(b), frames, Dim, Groups, KernelSize,
                _packed2, _dPre1.Slice(b), _dPacked2, Conv2Bias.Gradient.Span, threads);

            // 1. Mish, then the first convolution
            RunMishGradient(_pre1, _dPre1, _dPre1, b, threads);
            Conv.CausalGroupedBackward<T>(_input.Slice(b), _dPre1.Slice(b), frames, Dim, Groups, KernelSize,
                _packed1, inputGradient.Slice(b), _dPacked1, Conv1Bias.Gradient.Span, threads);
        }
        Conv.AddUnpackedWeight<T>(_dPacked1, Dim, Groups, KernelSize, Conv1Weight.Gradient.Span);
        Conv.AddUnpackedWeight<T>(_dPacked2, Dim, Groups, KernelSize, Conv2Weight.Gradient.Span);
    }

    // output = Mish(pre) for item b, rows split among threads
    private void RunMish(Tensor<T> pre, Tensor<T> output, int b, int threads)
    {
        (_passPre, _passOut, _passItem) = (pre, output, b);
        ParallelRanges.Run(pre.Dim(1), Dim, threads, _mishRows);
        (_passPre, _passOut) = (null, null);
    }

    // gradient = incoming·Mish'(pre) for item b; gradient may be incoming
    private void RunMishGradient(Tensor<T> pre, Tensor<T> incoming, Tensor<T> gradient, int b, int threads)
    {
        (_passPre, _passIn, _passOut, _passItem) = (pre, incoming, gradient, b);
        ParallelRanges.Run(pre.Dim(1), Dim, threads, _mishGradientRows);
        (_passPre, _passIn, _passOut) = (null, null, null);
    }

    private void MishRows(int start, int end)
    {
        Range rows = (start * Dim)..(end * Dim);
        Activations.Mish<T>(_passPre!.Slice(_passItem)[rows], _passOut!.Slice(_passItem)[rows]);
    }

    private void MishGradientRows(int start, int end)
    {
        Range rows = (start * Dim)..(end * Dim);
        Activations.MishBackward<T>(_passPre!.Slice(_passItem)[rows], _passIn!.Slice(_passItem)[rows], _passOut!.Slice(_passItem)[rows]);
    }
}
