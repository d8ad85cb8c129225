using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DiTNet.Kernels;

/// <summary>
/// The row softmax of attention, <c>p_j = exp(scale·(s_j − max)) / Σ_k exp(scale·(s_k − max))</c>,
/// and its backward pass, with the maximum subtracted so that large scores cannot overflow.
/// </summary>
/// <remarks>
/// <para><c>scale</c> is the attention temperature <c>1/√Dh</c>, folded in here so that the score
/// product needs no separate scaling pass; it must be positive.</para>
/// <para>Reductions (maximum, sums) run in an order fixed by the row length alone, never by the
/// address of the data, so the same row gives the same bits wherever it is stored.</para>
/// </remarks>
public static class Softmax
{
    /// <summary>Replaces a row of scores by its softmax.</summary>
    /// <param name="row">Scores in, probabilities out: <c>[n]</c>; an empty row is left alone.</param>
    /// <param name="scale">The factor applied to the scores, positive.</param>
    public static void Forward<T>(Span<T> row, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(scale > T.Zero);
        if (row.IsEmpty)
        {
            return;
        }

        // 1. shift by the maximum, seeded with negative infinity, and scale
        T max = Max<T>(row);
        ShiftScale(row, max, scale);

        // 2. exponentiate; the largest entry is exp(0) = 1, so the sum is at least 1
        TensorPrimitives.Exp<T>(row, row);

        // 3. normalize
        T sum = Sum<T>(row);
        TensorPrimitives.Multiply<T>(row, T.One / sum, row);
    }

    /// <summary>The plain loop <see cref="Forward{T}(Span{T}, T)"/> is tested against.</summary>
    internal static void ForwardReference<T>(Span<T> row, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T max = T.NegativeInfinity;
        foreach (T value in row)
        {
            max = T.Max(max, value);
        }
        T sum = T.Zero;
        for (int j = 0; j < row.Length; j++)
        {
            row[j] = T.Exp((row[j] - max) * scale);
            sum += row[j];
        }
        for (int j = 0; j < row.Length; j++)
        {
            row[j] /= sum;
        }
    }

    /// <summary>
    /// Back-propagates through <see cref="Forward{T}(Span{T}, T)"/>:
    /// <c>dS = scale · P ∘ (dP − Σ_k dP_k·P_k)</c>, the gradient with respect to the unscaled scores.
    /// </summary>
    /// <param name="probabilities">P, the forward output: <c>[n]</c>.</param>
    /// <param name="gradient">dP in, dS out: <c>[n]</c>.</param>
    /// <param name="scale">The factor the forward pass applied to the scores.</param>
    public static void Backward<T>(ReadOnlySpan<T> probabilities, Span<T> gradient, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(probabilities.Length == gradient.Length);
        T dot = Dot(probabilities, gradient);
        ScaledProductOfShift(probabilities, gradient, dot, scale);
    }

    /// <summary>The plain loop <see cref="Backward{T}(ReadOnlySpan{T}, Span{T}, T)"/> is tested against.</summary>
    internal static void BackwardReference<T>(ReadOnlySpan<T> probabilities, Span<T> gradient, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T dot = T.Zero;
        for (int j = 0; j < gradient.Length; j++)
        {
            dot += probabilities[j] * gradient[j];
        }
        for (int j = 0; j < gradient.Length; j++)
        {
            gradient[j] = scale * probabilities[j] * (gradient[j] - dot);
        }
    }

    /// <summary>
    /// Replaces a row of scores by its softmax over the entries flagged in <paramref name="allowed"/>;
    /// the other entries become exactly zero and their scores are never read, so they may be non-finite.
    /// </summary>
    /// <param name="row">Scores in, probabilities out: <c>[n]</c>.</param>
    /// <param name="allowed">Which entries take part: <c>[n]</c>; at least one must be set.</param>
    /// <param name="scale">The factor applied to the scores, positive.</param>
    /// <remarks>
    /// Scalar, because rows with disallowed keys inside their range arise only from padding in the middle
    /// or at the start of an item; padding at the end takes the vectorized <see cref="Forward{T}(Span{T}, T)"/>
    /// on a shorter row.
    /// </remarks>
    public static void ForwardMasked<T>(Span<T> row, ReadOnlySpan<bool> allowed, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(row.Length == allowed.Length);
        T max = T.NegativeInfinity;
        for (int j = 0; j < row.Length; j++)
        {
            if (allowed[j])
            {
                max = T.Max(max, row[j]);
            }
        }
        T sum = T.Zero;
        for (int j = 0; j < row.Length; j++)
        {
            row[j] = allowed[j] ? T.Exp((row[j] - max) * scale) : T.Zero;
            sum += row[j];
        }
        T inverse = T.One / sum;
        for (int j = 0; j < row.Length; j++)
        {
            row[j] *= inverse;
        }
    }

    /// <summary>
    /// Back-propagates through <see cref="ForwardMasked{T}(Span{T}, ReadOnlySpan{bool}, T)"/>; disallowed entries
    /// get exactly zero and their incoming gradients are never read.
    /// </summary>
    /// <param name="probabilities">P, the forward output: <c>[n]</c>.</param>
    /// <param name="allowed">The flags the forward pass used: <c>[n]</c>.</param>
    /// <param name="gradient">dP in, dS out: <c>[n]</c>.</param>
    /// <param name="scale">The factor the forward pass applied to the scores.</param>
    public static void BackwardMasked<T>(ReadOnlySpan<T> probabilities, ReadOnlySpan<bool> allowed, Span<T> gradient, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(probabilities.Length == gradient.Length && allowed.Length == gradient.Length);
        T dot = T.Zero;
        for (int j = 0; j < gradient.Length; j++)
        {
            if (allowed[j])
            {
                dot += probabilities[j] * gradient[j];
            }
        }
        for (int j = 0; j < gradient.Length; j++)
        {
            gradient[j] = allowed[j] ? scale * probabilities[j] * (gradient[j] - dot) : T.Zero;
        }
    }

    /// <summary>Returns the largest element, or negative infinity for an empty span; NaN if any element is NaN.</summary>
    internal static T Max<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T start = ref MemoryMarshal.GetReference(x);
        int i = 0;
        T max = T.NegativeInfinity;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported && x.Length >= Vector512<T>.Count)
        {
            Vector512<T> acc = Vector512.Create(T.NegativeInfinity);
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                acc = Vector512.Max(acc, Vector512.LoadUnsafe(ref start, (nuint)i));
            }
            for (int lane = 0; lane < Vector512<T>.Count; lane++)
            {
                max = T.Max(max, acc.GetElement(lane));
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && x.Length >= Vector256<T>.Count)
        {
            Vector256<T> acc = Vector256.Create(T.NegativeInfinity);
            for (; i <= x.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                acc = Vector256.Max(acc, Vector256.LoadUnsafe(ref start, (nuint)i));
            }
            for (int lane = 0; lane < Vector256<T>.Count; lane++)
            {
                max = T.Max(max, acc.GetElement(lane));
            }
        }

        // scalar tail
        for (; i < x.Length; i++)
        {
            max = T.Max(max, Unsafe.Add(ref start, i));
        }
        return max;
    }

    /// <summary>Returns the sum of the elements, lane-wise accumulated and then added lane by lane.</summary>
    internal static T Sum<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T start = ref MemoryMarshal.GetReference(x);
        int i = 0;
        T sum = T.Zero;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported && x.Length >= Vector512<T>.Count)
        {
            Vector512<T> acc = Vector512<T>.Zero;
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                acc += Vector512.LoadUnsafe(ref start, (nuint)i);
            }
            for (int lane = 0; lane < Vector512<T>.Count; lane++)
            {
                sum += acc.GetElement(lane);
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && x.Length >= Vector256<T>.Count)
        {
            Vector256<T> acc = Vector256<T>.Zero;
            for (; i <= x.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                acc += Vector256.LoadUnsafe(ref start, (nuint)i);
            }
            for (int lane = 0; lane < Vector256<T>.Count; lane++)
            {
                sum += acc.GetElement(lane);
            }
        }

        // scalar tail
        for (; i < x.Length; i++)
        {
            sum += Unsafe.Add(ref start, i);
        }
        return sum;
    }

    /// <summary>Returns <c>Σ x_j·y_j</c>, lane-wise accumulated and then added lane by lane.</summary>
    internal static T Dot<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(x.Length == y.Length);
        ref T xStart = ref MemoryMarshal.GetReference(x);
        ref T yStart = ref MemoryMarshal.GetReference(y);
        int i = 0;
        T sum = T.Zero;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported && x.Length >= Vector512<T>.Count)
        {
            Vector512<T> acc = Vector512<T>.Zero;
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                acc += Vector512.LoadUnsafe(ref xStart, (nuint)i) * Vector512.LoadUnsafe(ref yStart, (nuint)i);
            }
            for (int lane = 0; lane < Vector512<T>.Count; lane++)
            {
                sum += acc.GetElement(lane);
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && x.Length >= Vector256<T>.Count)
        {
            Vector256<T> acc = Vector256<T>.Zero;
            for (; i <= x.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                acc += Vector256.LoadUnsafe(ref xStart, (nuint)i) * Vector256.LoadUnsafe(ref yStart, (nuint)i);
            }
            for (int lane = 0; lane < Vector256<T>.Count; lane++)
            {
                sum += acc.GetElement(lane);
            }
        }

        // scalar tail
        for (; i < x.Length; i++)
        {
            sum += Unsafe.Add(ref xStart, i) * Unsafe.Add(ref yStart, i);
        }
        return sum;
    }

    // x_j = (x_j − shift)·scale in place
    private static void ShiftScale<T>(Span<T> x, T shift, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T start = ref MemoryMarshal.GetReference(x);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
        {
            Vector512<T> shiftVector = Vector512.Create(shift), scaleVector = Vector512.Create(scale);
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                ((Vector512.LoadUnsafe(ref start, (nuint)i) - shiftVector) * scaleVector).StoreUnsafe(ref start, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            Vector256<T> shiftVector = Vector256.Create(shift), scaleVector = Vector256.Create(scale);
            for (; i <= x.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                ((Vector256.LoadUnsafe(ref start, (nuint)i) - shiftVector) * scaleVector).StoreUnsafe(ref start, (nuint)i);
            }
        }

        // scalar tail
        for (; i < x.Length; i++)
        {
            Unsafe.Add(ref start, i) = (Unsafe.Add(ref start, i) - shift) * scale;
        }
    }

    // g_j = scale·p_j·(g_j − dot) in place
    private static void ScaledProductOfShift<T>(ReadOnlySpan<T> p, Span<T> g, T dot, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T pStart = ref MemoryMarshal.GetReference(p);
        ref T gStart = ref MemoryMarshal.GetReference(g);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
        {
            Vector512<T> dotVector = Vector512.Create(dot), scaleVector = Vector512.Create(scale);
            for (; i <= g.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                Vector512<T> shifted = Vector512.LoadUnsafe(ref gStart, (nuint)i) - dotVector;
                (scaleVector * Vector512.LoadUnsafe(ref pStart, (nuint)i) * shifted).StoreUnsafe(ref gStart, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            Vector256<T> dotVector = Vector256.Create(dot), scaleVector = Vector256.Create(scale);
            for (; i <= g.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                Vector256<T> shifted = Vector256.LoadUnsafe(ref gStart, (nuint)i) - dotVector;
                (scaleVector * Vector256.LoadUnsafe(ref pStart, (nuint)i) * shifted).StoreUnsafe(ref gStart, (nuint)i);
            }
        }

        // scalar tail
        for (; i < g.Length; i++)
        {
            Unsafe.Add(ref gStart, i) = scale * Unsafe.Add(ref pStart, i) * (Unsafe.Add(ref gStart, i) - dot);
        }
    }
}
