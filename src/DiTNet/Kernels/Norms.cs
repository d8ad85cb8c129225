using System.Diagnostics;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace DiTNet.Kernels;

/// <summary>
/// Layer normalization without affine parameters (biased variance, epsilon 1e-6, as PyTorch's
/// <c>LayerNorm(elementwise_affine=False, eps=1e-6)</c>), fused with the adaptive modulation
/// <c>y = LN(x)·(1 + scale) + shift</c>. Each vectorized kernel has a scalar reference beside it.
/// </summary>
/// <remarks>
/// The kernels work on one row of width D. An empty <c>scale</c> or <c>shift</c> span means no
/// modulation, i.e. a plain layer norm. Sums use a fixed number of vector accumulators combined
/// in a fixed order, so a result does not depend on where the data sits in memory.
/// </remarks>
internal static class Norms
{
    /// <summary>The epsilon added to the variance.</summary>
    public const double Epsilon = 1e-6;

    /// <summary>Normalizes one row and modulates it; returns the row's mean and reciprocal standard deviation for the backward pass.</summary>
    /// <param name="x">x: <c>[D]</c>.</param>
    /// <param name="scale">scale: <c>[D]</c>, or empty for none.</param>
    /// <param name="shift">shift: <c>[D]</c>, or empty for none.</param>
    /// <param name="y">y: <c>[D]</c>, overwritten; it may alias x.</param>
    public static (T Mean, T Rstd) LayerNormModulate<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> scale, ReadOnlySpan<T> shift, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(y.Length == x.Length && x.Length > 0);
        Debug.Assert(scale.IsEmpty || scale.Length == x.Length);
        Debug.Assert(shift.IsEmpty || shift.Length == x.Length);
        int width = Vector512<T>.Count;
        bool vectorize = Vector512.IsHardwareAccelerated && x.Length >= width;
        T count = T.CreateTruncating(x.Length);

        // mean
        T mean = Sum(x) / count;

        // biased variance of the centered values
        int i = 0;
        T variance = T.Zero;
        if (vectorize)
        {
            var vmean = Vector512.Create(mean);
            var accumulator = Vector512<T>.Zero;
            for (; i <= x.Length - width; i += width)
            {
                var d = Vector512.Create(x.Slice(i, width)) - vmean;
                accumulator += d * d;
            }
            variance = Vector512.Sum(accumulator);
        }

        // scalar tail of the variance
        for (; i < x.Length; i++)
        {
            T d = x[i] - mean;
            variance += d * d;
        }
        variance /= count;
        T rstd = T.One / T.Sqrt(variance + T.CreateTruncating(Epsilon));

        // normalize and modulate: scale, then shift
        i = 0;
        if (vectorize)
        {
            var vmean = Vector512.Create(mean);
            var vrstd = Vector512.Create(rstd);
            for (; i <= x.Length - width; i += width)
            {
                var value = (Vector512.Create(x.Slice(i, width)) - vmean) * vrstd;
                if (!scale.IsEmpty)
                {
                    value *= Vector512<T>.One + Vector512.Create(scale.Slice(i, width));
                }
                if (!shift.IsEmpty)
                {
                    value += Vector512.Create(shift.Slice(i, width));
                }
                value.CopyTo(y.Slice(i));
            }
        }

        // scalar tail
        for (; i < x.Length; i++)
        {
            T value = (x[i] - mean) * rstd;
            if (!scale.IsEmpty)
            {
                value *= T.One + scale[i];
            }
            if (!shift.IsEmpty)
            {
                value += shift[i];
            }
            y[i] = value;
        }
        return (mean, rstd);
    }

    /// <summary>The scalar reference of <see cref="LayerNormModulate{T}"/>.</summary>
    public static (T Mean, T Rstd) LayerNormModulateReference<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> scale, ReadOnlySpan<T> shift, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T count = T.CreateTruncating(x.Length);
        T mean = T.Zero;
        for (int i = 0; i < x.Length; i++)
        {
            mean += x[i];
        }
        mean /= count;
        T variance = T.Zero;
        for (int i = 0; i < x.Length; i++)
        {
            variance += (x[i] - mean) * (x[i] - mean);
        }
        variance /= count;
        T rstd = T.One / T.Sqrt(variance + T.CreateTruncating(Epsilon));
        for (int i = 0; i < x.Length; i++)
        {
            T value = (x[i] - mean) * rstd;
            y[i] = value * (T.One + (scale.IsEmpty ? T.Zero : scale[i])) + (shift.IsEmpty ? T.Zero : shift[i]);
        }
        return (mean, rstd);
    }

    /// <summary>Back-propagates through <see cref="LayerNormModulate{T}"/> for one row.</summary>
    /// <param name="x">x: <c>[D]</c>, the forward input.</param>
    /// <param name="mean">The mean the forward pass returned.</param>
    /// <param name="rstd">The reciprocal standard deviation the forward pass returned.</param>
    /// <param name="scale">scale: <c>[D]</c>, or empty for none.</param>
    /// <param name="dy">dY: <c>[D]</c>.</param>
    /// <param name="dx">dX: <c>[D]</c>, added into.</param>
    /// <param name="dScale">dScale: <c>[D]</c>, added into; empty when there is no scale or the caller sums it with <see cref="ModulationGradients{T}"/>.</param>
    /// <param name="dShift">dShift: <c>[D]</c>, added into; empty when there is no shift or the caller sums it with <see cref="ModulationGradients{T}"/>.</param>
    /// <remarks>
    /// With <c>x̂ = (x − mean)·rstd</c> and <c>g = dy·(1 + scale)</c>:
    /// <c>dx += rstd·(g − mean(g) − x̂·mean(g·x̂))</c>, <c>dScale += dy·x̂</c>, <c>dShift += dy</c>.
    /// </remarks>
    public static void LayerNormModulateBackward<T>(
        ReadOnlySpan<T> x, T mean, T rstd, ReadOnlySpan<T> scale, ReadOnlySpan<T> dy,
        Span<T> dx, Span<T> dScale, Span<T> dShift)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(dy.Length == x.Length && dx.Length == x.Length);
        Debug.Assert(dScale.IsEmpty || !scale.IsEmpty);
        int width = Vector512<T>.Count;
        bool vectorize = Vector512.IsHardwareAccelerated && x.Length >= width;

        // pass 1: mean(g), mean(g·x̂) and the modulation gradients
        int i = 0;
        T sumG = T.Zero, sumGXhat = T.Zero;
        if (vectorize)
        {
            var vmean = Vector512.Create(mean);
            var vrstd = Vector512.Create(rstd);
            var accumulatorG = Vector512<T>.Zero;
            var accumulatorGXhat = Vector512<T>.Zero;
            for (; i <= x.Length - width; i += width)
            {
                var xhat = (Vector512.Create(x.Slice(i, width)) - vmean) * vrstd;
                var grad = Vector512.Create(dy.Slice(i, width));
                if (!dShift.IsEmpty)
                {
                    (Vector512.Create(dShift.Slice(i, width)) + grad).CopyTo(dShift.Slice(i));
                }
                if (!dScale.IsEmpty)
                {
                    (Vector512.Create(dScale.Slice(i, width)) + grad * xhat).CopyTo(dScale.Slice(i));
                }
                if (!scale.IsEmpty)
                {
                    grad *= Vector512<T>.One + Vector512.Create(scale.Slice(i, width));
                }
                accumulatorG += grad;
                accumulatorGXhat += grad * xhat;
            }
            sumG = Vector512.Sum(accumulatorG);
            sumGXhat = Vector512.Sum(accumulatorGXhat);
        }

        // scalar tail of pass 1
        for (; i < x.Length; i++)
        {
            T xhat = (x[i] - mean) * rstd;
            T grad = dy[i];
            if (!dShift.IsEmpty)
            {
                dShift[i] += grad;
            }
            if (!dScale.IsEmpty)
            {
                dScale[i] += grad * xhat;
            }
            if (!scale.IsEmpty)
            {
                grad *= T.One + scale[i];
            }
            sumG += grad;
            sumGXhat += grad * xhat;
        }
        T count = T.CreateTruncating(x.Length);
        T meanG = sumG / count;
        T meanGXhat = sumGXhat / count;

        // pass 2: the input gradient
        i = 0;
        if (vectorize)
        {
            var vmean = Vector512.Create(mean);
            var vrstd = Vector512.Create(rstd);
            var vmeanG = Vector512.Create(meanG);
            var vmeanGXhat = Vector512.Create(meanGXhat);
            for (; i <= x.Length - width; i += width)
            {
                var xhat = (Vector512.Create(x.Slice(i, width)) - vmean) * vrstd;
                var grad = Vector512.Create(dy.Slice(i, width));
                if (!scale.IsEmpty)
                {
                    grad *= Vector512<T>.One + Vector512.Create(scale.Slice(i, width));
                }
                var update = vrstd * (grad - vmeanG - xhat * vmeanGXhat);
                (Vector512.Create(dx.Slice(i, width)) + update).CopyTo(dx.Slice(i));
            }
        }

        // scalar tail of pass 2
        for (; i < x.Length; i++)
        {
            T xhat = (x[i] - mean) * rstd;
            T grad = scale.IsEmpty ? dy[i] : dy[i] * (T.One + scale[i]);
            dx[i] += rstd * (grad - meanG - xhat * meanGXhat);
        }
    }

    /// <summary>
    /// Adds one row's share of the modulation gradients over a range of columns: <c>dShift += dy</c>,
    /// <c>dScale += dy·x̂</c> with <c>x̂ = (x − mean)·rstd</c>, the same operations as
    /// <see cref="LayerNormModulateBackward{T}"/>, so that rows can be split among threads by columns.
    /// </summary>
    /// <param name="x">x: the row's columns in the range.</param>
    /// <param name="dy">dY: the same columns.</param>
    /// <param name="dScale">dScale: the same columns, added into.</param>
    /// <param name="dShift">dShift: the same columns, added into.</param>
    public static void ModulationGradients<T>(ReadOnlySpan<T> x, T mean, T rstd, ReadOnlySpan<T> dy, Span<T> dScale, Span<T> dShift)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(dy.Length == x.Length && dScale.Length == x.Length && dShift.Length == x.Length);
        int width = Vector512<T>.Count;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vmean = Vector512.Create(mean);
            var vrstd = Vector512.Create(rstd);
            for (; i <= x.Length - width; i += width)
            {
                var xhat = (Vector512.Create(x.Slice(i, width)) - vmean) * vrstd;
                var grad = Vector512.Create(dy.Slice(i, width));
                (Vector512.Create(dShift.Slice(i, width)) + grad).CopyTo(dShift.Slice(i));
                (Vector512.Create(dScale.Slice(i, width)) + grad * xhat).CopyTo(dScale.Slice(i));
            }
        }

        // scalar tail
        for (; i < x.Length; i++)
        {
            T xhat = (x[i] - mean) * rstd;
            dShift[i] += dy[i];
            dScale[i] += dy[i] * xhat;
        }
    }

    /// <summary>The scalar reference of <see cref="LayerNormModulateBackward{T}"/>.</summary>
    public static void LayerNormModulateBackwardReference<T>(
        ReadOnlySpan<T> x, T mean, T rstd, ReadOnlySpan<T> scale, ReadOnlySpan<T> dy,
        Span<T> dx, Span<T> dScale, Span<T> dShift)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T count = T.CreateTruncating(x.Length);
        T meanG = T.Zero, meanGXhat = T.Zero;
        for (int i = 0; i < x.Length; i++)
        {
            T xhat = (x[i] - mean) * rstd;
            T grad = dy[i] * (T.One + (scale.IsEmpty ? T.Zero : scale[i]));
            meanG += grad;
            meanGXhat += grad * xhat;
            if (!dShift.IsEmpty)
            {
                dShift[i] += dy[i];
            }
            if (!dScale.IsEmpty)
            {
                dScale[i] += dy[i] * xhat;
            }
        }
        meanG /= count;
        meanGXhat /= count;
        for (int i = 0; i < x.Length; i++)
        {
            T xhat = (x[i] - mean) * rstd;
            T grad = dy[i] * (T.One + (scale.IsEmpty ? T.Zero : scale[i]));
            dx[i] += rstd * (grad - meanG - xhat * meanGXhat);
        }
    }

    private static T Sum<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = Vector512<T>.Count;
        int i = 0;
        T sum = T.Zero;
        if (Vector512.IsHardwareAccelerated && x.Length >= width)
        {
            var accumulator = Vector512<T>.Zero;
            for (; i <= x.Length - width; i += width)
            {
                accumulator += Vector512.Create(x.Slice(i, width));
            }
            sum = Vector512.Sum(accumulator);
        }

        // scalar tail
        for (; i < x.Length; i++)
        {
            sum += x[i];
        }
        return sum;
    }
}
