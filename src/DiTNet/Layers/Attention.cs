using System.Numerics;
using DiTNet.Kernels;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// Multi-head self-attention with rotary positions on the first head, the padding and streaming
/// masks, dropout after the output projection and zeroed padding rows.
/// </summary>
/// <remarks>
/// <para>Disallowed keys are skipped rather than weighted by <c>exp(−∞) = 0</c>, and the q, k and v
/// rows of padding frames are zeroed before the products (in items that have real frames), so a
/// non-finite value in a padding frame cannot reach a real frame's output. Only rows that end up
/// zeroed ever read those frames, so on finite inputs the result equals CosyVoice's.</para>
/// <para>Each item's queries are processed in blocks of rows that share a key range, so that in
/// streaming mode the products skip the keys no row of the block may see. Query rows after an
/// item's last real frame are skipped altogether, because their output is zeroed.</para>
/// </remarks>
public sealed class Attention<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // Query rows per block when rows differ in their key ranges (streaming): small enough that the
    // block's widest range wastes little on its first rows, large enough for efficient products.
    private const int RowsPerBlock = 64;

    // saved by Forward for Backward
    private Tensor<T>? _q;                              // [B, N, H·Dh]: rotated, padding frames zeroed (ToQ's output buffer)
    private Tensor<T>? _k;                              // [B, N, H·Dh]: likewise (ToK's output buffer)
    private Tensor<T>? _v;                              // [B, N, H·Dh]: padding frames zeroed (ToV's output buffer)
    private readonly Tensor<T> _probabilities = new(0); // [B, H, N, N]: P; entries at or beyond a row block's key limit are undefined
    private readonly Tensor<T> _heads = new(0);         // [B, N, H·Dh]: head outputs concatenated, the input of ToOut
    private AttentionMask? _mask;
    private RotaryEmbedding<T>? _rotary;
    private int _batch, _frames;
    private bool _probabilitiesSaved;

    // row blocks of the last forward pass: item b owns _blocks[_itemBlocks[b] .. _itemBlocks[b + 1])
    private RowBlock[] _blocks = [];
    private int[] _itemBlocks = [];

    // gradients, reused across calls
    private readonly Tensor<T> _outputGradient = new(0); // [B, N, D]
    private readonly Tensor<T> _headsGradient = new(0);  // [B, N, H·Dh]
    private readonly Tensor<T> _dq = new(0);             // [B, N, H·Dh]
    private readonly Tensor<T> _dk = new(0);             // [B, N, H·Dh]
    private readonly Tensor<T> _dv = new(0);             // [B, N, H·Dh]

    // per worker, [N, N] each: dP and dS in the backward pass; P when it is not saved
    private Tensor<T>[] _scratch = [];
    private Tensor<T>[] _probabilityScratch = [];
    private readonly HeadWork _headWork;

    /// <summary>Creates the layer; parameters are named <c>{name}.to_q.weight</c> and so on.</summary>
    public Attention(string name, int dim, int heads, int dimHead, double dropout)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimHead);
        ToQ = new Linear<T>(name + ".to_q", dim, heads * dimHead);
        ToK = new Linear<T>(name + ".to_k", dim, heads * dimHead);
        ToV = new Linear<T>(name + ".to_v", dim, heads * dimHead);
        ToOut = new Linear<T>(name + ".to_out.0", heads * dimHead, dim);
        Heads = heads;
        DimHead = dimHead;
        Dropout = new Dropout<T>(dropout);
        _headWork = new HeadWork(this);
    }

    /// <summary>H, the number of heads.</summary>
    public int Heads { get; }

    /// <summary>Dh, the width of one head.</summary>
    public int DimHead { get; }

    /// <summary>The query projection, <c>Linear(D, H·Dh)</c>.</summary>
    public Linear<T> ToQ { get; }

    /// <summary>The key projection, <c>Linear(D, H·Dh)</c>.</summary>
    public Linear<T> ToK { get; }

    /// <summary>The value projection, <c>Linear(D, H·Dh)</c>.</summary>
    public Linear<T> ToV { get; }

    /// <summary>The output projection, <c>Linear(H·Dh, D)</c>.</summary>
    public Linear<T> ToOut { get; }

    /// <summary>The dropout after the output projection.</summary>
    public Dropout<T> Dropout { get; }

    /// <summary>
    /// Whether a training pass keeps the attention probabilities of every item and head for
    /// <see cref="Backward"/>, rather than Backward recomputing them; true by default.
    /// </summary>
    /// <remarks>
    /// The probabilities take <c>B·H·N²</c> elements per layer (128 MB in float32 for B = 2, H = 16,
    /// N = 1000), and every layer keeps its own. Passes with <c>training</c> false never keep them,
    /// so sampling needs only one <c>[N, N]</c> block per worker thread. When they are not kept,
    /// Backward recomputes the scores and softmax (about a quarter more work in the attention
    /// products) with the same operations, so the gradients are bitwise the same. Set this to false
    /// for training when memory is short.
    /// </remarks>
    public bool SaveForBackward { get; set; } = true;

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters =>
        ToQ.Parameters.Concat(ToK.Parameters).Concat(ToV.Parameters).Concat(ToOut.Parameters);

    /// <summary>Attends over the frames of each item.</summary>
    /// <param name="input">a: <c>[B, N, D]</c>; kept by reference for the backward pass, so it must not change until then.</param>
    /// <param name="mask">The allowed keys, built for B items of N frames.</param>
    /// <param name="rotary">The rotary embedding, with heads of width Dh.</param>
    /// <param name="training">Whether dropout is active.</param>
    /// <param name="random">The stream dropout draws from, one draw per output element when active.</param>
    /// <param name="threads">Threads for the products; 0 or less uses <see cref="Gemm.DefaultThreads"/>.</param>
    /// <returns><c>[B, N, D]</c>, a buffer owned by the layer.</returns>
    /// <exception cref="ArgumentException">
    /// <paramref name="input"/> is not <c>[B, N, D]</c>, <paramref name="mask"/> was built for another
    /// batch or frame count, or <paramref name="rotary"/> has another head width.
    /// </exception>
    public Tensor<T> Forward(Tensor<T> input, AttentionMask mask, RotaryEmbedding<T> rotary, bool training, RandomSource random, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(mask);
        ArgumentNullException.ThrowIfNull(rotary);
        ArgumentNullException.ThrowIfNull(random);
        CheckForwardArguments(input, mask, rotary);
        int batch = input.Dim(0), frames = input.Dim(1), inner = Heads * DimHead;

        // 1. project: q, k, v [B, N, H·Dh]
        Tensor<T> q = ToQ.Forward(input, threads);
        Tensor<T> k = ToK.Forward(input, threads);
        Tensor<T> v = ToV.Forward(input, threads);

        // 2. rotate channels 0..Dh-1 of q and k, the first head only
        rotary.Forward(q);
        rotary.Forward(k);

        // 3. zero the padding frames of q, k and v
        ZeroPaddingFrames(q, mask);
        ZeroPaddingFrames(k, mask);
        ZeroPaddingFrames(v, mask);

        // 4. per item and head: scores, softmax over the allowed keys, weighted sum of values
        _q = q;
        _k = k;
        _v = v;
        _mask = mask;
        _rotary = rotary;
        _batch = batch;
        _frames = frames;
        _probabilitiesSaved = SaveForBackward && training;
        PlanRowBlocks(mask);
        EnsureShape(_heads, batch, frames, inner);
        if (_probabilitiesSaved)
        {
            EnsureShape(_probabilities, batch, Heads, frames, frames);
        }
        int workers = WorkerCount(threads);
        EnsureScratch(ref _probabilityScratch, _probabilitiesSaved ? 0 : workers, frames);
        RunHeads(workers, backward: false);

        // 5. output projection and dropout
        Tensor<T> output = ToOut.Forward(_heads, threads);
        Dropout.Forward(output.Span, training, random);

        // 6. zero the rows of padding queries
        ZeroInvalidQueryRows(output, mask);
        return output;
    }

    /// <summary>Back-propagates through the last forward pass.</summary>
    /// <param name="outputGradient">dOut: <c>[B, N, D]</c>.</param>
    /// <param name="inputGradient">dA: <c>[B, N, D]</c>, added into.</param>
    /// <param name="threads">Threads for the products; 0 or less uses <see cref="Gemm.DefaultThreads"/>.</param>
    /// <remarks>
    /// Adds into <paramref name="inputGradient"/> and the gradients of the four projections; the caller
    /// zeroes them. NOTE: only the forward output is shielded from non-finite values in padding frames.
    /// A NaN in a padding row of the input still reaches the projection weight gradients, because
    /// <c>dW += dYᵀ·a</c> multiplies that row by zero.
    /// </remarks>
    /// <exception cref="InvalidOperationException">No forward pass ran.</exception>
    /// <exception cref="ArgumentException">A gradient is not shaped like the last input.</exception>
    public void Backward(Tensor<T> outputGradient, Tensor<T> inputGradient, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(outputGradient);
        ArgumentNullException.ThrowIfNull(inputGradient);
        if (_mask is null || _rotary is null || _q is null || _k is null || _v is null)
        {
            throw new InvalidOperationException("Backward was called before Forward.");
        }
        int dim = ToOut.OutFeatures, inner = Heads * DimHead;
        CheckGradientShape(outputGradient, dim, nameof(outputGradient));
        CheckGradientShape(inputGradient, dim, nameof(inputGradient));

        // 6 undone: padding query rows were overwritten, so they pass no gradient
        EnsureShape(_outputGradient, _batch, _frames, dim);
        outputGradient.Span.CopyTo(_outputGradient.Span);
        ZeroInvalidQueryRows(_outputGradient, _mask);

        // 5 undone: dropout, then the output projection
        Dropout.Backward(_outputGradient.Span);
        EnsureShape(_headsGradient, _batch, _frames, inner);
        _headsGradient.Clear();
        ToOut.Backward(_outputGradient, _headsGradient, threads);

        // 4 undone: per item and head. The blocks overwrite their rows of dq, and step 3 clears the
        // skipped padding rows. dk and dv accumulate over the blocks, so they start from zero.
        EnsureShape(_dq, _batch, _frames, inner);
        EnsureShape(_dk, _batch, _frames, inner);
        EnsureShape(_dv, _batch, _frames, inner);
        _dk.Clear();
        _dv.Clear();
        int workers = WorkerCount(threads);
        EnsureScratch(ref _scratch, workers, _frames);
        EnsureScratch(ref _probabilityScratch, _probabilitiesSaved ? 0 : workers, _frames);
        RunHeads(workers, backward: true);

        // 3 undone: zeroed padding frames pass no gradient
        ZeroPaddingFrames(_dq, _mask);
        ZeroPaddingFrames(_dk, _mask);
        ZeroPaddingFrames(_dv, _mask);

        // 2 undone: rotate back by the negated angles
        _rotary.Backward(_dq);
        _rotary.Backward(_dk);

        // 1 undone: the three projections add into dA
        ToQ.Backward(_dq, inputGradient, threads);
        ToK.Backward(_dk, inputGradient, threads);
        ToV.Backward(_dv, inputGradient, threads);
    }

    // Runs ForwardHead or BackwardHead for every (item, head) pair on the kernels' persistent worker
    // threads, split statically so that each worker owns one scratch buffer.
    private void RunHeads(int workers, bool backward)
    {
        _headWork.Workers = workers;
        _headWork.Tasks = _frames == 0 ? 0 : _batch * Heads;
        _headWork.Backward = backward;
        WorkerPool.Shared.Run(_headWork, workers);
    }

    // Head g of item b: P = softmax(q·kᵀ/√Dh) over the allowed keys, then o = P·v, block by block.
    private void ForwardHead(int b, int g, int worker)
    {
        int frames = _frames, inner = Heads * DimHead, dimHead = DimHead;

        // head g of item b is the strided matrix [N, Dh] at offset g·Dh with row stride H·Dh
        int headOffset = b * frames * inner + g * dimHead;
        ReadOnlySpan<T> v = _v!.Span[headOffset..];
        Span<T> heads = _heads.Span[headOffset..];
        Span<T> p = ProbabilitiesOf(b, g, worker);

        for (int block = _itemBlocks[b]; block < _itemBlocks[b + 1]; block++)
        {
            (int start, int end, int limit) = _blocks[block];
            ComputeProbabilities(b, g, _blocks[block], p);

            // o = P·v
            Gemm.Compute(Transpose.No, Transpose.No, end - start, dimHead, limit,
                p[(start * frames)..], frames, v, inner, heads[(start * inner)..], inner, accumulate: false, threads: 1);
        }

        // skipped padding queries: a zero output row, so that ToOut's weight gradient adds exact zeros
        for (int i = _mask!.QueryLimit(b); i < frames; i++)
        {
            heads.Slice(i * inner, dimHead).Clear();
        }
    }

    // P of head g of item b, [N, N] with row stride N: the saved tensor's block, or the worker's scratch.
    private Span<T> ProbabilitiesOf(int b, int g, int worker) => _probabilitiesSaved
        ? _probabilities.Span.Slice((b * Heads + g) * _frames * _frames, _frames * _frames)
        : _probabilityScratch[worker].Span[..(_frames * _frames)];

    // Computes rows [start, end) of P for head g of item b: the scores q·kᵀ over the block's key range,
    // then each row's softmax over its allowed keys with scale 1/√Dh. Keys past a row's own limit get zero.
    private void ComputeProbabilities(int b, int g, RowBlock block, Span<T> p)
    {
        int frames = _frames, inner = Heads * DimHead, dimHead = DimHead;
        (int start, int end, int limit) = block;
        T scale = Scale;
        AttentionMask mask = _mask!;
        int headOffset = b * frames * inner + g * dimHead;
        ReadOnlySpan<T> q = _q!.Span[headOffset..];
        ReadOnlySpan<T> k = _k!.Span[headOffset..];

        Gemm.Compute(Transpose.No, Transpose.Yes, end - start, limit, dimHead,
            q[(start * inner)..], inner, k, inner, p[(start * frames)..], frames, accumulate: false, threads: 1);

        for (int i = start; i < end; i++)
        {
            Span<T> row = p.Slice(i * frames, limit);
            int rowLimit = mask.KeyLimit(b, i);
            if (mask.KeysContiguous(b, i))
            {
                Softmax.Forward(row[..rowLimit], scale);
            }
            else
            {
                Softmax.ForwardMasked(row[..rowLimit], mask.KeyValid(b, i), scale);
            }
            row[rowLimit..].Clear();
        }
    }

    // Undoes ForwardHead: dv += Pᵀ·do, dP = do·vᵀ, dS through the softmax, dq = dS·k, dk += dSᵀ·q.
    private void BackwardHead(int b, int g, int worker)
    {
        int frames = _frames, inner = Heads * DimHead, dimHead = DimHead;
        T scale = Scale;
        AttentionMask mask = _mask!;

        int headOffset = b * frames * inner + g * dimHead;
        ReadOnlySpan<T> q = _q!.Span[headOffset..];
        ReadOnlySpan<T> k = _k!.Span[headOffset..];
        ReadOnlySpan<T> v = _v!.Span[headOffset..];
        ReadOnlySpan<T> dHeads = _headsGradient.Span[headOffset..];
        Span<T> dq = _dq.Span[headOffset..];
        Span<T> dk = _dk.Span[headOffset..];
        Span<T> dv = _dv.Span[headOffset..];
        Span<T> p = ProbabilitiesOf(b, g, worker);
        Span<T> scratch = _scratch[worker].Span;

        for (int block = _itemBlocks[b]; block < _itemBlocks[b + 1]; block++)
        {
            (int start, int end, int limit) = _blocks[block];
            int rows = end - start;
            if (!_probabilitiesSaved)
            {
                ComputeProbabilities(b, g, _blocks[block], p);
            }
            ReadOnlySpan<T> pBlock = p[(start * frames)..];
            ReadOnlySpan<T> dHeadsBlock = dHeads[(start * inner)..];

            // dv[0, limit) += Pᵀ·do
            Gemm.Compute(Transpose.Yes, Transpose.No, limit, dimHead, rows,
                pBlock, frames, dHeadsBlock, inner, dv, inner, accumulate: true, threads: 1);

            // dP = do·vᵀ: [rows, limit], row stride limit
            Span<T> dScores = scratch[..(rows * limit)];
            Gemm.Compute(Transpose.No, Transpose.Yes, rows, limit, dimHead,
                dHeadsBlock, inner, v, inner, dScores, limit, accumulate: false, threads: 1);

            // dS = P ∘ (dP − rowsum(dP ∘ P)) / √Dh over the allowed keys; zero elsewhere
            for (int i = start; i < end; i++)
            {
                Span<T> row = dScores.Slice((i - start) * limit, limit);
                int rowLimit = mask.KeyLimit(b, i);
                ReadOnlySpan<T> pRow = p.Slice(i * frames, rowLimit);
                if (mask.KeysContiguous(b, i))
                {
                    Softmax.Backward(pRow, row[..rowLimit], scale);
                }
                else
                {
                    Softmax.BackwardMasked(pRow, mask.KeyValid(b, i), row[..rowLimit], scale);
                }
                row[rowLimit..].Clear();
            }

            // dq = dS·k for the block's rows
            Gemm.Compute(Transpose.No, Transpose.No, rows, dimHead, limit,
                dScores, limit, k, inner, dq[(start * inner)..], inner, accumulate: false, threads: 1);

            // dk[0, limit) += dSᵀ·q
            Gemm.Compute(Transpose.Yes, Transpose.No, limit, dimHead, rows,
                dScores, limit, q[(start * inner)..], inner, dk, inner, accumulate: true, threads: 1);
        }
    }

    // 1/√Dh, the attention temperature
    private T Scale => T.One / T.Sqrt(T.CreateTruncating(DimHead));

    // Groups each item's query rows up to its QueryLimit into blocks: RowsPerBlock rows each, merged with
    // the previous block when their key limits agree (so without streaming an item is one block).
    private void PlanRowBlocks(AttentionMask mask)
    {
        int batch = mask.Batch, frames = mask.Frames;
        int maxBlocks = batch * ((frames + RowsPerBlock - 1) / RowsPerBlock);
        if (_blocks.Length < maxBlocks)
        {
            _blocks = new RowBlock[maxBlocks];
        }
        if (_itemBlocks.Length < batch + 1)
        {
            _itemBlocks = new int[batch + 1];
        }

        int count = 0;
        for (int b = 0; b < batch; b++)
        {
            _itemBlocks[b] = count;
            int queryLimit = mask.QueryLimit(b);
            for (int start = 0; start < queryLimit; start += RowsPerBlock)
            {
                int end = Math.Min(start + RowsPerBlock, queryLimit), limit = 0;
                for (int i = start; i < end; i++)
                {
                    limit = Math.Max(limit, mask.KeyLimit(b, i));
                }
                if (count > _itemBlocks[b] && _blocks[count - 1].Limit == limit)
                {
                    _blocks[count - 1] = _blocks[count - 1] with { End = end };
                }
                else
                {
                    _blocks[count++] = new RowBlock(start, end, limit);
                }
            }
        }
        _itemBlocks[batch] = count;
    }

    // Zeroes the padding frames of every item that has real frames. An item that is all padding keeps
    // its values, because CosyVoice lets its frames attend to each other.
    private static void ZeroPaddingFrames(Tensor<T> x, AttentionMask mask)
    {
        int frames = mask.Frames;
        for (int b = 0; b < mask.Batch; b++)
        {
            if (!mask.HasRealFrames(b))
            {
                continue;
            }
            for (int j = 0; j < frames; j++)
            {
                if (!mask.FrameValid(b, j))
                {
                    x.Row(b * frames + j).Clear();
                }
            }
        }
    }

    private static void ZeroInvalidQueryRows(Tensor<T> x, AttentionMask mask)
    {
        int frames = mask.Frames;
        for (int b = 0; b < mask.Batch; b++)
        {
            for (int i = 0; i < frames; i++)
            {
                if (!mask.QueryValid(b, i))
                {
                    x.Row(b * frames + i).Clear();
                }
            }
        }
    }

    private int WorkerCount(int threads)
    {
        int requested = threads <= 0 ? Gemm.DefaultThreads : threads;
        return Math.Max(1, Math.Min(requested, _batch * Heads));
    }

    private static void EnsureScratch(ref Tensor<T>[] scratch, int workers, int frames)
    {
        if (scratch.Length < workers)
        {
            Array.Resize(ref scratch, workers);
        }
        for (int w = 0; w < workers; w++)
        {
            scratch[w] ??= new Tensor<T>(0);
            EnsureShape(scratch[w], frames, frames);
        }
    }

    // Reshapes only when the shape differs, so a steady loop allocates no shape arrays.
    private static void EnsureShape(Tensor<T> tensor, params ReadOnlySpan<int> shape)
    {
        if (!tensor.HasShape(shape))
        {
            tensor.Reshape(shape.ToArray());
        }
    }

    private void CheckForwardArguments(Tensor<T> input, AttentionMask mask, RotaryEmbedding<T> rotary)
    {
        int dim = ToQ.InFeatures;
        if (input.Rank != 3 || input.Dim(2) != dim)
        {
            throw new ArgumentException($"Expected the input as [B, N, {dim}], got {input.ShapeString}.", nameof(input));
        }
        if (mask.Batch != input.Dim(0) || mask.Frames != input.Dim(1))
        {
            throw new ArgumentException(
                $"The mask was built for {mask.Batch} items of {mask.Frames} frames but the input is {input.ShapeString}.", nameof(mask));
        }
        if (rotary.DimHead != DimHead)
        {
            throw new ArgumentException(
                $"The rotary embedding has head width {rotary.DimHead} but the attention has {DimHead}.", nameof(rotary));
        }
    }

    private void CheckGradientShape(Tensor<T> gradient, int dim, string name)
    {
        if (!gradient.HasShape(_batch, _frames, dim))
        {
            throw new ArgumentException(
                $"Expected {name} as [{_batch}, {_frames}, {dim}], the shape of the last input, got {gradient.ShapeString}.", name);
        }
    }

    // query rows [Start, End) of one item, which attend to keys [0, Limit) at most
    private readonly record struct RowBlock(int Start, int End, int Limit);

    // The (item, head) tasks of one pass: part w takes tasks w, w + Workers, w + 2·Workers, ...
    private sealed class HeadWork(Attention<T> layer) : IParallelWork
    {
        public int Workers;
        public int Tasks;
        public bool Backward;

        public void Execute(int part)
        {
            for (int task = part; task < Tasks; task += Workers)
            {
                int b = task / layer.Heads, g = task % layer.Heads;
                if (Backward)
                {
                    layer.BackwardHead(b, g, part);
                }
                else
                {
                    layer.ForwardHead(b, g, part);
                }
            }
        }
    }
}
