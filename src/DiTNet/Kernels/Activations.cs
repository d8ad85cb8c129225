using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DiTNet.Kernels;

/// <summary>
/// Elementwise activations of the DiT and their derivatives: SiLU, GELU with the tanh
/// approximation, and Mish. Each vectorized kernel has a scalar reference beside it.
/// </summary>
/// <remarks>
/// Backward kernels overwrite: <c>dx = dy · f'(x)</c>. <c>dx</c> may alias <c>dy</c>, and
/// <c>y</c> may alias <c>x</c>, because every element is read before it is written.
/// </remarks>
internal static class Activations
{
    // sqrt(2/π) and the cubic coefficient of GELU's tanh approximation.
    private const double GeluScale = 0.7978845608028654;
    private const double GeluCubic = 0.044715;

    // Above this input tanh(softplus(x)) rounds to 1 in double, and exp(2x) would overflow in float.
    private const double MishLinearFrom = 20.0;

    /// <summary>y = x · sigmoid(x).</summary>
    public static void SiLU<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(y.Length == x.Length);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= Vector512<T>.Count)
        {
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var v = Vector512.Create(x.Slice(i, Vector512<T>.Count));
                (v / (Vector512<T>.One + VectorMath.Exp(-v))).CopyTo(y.Slice(i));
            }
        }

        // scalar tail
        SiLUReference(x[i..], y[i..]);
    }

    /// <summary>The scalar reference of <see cref="SiLU{T}"/>.</summary>
    public static void SiLUReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < x.Length; i++)
        {
            y[i] = x[i] / (T.One + T.Exp(-x[i]));
        }
    }

    /// <summary>dx = dy · σ(x)(1 + x(1 − σ(x))), the derivative of SiLU.</summary>
    public static void SiLUBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(dy.Length == x.Length && dx.Length == x.Length);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= Vector512<T>.Count)
        {
            var one = Vector512<T>.One;
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var v = Vector512.Create(x.Slice(i, Vector512<T>.Count));
                var g = Vector512.Create(dy.Slice(i, Vector512<T>.Count));
                var s = one / (one + VectorMath.Exp(-v));
                (g * s * (one + v * (one - s))).CopyTo(dx.Slice(i));
            }
        }

        // scalar tail
        SiLUBackwardReference(x[i..], dy[i..], dx[i..]);
    }

    /// <summary>The scalar reference of <see cref="SiLUBackward{T}"/>.</summary>
    public static void SiLUBackwardReference<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < x.Length; i++)
        {
            T s = T.One / (T.One + T.Exp(-x[i]));
            dx[i] = dy[i] * s * (T.One + x[i] * (T.One - s));
        }
    }

    /// <summary>
    /// GELU with the tanh approximation, <c>0.5 x (1 + tanh(u))</c> with <c>u = √(2/π)(x + 0.044715 x³)</c>.
    /// </summary>
    /// <remarks>
    /// Computed as <c>x · σ(2u)</c>, which equals it exactly: for large negative x the form
    /// <c>1 + tanh(u)</c> would cancel to a few correct bits, while σ(2u) keeps full relative precision.
    /// </remarks>
    public static void GeluTanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(y.Length == x.Length);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= Vector512<T>.Count)
        {
            var one = Vector512<T>.One;
            var minusTwoScale = Vector512.Create(T.CreateTruncating(-2 * GeluScale));
            var cubic = Vector512.Create(T.CreateTruncating(GeluCubic));
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var v = Vector512.Create(x.Slice(i, Vector512<T>.Count));
                var minusTwoU = minusTwoScale * (v + cubic * v * v * v);
                (v / (one + VectorMath.Exp(minusTwoU))).CopyTo(y.Slice(i));
            }
        }

        // scalar tail
        GeluTanhReference(x[i..], y[i..]);
    }

    /// <summary>The scalar reference of <see cref="GeluTanh{T}"/>.</summary>
    public static void GeluTanhReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T minusTwoScale = T.CreateTruncating(-2 * GeluScale);
        T cubic = T.CreateTruncating(GeluCubic);
        for (int i = 0; i < x.Length; i++)
        {
            T v = x[i];
            y[i] = v / (T.One + T.Exp(minusTwoScale * (v + cubic * v * v * v)));
        }
    }

    /// <summary>dx = dy · (σ(2u) + 2x σ(2u)(1 − σ(2u)) u'(x)), the derivative of <see cref="GeluTanh{T}"/>.</summary>
    public static void GeluTanhBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(dy.Length == x.Length && dx.Length == x.Length);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= Vector512<T>.Count)
        {
            var one = Vector512<T>.One;
            var two = one + one;
            var scale = Vector512.Create(T.CreateTruncating(GeluScale));
            var cubic = Vector512.Create(T.CreateTruncating(GeluCubic));
            var threeCubic = Vector512.Create(T.CreateTruncating(3 * GeluCubic));
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var v = Vector512.Create(x.Slice(i, Vector512<T>.Count));
                var g = Vector512.Create(dy.Slice(i, Vector512<T>.Count));
                var square = v * v;
                var u = scale * (v + cubic * square * v);
                var du = scale * (one + threeCubic * square);
                var s = one / (one + VectorMath.Exp(-two * u));
                (g * (s + two * v * s * (one - s) * du)).CopyTo(dx.Slice(i));
            }
        }

        // scalar tail
        GeluTanhBackwardReference(x[i..], dy[i..], dx[i..]);
    }

    /// <summary>The scalar reference of <see cref="GeluTanhBackward{T}"/>.</summary>
    public static void GeluTanhBackwardReference<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T two = T.CreateTruncating(2);
        T scale = T.CreateTruncating(GeluScale);
        T cubic = T.CreateTruncating(GeluCubic);
        T threeCubic = T.CreateTruncating(3 * GeluCubic);
        for (int i = 0; i < x.Length; i++)
        {
            T v = x[i];
            T u = scale * (v + cubic * v * v * v);
            T du = scale * (T.One + threeCubic * v * v);
            T s = T.One / (T.One + T.Exp(-two * u));
            dx[i] = dy[i] * (s + two * v * s * (T.One - s) * du);
        }
    }

    /// <summary>Mish, <c>x · tanh(softplus(x))</c>.</summary>
    /// <remarks>
    /// With <c>e = exp(x)</c> and <c>n = e(e + 2)</c>, <c>tanh(softplus(x)) = n / (n + 2)</c>; this form
    /// needs one exponential and does not cancel for negative x. Inputs above 20 are clamped
    /// before the exponential, where the factor is 1 to double precision.
    /// </remarks>
    public static void Mish<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(y.Length == x.Length);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= Vector512<T>.Count)
        {
            var two = Vector512<T>.One + Vector512<T>.One;
            var limit = Vector512.Create(T.CreateTruncating(MishLinearFrom));
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var v = Vector512.Create(x.Slice(i, Vector512<T>.Count));
                var e = VectorMath.Exp(Vector512.Min(v, limit));
                var n = e * (e + two);
                (v * n / (n + two)).CopyTo(y.Slice(i));
            }
        }

        // scalar tail
        MishReference(x[i..], y[i..]);
    }

    /// <summary>The scalar reference of <see cref="Mish{T}"/>.</summary>
    public static void MishReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T two = T.CreateTruncating(2);
        T limit = T.CreateTruncating(MishLinearFrom);
        for (int i = 0; i < x.Length; i++)
        {
            T v = x[i];
            T e = T.Exp(T.Min(v, limit));
            T n = e * (e + two);
            y[i] = v * n / (n + two);
        }
    }

    /// <summary>
    /// dx = dy · (tanh(sp) + x · sech²(sp) · σ(x)) with <c>sp = softplus(x)</c>, the derivative of Mish.
    /// </summary>
    /// <remarks>In the terms of <see cref="Mish{T}"/>: <c>sech²(sp) = 4(n + 1) / (n + 2)²</c> and <c>σ(x) = e / (1 + e)</c>.</remarks>
    public static void MishBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(dy.Length == x.Length && dx.Length == x.Length);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= Vector512<T>.Count)
        {
            var one = Vector512<T>.One;
            var two = one + one;
            var four = two + two;
            var limit = Vector512.Create(T.CreateTruncating(MishLinearFrom));
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var v = Vector512.Create(x.Slice(i, Vector512<T>.Count));
                var g = Vector512.Create(dy.Slice(i, Vector512<T>.Count));
                var e = VectorMath.Exp(Vector512.Min(v, limit));
                var n = e * (e + two);
                var nPlusTwo = n + two;
                var tanhSoftplus = n / nPlusTwo;
                var sechSquared = four * (n + one) / (nPlusTwo * nPlusTwo);
                var sigmoid = e / (one + e);
                (g * (tanhSoftplus + v * sechSquared * sigmoid)).CopyTo(dx.Slice(i));
            }
        }

        // scalar tail
        MishBackwardReference(x[i..], dy[i..], dx[i..]);
    }

    /// <summary>The scalar reference of <see cref="MishBackward{T}"/>.</summary>
    public static void MishBackwardReference<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T two = T.CreateTruncating(2);
        T four = T.CreateTruncating(4);
        T limit = T.CreateTruncating(MishLinearFrom);
        for (int i = 0; i < x.Length; i++)
        {
            T v = x[i];
            T e = T.Exp(T.Min(v, limit));
            T n = e * (e + two);
            T nPlusTwo = n + two;
            T sechSquared = four * (n + T.One) / (nPlusTwo * nPlusTwo);
            dx[i] = dy[i] * (n / nPlusTwo + v * sechSquared * (e / (T.One + e)));
        }
    }
}

/// <summary>Transcendental functions on generic vectors, dispatched to the float or double implementation.</summary>
internal static class VectorMath
{
    /// <summary>Computes e^x per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Exp<T>(Vector512<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            return Vector512.Exp(x.As<T, float>()).As<float, T>();
        }
        Debug.Assert(typeof(T) == typeof(double), "Only float and double vectors are supported.");
        return Vector512.Exp(x.As<T, double>()).As<double, T>();
    }
}
