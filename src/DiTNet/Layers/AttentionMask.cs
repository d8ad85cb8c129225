using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// Which keys each query may attend to, built once per forward pass from the padding mask and
/// the streaming chunk size.
/// </summary>
/// <remarks>
/// <para>Query i of item b may see key j when the frame j is real and, in streaming mode with chunk
/// size C &gt; 0, when <c>j &lt; (floor(i / C) + 1)·C</c>. A row that would see nothing is made to see
/// every key, as CosyVoice does. This happens only to rows whose whole visible range is padding.</para>
/// <para>The mask is stored per item as the key validity bits plus a few counts, not as a
/// <c>[B, N, N]</c> table, so that a row's allowed set is read in constant time through
/// <see cref="KeyLimit"/>, <see cref="KeysContiguous"/> and <see cref="KeyValid"/>.</para>
/// </remarks>
public sealed class AttentionMask
{
    // [B, N]: whether frame j of item b is real
    private readonly bool[] _keyValid;

    // [N]: every key allowed, the row given to rows that would otherwise see nothing
    private readonly bool[] _allKeys;

    // [B]: index of the first real frame (N when none), one past the last real frame (0 when none),
    // and the length of the leading run of real frames
    private readonly int[] _firstValid;
    private readonly int[] _lastValidEnd;
    private readonly int[] _validPrefix;

    private AttentionMask(int batch, int frames, int chunkSize)
    {
        Batch = batch;
        Frames = frames;
        ChunkSize = chunkSize;
        _keyValid = new bool[batch * frames];
        _allKeys = new bool[frames];
        Array.Fill(_allKeys, true);
        _firstValid = new int[batch];
        _lastValidEnd = new int[batch];
        _validPrefix = new int[batch];
    }

    /// <summary>Builds the mask.</summary>
    /// <param name="mask">1 for real frames, 0 for padding: <c>[B, 1, N]</c>. Any nonzero value counts as a real frame.</param>
    /// <param name="streaming">Whether each frame sees only its own chunk and the ones before it.</param>
    /// <param name="staticChunkSize">The chunk size; 0 makes streaming use the plain mask.</param>
    /// <exception cref="ArgumentException"><paramref name="mask"/> is not <c>[B, 1, N]</c>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="staticChunkSize"/> is negative.</exception>
    public static AttentionMask Build<T>(Tensor<T> mask, bool streaming, int staticChunkSize)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(mask);
        ArgumentOutOfRangeException.ThrowIfNegative(staticChunkSize);
        if (mask.Rank != 3 || mask.Dim(1) != 1)
        {
            throw new ArgumentException($"Expected the mask as [B, 1, N], got {mask.ShapeString}.", nameof(mask));
        }

        int batch = mask.Dim(0), frames = mask.Dim(2);
        var result = new AttentionMask(batch, frames, streaming ? staticChunkSize : 0);
        ReadOnlySpan<T> values = mask.Span;
        for (int b = 0; b < batch; b++)
        {
            Span<bool> valid = result._keyValid.AsSpan(b * frames, frames);
            int first = frames, lastEnd = 0, prefix = 0;
            bool inPrefix = true;
            for (int j = 0; j < frames; j++)
            {
                valid[j] = values[b * frames + j] != T.Zero;
                if (valid[j])
                {
                    first = Math.Min(first, j);
                    lastEnd = j + 1;
                }
                inPrefix &= valid[j];
                if (inPrefix)
                {
                    prefix = j + 1;
                }
            }
            result._firstValid[b] = first;
            result._lastValidEnd[b] = lastEnd;
            result._validPrefix[b] = prefix;
        }
        return result;
    }

    /// <summary>B, the batch size.</summary>
    public int Batch { get; private init; }

    /// <summary>N, the frame count.</summary>
    public int Frames { get; private init; }

    /// <summary>The streaming chunk size C, or 0 when every query may see every real frame.</summary>
    public int ChunkSize { get; }

    /// <summary>Whether query <paramref name="i"/> of item <paramref name="b"/> may see key <paramref name="j"/>.</summary>
    public bool Allowed(int b, int i, int j)
    {
        CheckIndices(b, i);
        if ((uint)j >= (uint)Frames)
        {
            throw new ArgumentOutOfRangeException(nameof(j), j, $"The key index must be in [0, {Frames}).");
        }
        return RowSeesAll(b, i) || (j < ChunkEnd(i) && _keyValid[b * Frames + j]);
    }

    /// <summary>Whether the attention output row <paramref name="i"/> of item <paramref name="b"/> is kept (padding rows are zeroed).</summary>
    /// <remarks>
    /// Equal to <c>Allowed(b, N - 1, i)</c>: true for real frames, false for padding, and true for every
    /// frame of an item that is all padding, because its rows were made to see every key.
    /// </remarks>
    public bool QueryValid(int b, int i)
    {
        CheckIndices(b, i);
        return !HasRealFrames(b) || _keyValid[b * Frames + i];
    }

    /// <summary>Whether item <paramref name="b"/> has at least one real frame.</summary>
    public bool HasRealFrames(int b) => _firstValid[b] < Frames;

    /// <summary>
    /// Whether row <paramref name="i"/> of item <paramref name="b"/> was made to see every key because
    /// its chunk range contains no real frame.
    /// </summary>
    public bool RowSeesAll(int b, int i) => _firstValid[b] >= ChunkEnd(i);

    /// <summary>
    /// The end of the allowed keys of row <paramref name="i"/> of item <paramref name="b"/>: every key
    /// <c>j ≥ KeyLimit</c> is disallowed, and the row has at least one allowed key below it.
    /// </summary>
    public int KeyLimit(int b, int i) =>
        RowSeesAll(b, i) ? Frames : Math.Min(ChunkEnd(i), _lastValidEnd[b]);

    /// <summary>Whether every key below <see cref="KeyLimit"/> is allowed for row <paramref name="i"/> of item <paramref name="b"/>.</summary>
    /// <remarks>True for every row when padding sits only at the end of each item.</remarks>
    public bool KeysContiguous(int b, int i) => RowSeesAll(b, i) || KeyLimit(b, i) <= _validPrefix[b];

    /// <summary>
    /// The allowed keys of row <paramref name="i"/> of item <paramref name="b"/> below its
    /// <see cref="KeyLimit"/>, one flag per key.
    /// </summary>
    public ReadOnlySpan<bool> KeyValid(int b, int i)
    {
        int limit = KeyLimit(b, i);
        return RowSeesAll(b, i) ? _allKeys.AsSpan(0, limit) : _keyValid.AsSpan(b * Frames, limit);
    }

    /// <summary>
    /// One past the last query row of item <paramref name="b"/> that <see cref="QueryValid"/> keeps: the end
    /// of the last real frame, or N for an item that is all padding. Every row from here on is zeroed.
    /// </summary>
    public int QueryLimit(int b) => HasRealFrames(b) ? _lastValidEnd[b] : Frames;

    /// <summary>Whether frame <paramref name="j"/> of item <paramref name="b"/> is a real frame (mask nonzero).</summary>
    public bool FrameValid(int b, int j) => _keyValid[b * Frames + j];

    // one past the last key the chunk rule lets query i see
    private int ChunkEnd(int i) => ChunkSize == 0 ? Frames : (int)Math.Min(Frames, ((long)(i / ChunkSize) + 1) * ChunkSize);

    private void CheckIndices(int b, int i)
    {
        if ((uint)b >= (uint)Batch)
        {
            throw new ArgumentOutOfRangeException(nameof(b), b, $"The item index must be in [0, {Batch}).");
        }
        if ((uint)i >= (uint)Frames)
        {
            throw new ArgumentOutOfRangeException(nameof(i), i, $"The query index must be in [0, {Frames}).");
        }
    }
}
