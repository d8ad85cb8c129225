using System.Numerics;
using DiTNet.Kernels;
using DiTNet.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace DiTNet.Layers;

/// <summary>
/// One DiT block: adaptive norm, attention, gated residual, modulated norm, feed-forward, gated residual.
/// </summary>
/// <remarks>
/// With e split into shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp:
/// <code>
/// 1. a     = LN(h)·(1 + scale_msa) + shift_msa
/// 2. attn  = Attention(a)
/// 3. h'    = h + gate_msa·attn
/// 4. f     = LN(h')·(1 + scale_mlp) + shift_mlp
/// 5. ff    = FeedForward(f)
/// 6. out   = h' + gate_mlp·ff
/// </code>
/// </remarks>
public sealed class DiTBlock<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // all [B, N, D]: hMid is h' of step 3, f the input of the feed-forward, output the block's output
    private readonly Tensor<T> _hMid = new(0);
    private readonly Tensor<T> _f = new(0);
    private readonly Tensor<T> _output = new(0);
    private readonly Tensor<T> _meanMlp = new(0);
    private readonly Tensor<T> _rstdMlp = new(0);
    private readonly Tensor<T> _dModulation = new(0);
    private readonly Tensor<T> _dHMid = new(0);
    private readonly Tensor<T> _dBranch = new(0);
    private readonly Tensor<T> _dBranchInput = new(0);
    private Tensor<T>? _input;
    private Tensor<T>? _attention;
    private Tensor<T>? _feedForward;

    /// <summary>Creates block <paramref name="index"/>; parameters are named <c>transformer_blocks.{index}.*</c>.</summary>
    public DiTBlock(int index, int dim, int heads, int dimHead, int ffDim, double dropout)
    {
        string name = FormattableString.Invariant($"transformer_blocks.{index}");
        Dim = dim;
        AttnNorm = new AdaLayerNormZero<T>(name + ".attn_norm", dim);
        Attn = new Attention<T>(name + ".attn", dim, heads, dimHead, dropout);
        FF = new FeedForward<T>(name + ".ff", dim, ffDim, dropout);
    }

    /// <summary>D, the model width.</summary>
    public int Dim { get; }

    /// <summary>The adaptive norm that also produces the block's six modulation chunks.</summary>
    public AdaLayerNormZero<T> AttnNorm { get; }

    /// <summary>The self-attention.</summary>
    public Attention<T> Attn { get; }

    /// <summary>The feed-forward network.</summary>
    public FeedForward<T> FF { get; }

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters => AttnNorm.Parameters.Concat(Attn.Parameters).Concat(FF.Parameters);

    /// <summary>Runs the block.</summary>
    /// <param name="input">h: <c>[B, N, D]</c>; kept by reference for the backward pass.</param>
    /// <param name="temb">temb: <c>[B, D]</c>; kept by reference for the backward pass.</param>
    /// <param name="mask">Which keys each query may attend to.</param>
    /// <param name="rotary">The rotary frequencies.</param>
    /// <param name="training">Whether dropout is active.</param>
    /// <param name="random">The stream dropout draws from: first the attention's, then the feed-forward's.</param>
    /// <returns><c>[B, N, D]</c>, a buffer owned by the block.</returns>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public Tensor<T> Forward(Tensor<T> input, Tensor<T> temb, AttentionMask mask, RotaryEmbedding<T> rotary,
        bool training, RandomSource random, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(mask);
        ShapeCheck.RequireWidth(input, nameof(input), 3, Dim);
        int batch = input.Dim(0), frames = input.Dim(1);

        // 1. adaptive norm
        var a = AttnNorm.Forward(input, temb, threads);
        var e = AttnNorm.Modulation;

        // 2. attention
        _attention = Attn.Forward(a, mask, rotary, training, random, threads);

        // 3. h' = h + gate_msa·attn
        _hMid.EnsureShape(batch, frames, Dim);
        GatedResidual(input, _attention, e, AdaLayerNormZero<T>.GateMsa, _hMid);

        // 4. f = LN(h')·(1 + scale_mlp) + shift_mlp
        _f.EnsureShape(batch, frames, Dim);
        _meanMlp.EnsureShape(batch * frames);
        _rstdMlp.EnsureShape(batch * frames);
        for (int b = 0; b < batch; b++)
        {
            Span<T> scale = AttnNorm.Chunk(e, b, AdaLayerNormZero<T>.ScaleMlp);
            Span<T> shift = AttnNorm.Chunk(e, b, AdaLayerNormZero<T>.ShiftMlp);
            for (int n = 0; n < frames; n++)
            {
                int r = b * frames + n;
                (_meanMlp[r], _rstdMlp[r]) = Norms.LayerNormModulate<T>(_hMid.Row(r), scale, shift, _f.Row(r));
            }
        }

        // 5. feed-forward
        _feedForward = FF.Forward(_f, training, random, threads);

        // 6. out = h' + gate_mlp·ff
        _output.EnsureShape(batch, frames, Dim);
        GatedResidual(_hMid, _feedForward, e, AdaLayerNormZero<T>.GateMlp, _output);
        _input = input;
        return _output;
    }

    /// <summary>Back-propagates through the last forward pass.</summary>
    /// <param name="outputGradient">dOut: <c>[B, N, D]</c>.</param>
    /// <param name="inputGradient">dH: <c>[B, N, D]</c>, added into.</param>
    /// <param name="tembGradient">dTemb: <c>[B, D]</c>, added into.</param>
    /// <remarks>Adds into the gradients and the parameter gradients; the caller zeroes them.</remarks>
    /// <exception cref="ArgumentException">A shape does not match the last forward pass.</exception>
    public void Backward(Tensor<T> outputGradient, Tensor<T> inputGradient, Tensor<T> tembGradient, int threads = 0)
    {
        if (_input is null || _attention is null || _feedForward is null)
        {
            throw new InvalidOperationException("Backward was called before Forward.");
        }
        int batch = _input.Dim(0), frames = _input.Dim(1);
        ShapeCheck.Require(outputGradient, nameof(outputGradient), batch, frames, Dim);
        ShapeCheck.Require(inputGradient, nameof(inputGradient), batch, frames, Dim);
        ShapeCheck.Require(tembGradient, nameof(tembGradient), batch, Dim);
        var e = AttnNorm.Modulation;
        _dModulation.EnsureShape(batch, 6 * Dim);
        _dModulation.Clear();
        _dBranch.EnsureShape(batch, frames, Dim);
        _dBranchInput.EnsureShape(batch, frames, Dim);

        // 6. out = h' + gate_mlp·ff: dH' = dOut, dFF = gate_mlp·dOut
        GatedResidualBackward(outputGradient, _feedForward, e, AdaLayerNormZero<T>.GateMlp, _dBranch);
        _dHMid.EnsureShape(batch, frames, Dim);
        outputGradient.Span.CopyTo(_dHMid.Span);

        // 5. feed-forward
        _dBranchInput.Clear();
        FF.Backward(_dBranch, _dBranchInput, threads);

        // 4. modulated norm of h'
        for (int b = 0; b < batch; b++)
        {
            Span<T> scale = AttnNorm.Chunk(e, b, AdaLayerNormZero<T>.ScaleMlp);
            Span<T> dScale = AttnNorm.Chunk(_dModulation, b, AdaLayerNormZero<T>.ScaleMlp);
            Span<T> dShift = AttnNorm.Chunk(_dModulation, b, AdaLayerNormZero<T>.ShiftMlp);
            for (int n = 0; n < frames; n++)
            {
                int r = b * frames + n;
                Norms.LayerNormModulateBackward<T>(_hMid.Row(r), _meanMlp[r], _rstdMlp[r], scale, _dBranchInput.Row(r),
                    _dHMid.Row(r), dScale, dShift);
            }
        }

        // 3. h' = h + gate_msa·attn: dH += dH', dAttn = gate_msa·dH'
        GatedResidualBackward(_dHMid, _attention, e, AdaLayerNormZero<T>.GateMsa, _dBranch);
        TensorPrimitives.Add(inputGradient.Span, _dHMid.Span, inputGradient.Span);

        // 2. attention
        _dBranchInput.Clear();
        Attn.Backward(_dBranch, _dBranchInput, threads);

        // 1. adaptive norm, which also takes the gradients of the other chunks
        AttnNorm.Backward(_dBranchInput, _dModulation, inputGradient, tembGradient, threads);
    }

    // output = residual + gate·branch, with gate chunk `gate` of e per item
    private void GatedResidual(Tensor<T> residual, Tensor<T> branch, Tensor<T> e, int gate, Tensor<T> output)
    {
        int batch = residual.Dim(0), frames = residual.Dim(1);
        for (int b = 0; b < batch; b++)
        {
            Span<T> g = AttnNorm.Chunk(e, b, gate);
            for (int n = 0; n < frames; n++)
            {
                int r = b * frames + n;
                TensorPrimitives.MultiplyAdd(branch.Row(r), g, residual.Row(r), output.Row(r));
            }
        }
    }

    // dGate += Σ_n dOut·branch into the gate chunk of dModulation; dBranch = gate·dOut (overwritten)
    private void GatedResidualBackward(Tensor<T> outputGradient, Tensor<T> branch, Tensor<T> e, int gate, Tensor<T> branchGradient)
    {
        int batch = branch.Dim(0), frames = branch.Dim(1);
        for (int b = 0; b < batch; b++)
        {
            Span<T> g = AttnNorm.Chunk(e, b, gate);
            Span<T> dGate = AttnNorm.Chunk(_dModulation, b, gate);
            for (int n = 0; n < frames; n++)
            {
                int r = b * frames + n;
                TensorPrimitives.MultiplyAdd(outputGradient.Row(r), branch.Row(r), dGate, dGate);
                TensorPrimitives.Multiply(outputGradient.Row(r), g, branchGradient.Row(r));
            }
        }
    }
}
