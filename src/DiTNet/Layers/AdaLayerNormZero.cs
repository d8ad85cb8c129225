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

    /// <summary>Creates the layer; its parameters are named <c>{name}.linear.weight</c> and <c>{name}.linear.bias</c>.</summary>
    public AdaLayerNormZero(string name, int dim)
    {
        Dim = dim;
        Linear = new Linear<T>(name + ".linear", dim, 6 * dim);
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
        for (int b = 0; b < batch; b++)
        {
            Span<T> scale = Chunk(_modulation, b, ScaleMsa);
            Span<T> shift = Chunk(_modulation, b, ShiftMsa);
            for (int n = 0; n < frames; n++)
            {
                int r = b * frames + n;
                (_mean[r], _rstd[r]) = Norms.LayerNormModulate<T>(input.Row(r), scale, shift, _output.Row(r));
            }
        }
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
        for (int b = 0; b < batch; b++)
        {
            Span<T> scale = Chunk(_modulation, b, ScaleMsa);
            Span<T> dScale = Chunk(modulationGradient, b, ScaleMsa);
            Span<T> dShift = Chunk(modulationGradient, b, ShiftMsa);
            for (int n = 0; n < frames; n++)
            {
                int r = b * frames + n;
                Norms.LayerNormModulateBackward<T>(_input.Row(r), _mean[r], _rstd[r], scale, outputGradient.Row(r),
                    inputGradient.Row(r), dScale, dShift);
            }
        }

        // undo e = Linear(SiLU(temb))
        _dSilu.EnsureShape(batch, Dim);
        _dSilu.Clear();
        Linear.Backward(modulationGradient, _dSilu, threads);
        Activations.SiLUBackward<T>(_temb.Span, _dSilu.Span, _dSilu.Span);
        TensorPrimitives.Add(tembGradient.Span, _dSilu.Span, tembGradient.Span);
    }
}
