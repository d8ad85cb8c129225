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

    // The elementwise passes run on row or column ranges among the kernel threads. Their delegates are
    // made once, so that a pass allocates nothing, and they read their tensors from these fields.
    private readonly Action<int, int> _residualNormRows;
    private readonly Action<int, int> _outputRows;
    private readonly Action<int, int> _outputGradientColumns;
    private readonly Action<int, int> _normGradientRows;
    private readonly Action<int, int> _normGradientColumns;
    private Tensor<T>? _passGradient;
    private Tensor<T>? _passInputGradient;
    private int _passFrames;

    /// <summary>Creates block <paramref name="index"/>; parameters are named <c>transformer_blocks.{index}.*</c>.</summary>
    public DiTBlock(int index, int dim, int heads, int dimHead, int ffDim, double dropout)
    {
        string name = FormattableString.Invariant($"transformer_blocks.{index}");
        Dim = dim;
        AttnNorm = new AdaLayerNormZero<T>(name + ".attn_norm", dim);
        Attn = new Attention<T>(name + ".attn", dim, heads, dimHead, dropout);
        FF = new FeedForward<T>(name + ".ff", dim, ffDim, dropout);
        _residualNormRows = ResidualNormRows;
        _outputRows = OutputRows;
        _outputGradientColumns = OutputGradientColumns;
        _normGradientRows = NormGradientRows;
        _normGradientColumns = NormGradientColumns;
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

        // 2. attention
        _attention = Attn.Forward(a, mask, rotary, training, random, threads);

        // 3-4. h' = h + gate_msa·attn, then f = LN(h')·(1 + scale_mlp) + shift_mlp, one pass per row
        _hMid.EnsureShape(batch, frames, Dim);
        _f.EnsureShape(batch, frames, Dim);
        _meanMlp.EnsureShape(batch * frames);
        _rstdMlp.EnsureShape(batch * frames);
        _input = input;
        _passFrames = frames;
        ParallelRanges.Run(batch * frames, 4L * Dim, threads, _residualNormRows);

        // 5. feed-forward
        _feedForward = FF.Forward(_f, training, random, threads);

        // 6. out = h' + gate_mlp·ff
        _output.EnsureShape(batch, frames, Dim);
        ParallelRanges.Run(batch * frames, Dim, threads, _outputRows);
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
        _dModulation.EnsureShape(batch, 6 * Dim);
        _dModulation.Clear();
        _dBranch.EnsureShape(batch, frames, Dim);
        _dBranchInput.EnsureShape(batch, frames, Dim);

        // 6. out = h' + gate_mlp·ff: dGate_mlp = Σ_n dOut·ff and dFF = gate_mlp·dOut; dH' = dOut joins in step 4.
        // Column ranges, so that each gate gradient sums its rows in order on one thread.
        _passGradient = outputGradient;
        _passFrames = frames;
        ParallelRanges.Run(ColumnBlocks, 2L * batch * frames * ColumnBlock, threads, _outputGradientColumns);

        // 5. feed-forward
        _dBranchInput.Clear();
        FF.Backward(_dBranch, _dBranchInput, threads);

        // 4-3. per row: dH' = dOut + the norm's input gradient, dAttn = gate_msa·dH', dH += dH'
        _dHMid.EnsureShape(batch, frames, Dim);
        _passInputGradient = inputGradient;
        ParallelRanges.Run(batch * frames, 6L * Dim, threads, _normGradientRows);

        // 4-3. per column: dScale_mlp, dShift_mlp and dGate_msa = Σ_n dH'·attn
        ParallelRanges.Run(ColumnBlocks, 3L * batch * frames * ColumnBlock, threads, _normGradientColumns);
        _passGradient = null;
        _passInputGradient = null;

        // 2. attention
        _dBranchInput.Clear();
        Attn.Backward(_dBranch, _dBranchInput, threads);

        // 1. adaptive norm, which also takes the gradients of the other chunks
        AttnNorm.Backward(_dBranchInput, _dModulation, inputGradient, tembGradient, threads);
    }

    // Columns per block of the column passes: one float vector.
    private const int ColumnBlock = 16;

    private int ColumnBlocks => (Dim + ColumnBlock - 1) / ColumnBlock;

    // Rows [start, end): h' = h + gate_msa·attn and f = LN(h')·(1 + scale_mlp) + shift_mlp.
    private void ResidualNormRows(int start, int end)
    {
        var e = AttnNorm.Modulation;
        for (int r = start; r < end; r++)
        {
            int b = r / _passFrames;
            Span<T> hMid = _hMid.Row(r);
            TensorPrimitives.MultiplyAdd(_attention!.Row(r), AttnNorm.Chunk(e, b, AdaLayerNormZero<T>.GateMsa), _input!.Row(r), hMid);
            (_meanMlp[r], _rstdMlp[r]) = Norms.LayerNormModulate<T>(hMid,
                AttnNorm.Chunk(e, b, AdaLayerNormZero<T>.ScaleMlp), AttnNorm.Chunk(e, b, AdaLayerNormZero<T>.ShiftMlp), _f.Row(r));
        }
    }

    // Rows [start, end): out = h' + gate_mlp·ff.
    private void OutputRows(int start, int end)
    {
        var e = AttnNorm.Modulation;
        for (int r = start; r < end; r++)
        {
            TensorPrimitives.MultiplyAdd(_feedForward!.Row(r), AttnNorm.Chunk(e, r / _passFrames, AdaLayerNormZero<T>.GateMlp),
                _hMid.Row(r), _output.Row(r));
        }
    }

    // Column blocks [start, end), rows in order: dGate_mlp += dOut·ff and dFF = gate_mlp·dOut.
    private void OutputGradientColumns(int start, int end)
    {
        var e = AttnNorm.Modulation;
        int first = start * ColumnBlock, width = Math.Min(end * ColumnBlock, Dim) - first;
        for (int r = 0; r < _dBranch.Dim(0) * _passFrames; r++)
        {
            int b = r / _passFrames;
            ReadOnlySpan<T> dOut = _passGradient!.Row(r).Slice(first, width);
            Span<T> dGate = AttnNorm.Chunk(_dModulation, b, AdaLayerNormZero<T>.GateMlp).Slice(first, width);
            TensorPrimitives.MultiplyAdd(dOut, _feedForward!.Row(r).Slice(first, width), dGate, dGate);
            TensorPrimitives.Multiply(dOut, AttnNorm.Chunk(e, b, AdaLayerNormZero<T>.GateMlp).Slice(first, width), _dBranch.Row(r).Slice(first, width));
        }
    }

    // Rows [start, end): dH' = dOut + the norm's input gradient from dF, dAttn = gate_msa·dH', dH += dH'.
    private void NormGradientRows(int start, int end)
    {
        var e = AttnNorm.Modulation;
        for (int r = start; r < end; r++)
        {
            int b = r / _passFrames;
            Span<T> dHMid = _dHMid.Row(r);
            _passGradient!.Row(r).CopyTo(dHMid);
            Norms.LayerNormModulateBackward<T>(_hMid.Row(r), _meanMlp[r], _rstdMlp[r], AttnNorm.Chunk(e, b, AdaLayerNormZero<T>.ScaleMlp),
                _dBranchInput.Row(r), dHMid, [], []);
            TensorPrimitives.Multiply(dHMid, AttnNorm.Chunk(e, b, AdaLayerNormZero<T>.GateMsa), _dBranch.Row(r));
            Span<T> dInput = _passInputGradient!.Row(r);
            TensorPrimitives.Add(dInput, dHMid, dInput);
        }
    }

    // Column blocks [start, end), rows in order: dScale_mlp and dShift_mlp from dF, dGate_msa += dH'·attn.
    private void NormGradientColumns(int start, int end)
    {
        int first = start * ColumnBlock, width = Math.Min(end * ColumnBlock, Dim) - first;
        for (int r = 0; r < _dBranch.Dim(0) * _passFrames; r++)
        {
            int b = r / _passFrames;
            Norms.ModulationGradients<T>(_hMid.Row(r).Slice(first, width), _meanMlp[r], _rstdMlp[r], _dBranchInput.Row(r).Slice(first, width),
                AttnNorm.Chunk(_dModulation, b, AdaLayerNormZero<T>.ScaleMlp).Slice(first, width),
                AttnNorm.Chunk(_dModulation, b, AdaLayerNormZero<T>.ShiftMlp).Slice(first, width));
            Span<T> dGate = AttnNorm.Chunk(_dModulation, b, AdaLayerNormZero<T>.GateMsa).Slice(first, width);
            TensorPrimitives.MultiplyAdd(_dHMid.Row(r).Slice(first, width), _attention!.Row(r).Slice(first, width), dGate, dGate);
        }
    }
}
