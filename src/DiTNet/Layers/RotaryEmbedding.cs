using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// Rotary position embedding with interleaved pairs, applied to the first head's channels only.
/// Owns the buffer <c>rotary_embed.inv_freq</c> <c>[Dh/2]</c>.
/// </summary>
/// <remarks>
/// Channel pair <c>(2j, 2j+1)</c> of frame p is rotated by <c>θ = p·inv_freq[j]</c>:
/// <c>out[2j] = x[2j]·cos θ − x[2j+1]·sin θ</c>, <c>out[2j+1] = x[2j+1]·cos θ + x[2j]·sin θ</c>.
/// CosyVoice applies this to channels <c>0..Dh-1</c> of the whole <c>H·Dh</c> projection before
/// splitting heads, so only the first head carries positions; checkpoints were trained that way.
/// </remarks>
public sealed class RotaryEmbedding<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // [N, Dh/2]: cos θ and sin θ per frame and pair, rebuilt when N or inv_freq changes
    private readonly Tensor<T> _cos = new(0);
    private readonly Tensor<T> _sin = new(0);

    // [Dh/2]: the inv_freq values the table was built from
    private readonly T[] _tableInvFreq;
    private int _tableFrames = -1;

    /// <summary>Creates the embedding for heads of width <paramref name="dimHead"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dimHead"/> is not a positive even number.</exception>
    public RotaryEmbedding(int dimHead)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimHead);
        if (dimHead % 2 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(dimHead), dimHead, "The head width must be even, because channels are rotated in pairs.");
        }
        DimHead = dimHead;
        InvFreq = new Parameter<T>("rotary_embed.inv_freq", [dimHead / 2], trainable: false);
        _tableInvFreq = new T[dimHead / 2];
    }

    /// <summary>Dh, the width of one head.</summary>
    public int DimHead { get; }

    /// <summary>The inverse frequencies <c>1 / 10000^(2j / Dh)</c>, a buffer that is loaded but not trained.</summary>
    public Parameter<T> InvFreq { get; }

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters => [InvFreq];

    /// <summary>Sets <see cref="InvFreq"/> to its defining values.</summary>
    public void Initialize()
    {
        Span<T> invFreq = InvFreq.Value.Span;
        for (int j = 0; j < invFreq.Length; j++)
        {
            invFreq[j] = T.CreateTruncating(1.0 / Math.Pow(10000.0, 2.0 * j / DimHead));
        }
    }

    /// <summary>Rotates channels <c>0..Dh-1</c> of every frame in place by the frame's angles.</summary>
    /// <param name="x">q or k: <c>[B, N, W]</c> with <c>W ≥ Dh</c>; channels from Dh on are left unchanged.</param>
    /// <exception cref="ArgumentException"><paramref name="x"/> is not of rank 3 or narrower than Dh.</exception>
    public void Forward(Tensor<T> x) => Rotate(x, nameof(x), inverse: false);

    /// <summary>Back-propagates through <see cref="Forward"/> in place: rotates channels <c>0..Dh-1</c> by the negated angles.</summary>
    /// <param name="dx">dq or dk: <c>[B, N, W]</c> with <c>W ≥ Dh</c>: the output gradient on entry, overwritten with the input gradient.</param>
    /// <exception cref="ArgumentException"><paramref name="dx"/> is not of rank 3 or narrower than Dh.</exception>
    public void Backward(Tensor<T> dx) => Rotate(dx, nameof(dx), inverse: true);

    private void Rotate(Tensor<T> x, string name, bool inverse)
    {
        ArgumentNullException.ThrowIfNull(x, name);
        if (x.Rank != 3 || x.Dim(2) < DimHead)
        {
            throw new ArgumentException($"Expected [B, N, W] with W at least the head width {DimHead}, got {x.ShapeString}.", name);
        }

        int batch = x.Dim(0), frames = x.Dim(1), width = x.Dim(2), pairs = DimHead / 2;
        UpdateTable(frames);
        ReadOnlySpan<T> cosTable = _cos.Span, sinTable = _sin.Span;
        Span<T> values = x.Span;
        for (int b = 0; b < batch; b++)
        {
            for (int p = 0; p < frames; p++)
            {
                Span<T> row = values.Slice((b * frames + p) * width, DimHead);
                ReadOnlySpan<T> cos = cosTable.Slice(p * pairs, pairs);
                ReadOnlySpan<T> sin = sinTable.Slice(p * pairs, pairs);
                for (int j = 0; j < pairs; j++)
                {
                    // rotating by −θ keeps cos θ and flips the sign of sin θ
                    T s = inverse ? -sin[j] : sin[j];
                    T even = row[2 * j], odd = row[2 * j + 1];
                    row[2 * j] = even * cos[j] - odd * s;
                    row[2 * j + 1] = odd * cos[j] + even * s;
                }
            }
        }
    }

    // Builds cos θ and sin θ for frames 0..N-1 unless the table already matches N and the current inv_freq.
    private void UpdateTable(int frames)
    {
        ReadOnlySpan<T> invFreq = InvFreq.Value.Span;
        if (frames == _tableFrames && invFreq.SequenceEqual(_tableInvFreq))
        {
            return;
        }

        int pairs = DimHead / 2;
        if (!_cos.HasShape(frames, pairs))
        {
            _cos.Reshape(frames, pairs);
            _sin.Reshape(frames, pairs);
        }
        Span<T> cos = _cos.Span, sin = _sin.Span;
        for (int p = 0; p < frames; p++)
        {
            for (int j = 0; j < pairs; j++)
            {
                // the angle and its cosine and sine in double, rounded to T once at the end
                double angle = p * double.CreateTruncating(invFreq[j]);
                cos[p * pairs + j] = T.CreateTruncating(Math.Cos(angle));
                sin[p * pairs + j] = T.CreateTruncating(Math.Sin(angle));
            }
        }
        invFreq.CopyTo(_tableInvFreq);
        _tableFrames = frames;
    }
}
