using System.Numerics;
using DiTNet.Kernels;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// A fully connected layer, <c>y = x·Wᵀ + b</c>, with PyTorch's weight layout <c>[out, in]</c>.
/// </summary>
public sealed unsafe class Linear<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // Columns per block when the bias gradient's column sums are split among threads.
    private const int ColumnBlock = 16;

    private readonly Tensor<T> _output = new(0);
    private Tensor<T>? _input;

    // The bias copy and the bias gradient run on row or column ranges among the kernel threads, on the
    // pinned buffers in the pass fields. The delegates are made once, so that a call allocates nothing.
    private readonly Action<int, int> _biasRows;
    private readonly Action<int, int> _biasGradientColumns;
    private T* _passRows;
    private int _passRowCount;

    /// <summary>Creates a zero-initialized layer whose parameters are named <c>{name}.weight</c> and <c>{name}.bias</c>.</summary>
    public Linear(string name, int inFeatures, int outFeatures, bool bias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatures);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = new Parameter<T>(name + ".weight", [outFeatures, inFeatures]);
        Bias = bias ? new Parameter<T>(name + ".bias", [outFeatures]) : null;
        _biasRows = BiasRows;
        _biasGradientColumns = BiasGradientColumns;
    }

    /// <summary>The input width.</summary>
    public int InFeatures { get; }

    /// <summary>The output width.</summary>
    public int OutFeatures { get; }

    /// <summary>The weight, <c>[out, in]</c>.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>The bias, <c>[out]</c>, or null for a layer without bias.</summary>
    public Parameter<T>? Bias { get; }

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters => Bias is null ? [Weight] : [Weight, Bias];

    /// <summary>
    /// Draws weights and bias from <c>U(-1/√in, 1/√in)</c>, the distribution of PyTorch's default initialization.
    /// </summary>
    public void Initialize(Random random)
    {
        double bound = 1.0 / Math.Sqrt(InFeatures);
        foreach (var parameter in Parameters)
        {
            Span<T> values = parameter.Value.Span;
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = T.CreateTruncating((random.NextDouble() * 2 - 1) * bound);
            }
        }
    }

    /// <summary>Applies the layer to every row of <paramref name="input"/>.</summary>
    /// <param name="input">x: <c>[..., in]</c>; a reference is kept for the backward pass, so it must not change until then.</param>
    /// <returns>y: <c>[..., out]</c>, a buffer owned by the layer and overwritten by the next call.</returns>
    /// <exception cref="ArgumentException">The last dimension of <paramref name="input"/> is not <see cref="InFeatures"/>.</exception>
    public Tensor<T> Forward(Tensor<T> input, int threads = 0)
    {
        CheckWidth(input, InFeatures, nameof(input));
        int rows = input.Length / InFeatures;
        int[] shape = input.Shape.ToArray();
        shape[^1] = OutFeatures;
        _output.Reshape(shape);
        Forward(input.Span, rows, _output.Span, threads);
        _input = input;
        return _output;
    }

    /// <summary>Computes <c>y = x·Wᵀ + b</c> for <paramref name="rows"/> rows without saving anything.</summary>
    /// <param name="input">x: <c>[rows, in]</c>.</param>
    /// <param name="output">y: <c>[rows, out]</c>, overwritten.</param>
    public void Forward(ReadOnlySpan<T> input, int rows, Span<T> output, int threads = 0)
    {
        if (Bias is null)
        {
            Gemm.Compute(Transpose.No, Transpose.Yes, rows, OutFeatures, InFeatures,
                input, Weight.Value.Span, output, accumulate: false, threads);
            return;
        }

        // start every row from the bias, then accumulate the product onto it
        fixed (T* start = output)
        {
            _passRows = start;
            ParallelRanges.Run(rows, OutFeatures, threads, _biasRows);
            _passRows = null;
        }
        Gemm.Compute(Transpose.No, Transpose.Yes, rows, OutFeatures, InFeatures,
            input, Weight.Value.Span, output, accumulate: true, threads);
    }

    /// <summary>Back-propagates through the last <see cref="Forward(Tensor{T}, int)"/>.</summary>
    /// <param name="outputGradient">dY: <c>[..., out]</c>, shaped like the last output.</param>
    /// <param name="inputGradient">dX: <c>[..., in]</c>, shaped like the last input, or null when not needed.</param>
    /// <remarks>Adds into <paramref name="inputGradient"/> and the parameter gradients; the caller zeroes them.</remarks>
    public void Backward(Tensor<T> outputGradient, Tensor<T>? inputGradient, int threads = 0)
    {
        if (_input is null)
        {
            throw new InvalidOperationException("Backward was called before Forward.");
        }
        if (outputGradient.Length != _output.Length)
        {
            throw new ArgumentException(
                $"The output gradient {outputGradient.ShapeString} does not match the last output {_output.ShapeString}.",
                nameof(outputGradient));
        }
        if (inputGradient is not null && inputGradient.Length != _input.Length)
        {
            throw new ArgumentException(
                $"The input gradient {inputGradient.ShapeString} does not match the last input {_input.ShapeString}.",
                nameof(inputGradient));
        }
        Backward(_input.Span, outputGradient.Span, _input.Length / InFeatures,
            inputGradient is null ? [] : inputGradient.Span, threads);
    }

    /// <summary>Back-propagates <paramref name="outputGradient"/> for the given input rows.</summary>
    /// <param name="input">x: <c>[rows, in]</c>, as given to the forward pass.</param>
    /// <param name="outputGradient">dY: <c>[rows, out]</c>.</param>
    /// <param name="inputGradient">dX: <c>[rows, in]</c>, or empty when not needed.</param>
    /// <remarks>Adds into <paramref name="inputGradient"/> and the parameter gradients; the caller zeroes them.</remarks>
    public void Backward(ReadOnlySpan<T> input, ReadOnlySpan<T> outputGradient, int rows, Span<T> inputGradient, int threads = 0)
    {
        // dX += dY·W
        if (!inputGradient.IsEmpty)
        {
            Gemm.Compute(Transpose.No, Transpose.No, rows, InFeatures, OutFeatures,
                outputGradient, Weight.Value.Span, inputGradient, accumulate: true, threads);
        }

        // dW += dYᵀ·x
        Gemm.Compute(Transpose.Yes, Transpose.No, OutFeatures, InFeatures, rows,
            outputGradient, input, Weight.Gradient.Span, accumulate: true, threads);

        // db += column sums of dY, split by columns so that each sums its rows in order on one thread
        if (Bias is not null)
        {
            fixed (T* start = outputGradient)
            {
                _passRows = start;
                _passRowCount = rows;
                ParallelRanges.Run((OutFeatures + ColumnBlock - 1) / ColumnBlock, (long)rows * ColumnBlock, threads, _biasGradientColumns);
                _passRows = null;
            }
        }
    }

    // Rows [start, end) of the pinned output: a copy of the bias.
    private void BiasRows(int start, int end)
    {
        ReadOnlySpan<T> bias = Bias!.Value.Span;
        for (int r = start; r < end; r++)
        {
            bias.CopyTo(new Span<T>(_passRows + (long)r * OutFeatures, OutFeatures));
        }
    }

    // Column blocks [start, end) of the bias gradient: the pinned output gradient's rows added in order.
    private void BiasGradientColumns(int start, int end)
    {
        int first = start * ColumnBlock, width = Math.Min(end * ColumnBlock, OutFeatures) - first;
        Span<T> dBias = Bias!.Gradient.Span.Slice(first, width);
        for (int r = 0; r < _passRowCount; r++)
        {
            var row = new ReadOnlySpan<T>(_passRows + (long)r * OutFeatures + first, width);
            System.Numerics.Tensors.TensorPrimitives.Add(dBias, row, dBias);
        }
    }

    private static void CheckWidth(Tensor<T> tensor, int width, string name)
    {
        if (tensor.Rank == 0 || tensor.Dim(-1) != width)
        {
            throw new ArgumentException($"Expected a tensor of shape [..., {width}], got {tensor.ShapeString}.", name);
        }
    }
}
