using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using DiTNet.Kernels;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// The adaptive layer norm of a DiT block: <c>e = Linear(D, 6D)(SiLU(temb))</c> split into six
/// <c>[B, D]</c> chunks in the fixed order shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp,
/// gate_mlp; the output is <c>LN(h)·(1 + scale_msa) + shift_msa</c>.
/// </summary>
/// <remarks>
/// The other four chunks are used by the block; it reads them through <see cref="Chunk"/> and
/// hands their gradients back to <see cref="Backward"/> in the modulation gradient.
/// </remarks>
public sealed class AdaLayerNormZero<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Index of shift_msa among the six chunks.</summary>
    public const int ShiftMsa = 0;

    /// <summary>Index of scale_msa among the six chunks.</summary>
    public const int ScaleMsa = 1;

    /// <summary>Index of gate_msa among the six chunks.</summary>
    public const int GateMsa = 2;

    /// <summary>Index of shift_mlp among the six chunks.</summary>
    public const int ShiftMlp = 3;

    /// <summary>Index of scale_mlp among the six chunks.</summary>
    public const int ScaleMlp = 4;

    /// <summary>Index of gate_mlp among the six chunks.</summary>
    public const int GateMlp = 5;

    // silu: SiLU(temb) [B, D]; dSilu: its gradient [B, D]
    private readonly Tensor<T> _silu = new(0);
    private readonly Tensor<T> _dSilu = new(0);
    private readonly Tensor<T> _output = new(0);
    private readonly Tensor<T> _mean = new(0);
    private readonly Tensor<T> _rstd = new(0);
    private Tensor<T>? _input;
    private Tensor<T>? _temb;
    private Tensor<T>? _modulation;

    // The row and column passes run among the kernel threads. Their delegates are made once, so that a
    // pass allocates nothing, and they read their tensors from these fields.
    private const int ColumnBlock = 16;
    private readonly Action<int, int> _normRows;
    private readonly Action<int, int> _normGradientRows;
    private readonly Action<int, int> _normGradientColumns;
    private Tensor<T>? _passOutputGradient;
    private Tensor<T>? _passInputGradient;
    private Tensor<T>? _passModulationGradient;
    private int _passFrames;

    /// <summary>Creates the layer; its parameters are named <c>{name}.linear.weight</c> and <c>{name}.linear.bias</c>.</summary>
    public AdaLayerNormZero(string name, int dim)
    {
        Dim = dim;
        Linear = new Linear<T>(name + ".linear", dim, 6 * dim);
        _normRows = NormRows;
        _normGradientRows = NormGradientRows;
        _normGradientColumns = NormGradientColumns;
    }

    /// <summary>D, the model width.</summary>
    public int Dim { get; }

    /// <summary>The modulation projection, <c>Linear(D, 6D)</c>.</summary>
    public Linear<T> Linear { get; }

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters => Linear.Parameters;

    /// <summary>The last modulation e: <c>[B, 6D]</c>.</summary>
    /// <exception cref="InvalidOperationException">Forward has not run yet.</exception>
    public Tensor<T> Modulation => _modulation ?? throw new InvalidOperationException("Forward has not run yet.");

    /// <summary>Returns chunk <paramref name="index"/> (0 = shift_msa … 5 = gate_mlp) of item <paramref name="batch"/> of a <c>[B, 6D]</c> tensor.</summary>
    public Span<T> Chunk(Tensor<T> modulation, int batch, int index) => modulation.Row(batch).Slice(index * Dim, Dim);

    /// <summary>Computes the modulation and the modulated norm of <paramref name="input"/>.</summary>
    /// <param name="input">h: <c>[B, N, D]</c>; kept by reference for the backward pass.</param>
    /// <param name="temb">temb: <c>[B, D]</c>; kept by reference for the backward pass.</param>
    /// <returns>a: <c>[B, N, D]</c>, a buffer owned by the layer.</returns>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public Tensor<T> Forward(Tensor<T> input, Tensor<T> temb, int threads = 0)
    {
        ShapeCheck.RequireWidth(input, nameof(input), 3, Dim);
        int batch = input.Dim(0), frames = input.Dim(1);
        ShapeCheck.Require(temb, nameof(temb), batch, Dim);

        // e = Linear(SiLU(temb))
        _silu.EnsureShape(batch, Dim);
        Activations.SiLU<T>(temb.Span, _silu.Span);
        _modulation = Linear.Forward(_silu, threads);

        // a = LN(h)·(1 + scale_msa) + shift_msa
        _output.EnsureShape(batch, frames, Dim);
        _mean.EnsureShape(batch * frames);
        _rstd.EnsureShape(batch * frames);
        _input = input;
        _passFrames = frames;
        ParallelRanges.Run(batch * frames, 4L * Dim, threads, _normRows);
        _input = input;
        _temb = temb;
        return _output;
    }

    /// <summary>Back-propagates through the last forward pass.</summary>
    /// <param name="outputGradient">dA: <c>[B, N, D]</c>.</param>
    /// <param name="modulationGradient">dE: <c>[B, 6D]</c>, holding the caller's gradients of the chunks it used; this call adds the shift_msa and scale_msa gradients, then reads it whole.</param>
    /// <param name="inputGradient">dH: <c>[B, N, D]</c>, added into.</param>
    /// <param name="tembGradient">dTemb: <c>[B, D]</c>, added into.</param>
    /// <remarks>Adds into the gradients and the parameter gradients; the caller zeroes them.</remarks>
    /// <exception cref="ArgumentException">A shape does not match the last forward pass.</exception>
    public void Backward(Tensor<T> outputGradient, Tensor<T> modulationGradient, Tensor<T> inputGradient, Tensor<T> tembGradient, int threads = 0)
    {
        if (_input is null || _temb is null || _modulation is null)
        {
            throw new InvalidOperationException("Backward was called before Forward.");
        }
        int batch = _input.Dim(0), frames = _input.Dim(1);
        ShapeCheck.Require(outputGradient, nameof(outputGradient), batch, frames, Dim);
        ShapeCheck.Require(modulationGradient, nameof(modulationGradient), batch, 6 * Dim);
        ShapeCheck.Require(inputGradient, nameof(inputGradient), batch, frames, Dim);
        ShapeCheck.Require(tembGradient, nameof(tembGradient), batch, Dim);

        // undo the modulated norm: dH, dScaleMsa, dShiftMsa
        _passOutputGradient = outputGradient;
        _passInputGradient = inputGradient;
        _passModulationGradient = modulationGradient;
        _passFrames = frames;
        ParallelRanges.Run(batch * frames, 6L * Dim, threads, _normGradientRows);
        ParallelRanges.Run((Dim + ColumnBlock - 1) / ColumnBlock, 3L * batch * frames * ColumnBlock, threads, _normGradientColumns);
        _passOutputGradient = null;
        _passInputGradient = null;
        _passModulationGradient = null;

        // undo e = Linear(SiLU(temb))
        _dSilu.EnsureShape(batch, Dim);
        _dSilu.Clear();
        Linear.Backward(modulationGradient, _dSilu, threads);
        Activations.SiLUBackward<T>(_temb.Span, _dSilu.Span, _dSilu.Span);
        TensorPrimitives.Add(tembGradient.Span, _dSilu.Span, tembGradient.Span);
    }

    // Rows [start, end): y = LN(h)·(1 + scale) + shift.
    private void NormRows(int start, int end)
    {
        for (int r = start; r < end; r++)
        {
            int b = r / _passFrames;
            (_mean[r], _rstd[r]) = Norms.LayerNormModulate<T>(_input!.Row(r), Chunk(_modulation!, b, ScaleMsa), Chunk(_modulation!, b, ShiftMsa), _output.Row(r));
        }
    }

    // Rows [start, end): dH += the norm's input gradient.
    private void NormGradientRows(int start, int end)
    {
        for (int r = start; r < end; r++)
        {
            int b = r / _passFrames;
            Norms.LayerNormModulateBackward<T>(_input!.Row(r), _mean[r], _rstd[r], Chunk(_modulation!, b, ScaleMsa), _passOutputGradient!.Row(r),
                _passInputGradient!.Row(r), [], []);
        }
    }

    // Column blocks [start, end), rows in order: dScale and dShift, so that each sums its rows on one thread.
    private void NormGradientColumns(int start, int end)
    {
        int first = start * ColumnBlock, width = Math.Min(end * ColumnBlock, Dim) - first;
        for (int r = 0; r < _input!.Dim(0) * _passFrames; r++)
        {
            int b = r / _passFrames;
            Norms.ModulationGradients<T>(_input.Row(r).Slice(first, width), _mean[r], _rstd[r], _passOutputGradient!.Row(r).Slice(first, width),
                Chunk(_passModulationGradient!, b, ScaleMsa).Slice(first, width), Chunk(_passModulationGradient!, b, ShiftMsa).Slice(first, width));
        }
    }
}
