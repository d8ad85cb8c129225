using System.Diagnostics;
using System.Numerics;

namespace DiTNet.Kernels;

/// <summary>
/// The causal grouped 1-D convolution of the DiT's position embedding, on frames-first data:
/// <c>y[n, o] = bias[o] + Σ_k Σ_i x[n − (K−1) + k, i] · weight[o, i, k]</c> over the input
/// channels i of o's group, where frames before the start read as zero (left padding K−1).
/// </summary>
/// <remarks>
/// The fast path runs one batched GEMM per tap, over the groups, on shifted row ranges, so it
/// needs no im2col buffer. It takes the weight repacked by <see cref="PackWeight{T}"/> as
/// <c>[K, G, C/G (in), C/G (out)]</c>, so that each tap's block is a dense matrix.
/// </remarks>
internal static class Conv
{
    /// <summary>Repacks a PyTorch conv weight <c>[C, C/G, K]</c> into <c>[K, G, C/G (in), C/G (out)]</c>.</summary>
    public static void PackWeight<T>(ReadOnlySpan<T> weight, int channels, int groups, int kernel, Span<T> packed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int groupWidth = channels / groups;
        Debug.Assert(weight.Length == channels * groupWidth * kernel && packed.Length == weight.Length);
        for (int o = 0; o < channels; o++)
        {
            int g = o / groupWidth, oo = o % groupWidth;
            for (int i = 0; i < groupWidth; i++)
            {
                ReadOnlySpan<T> taps = weight.Slice((o * groupWidth + i) * kernel, kernel);
                for (int k = 0; k < kernel; k++)
                {
                    packed[((k * groups + g) * groupWidth + i) * groupWidth + oo] = taps[k];
                }
            }
        }
    }

    /// <summary>Adds a packed weight gradient <c>[K, G, C/G, C/G]</c> into a PyTorch-layout gradient <c>[C, C/G, K]</c>.</summary>
    public static void AddUnpackedWeight<T>(ReadOnlySpan<T> packed, int channels, int groups, int kernel, Span<T> weight)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int groupWidth = channels / groups;
        Debug.Assert(weight.Length == channels * groupWidth * kernel && packed.Length == weight.Length);
        for (int o = 0; o < channels; o++)
        {
            int g = o / groupWidth, oo = o % groupWidth;
            for (int i = 0; i < groupWidth; i++)
            {
                Span<T> taps = weight.Slice((o * groupWidth + i) * kernel, kernel);
                for (int k = 0; k < kernel; k++)
                {
                    taps[k] += packed[((k * groups + g) * groupWidth + i) * groupWidth + oo];
                }
            }
        }
    }

    /// <summary>Convolves one item.</summary>
    /// <param name="x">x: <c>[N, C]</c>.</param>
    /// <param name="packedWeight">The weight from <see cref="PackWeight{T}"/>: <c>[K, G, C/G, C/G]</c>.</param>
    /// <param name="bias">bias: <c>[C]</c>.</param>
    /// <param name="y">y: <c>[N, C]</c>, overwritten; must not alias x.</param>
    public static void CausalGrouped<T>(
        ReadOnlySpan<T> x, int frames, int channels, int groups, int kernel,
        ReadOnlySpan<T> packedWeight, ReadOnlySpan<T> bias, Span<T> y, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(x.Length == frames * channels && y.Length == x.Length && bias.Length == channels);
        int groupWidth = channels / groups;
        for (int n = 0; n < frames; n++)
        {
            bias.CopyTo(y.Slice(n * channels, channels));
        }

        // Tap k reads frame n − shift for output frame n, with shift = K−1−k; earlier frames are padding.
        // One batched product per tap covers all groups: group g's operands start g·C/G columns in.
        int block = groupWidth * groupWidth;
        for (int k = 0; k < kernel; k++)
        {
            int shift = kernel - 1 - k;
            int rows = frames - shift;
            if (rows <= 0)
            {
                continue;
            }
            Gemm.ComputeBatched(Transpose.No, Transpose.No, rows, groupWidth, groupWidth, groups,
                x, channels, groupWidth,
                packedWeight.Slice(k * groups * block, groups * block), groupWidth, block,
                y[(shift * channels)..], channels, groupWidth, accumulate: true, threads);
        }
    }

    /// <summary>Back-propagates <see cref="CausalGrouped{T}"/> for one item.</summary>
    /// <param name="x">x: <c>[N, C]</c>, the forward input.</param>
    /// <param name="dy">dY: <c>[N, C]</c>.</param>
    /// <param name="packedWeight">The packed weight <c>[K, G, C/G, C/G]</c>.</param>
    /// <param name="dx">dX: <c>[N, C]</c>, added into.</param>
    /// <param name="dPackedWeight">The packed weight gradient <c>[K, G, C/G, C/G]</c>, added into.</param>
    /// <param name="dBias">dBias: <c>[C]</c>, added into.</param>
    public static void CausalGroupedBackward<T>(
        ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int frames, int channels, int groups, int kernel,
        ReadOnlySpan<T> packedWeight, Span<T> dx, Span<T> dPackedWeight, Span<T> dBias, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(x.Length == frames * channels && dy.Length == x.Length && dx.Length == x.Length);
        int groupWidth = channels / groups;
        int block = groupWidth * groupWidth;

        // bias: column sums of dY
        for (int n = 0; n < frames; n++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(dBias, dy.Slice(n * channels, channels), dBias);
        }

        for (int k = 0; k < kernel; k++)
        {
            int shift = kernel - 1 - k;
            int rows = frames - shift;
            if (rows <= 0)
            {
                continue;
            }
            ReadOnlySpan<T> weight = packedWeight.Slice(k * groups * block, groups * block);

            // dX[n − shift] += dY[n] · W_kᵀ, all groups in one batched product
            Gemm.ComputeBatched(Transpose.No, Transpose.Yes, rows, groupWidth, groupWidth, groups,
                dy[(shift * channels)..], channels, groupWidth, weight, groupWidth, block,
                dx, channels, groupWidth, accumulate: true, threads);

            // dW_k += X[n − shift]ᵀ · dY[n]
            Gemm.ComputeBatched(Transpose.Yes, Transpose.No, groupWidth, groupWidth, rows, groups,
                x, channels, groupWidth, dy[(shift * channels)..], channels, groupWidth,
                dPackedWeight.Slice(k * groups * block, groups * block), groupWidth, block, accumulate: true, threads);
        }
    }

    /// <summary>The direct-loop reference of <see cref="CausalGrouped{T}"/>, on the PyTorch weight layout <c>[C, C/G, K]</c>.</summary>
    public static void CausalGroupedReference<T>(
        ReadOnlySpan<T> x, int frames, int channels, int groups, int kernel,
        ReadOnlySpan<T> weight, ReadOnlySpan<T> bias, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int groupWidth = channels / groups;
        for (int n = 0; n < frames; n++)
        {
            for (int o = 0; o < channels; o++)
            {
                int first = o / groupWidth * groupWidth;
                T sum = bias[o];
                for (int k = 0; k < kernel; k++)
                {
                    int source = n - (kernel - 1) + k;
                    if (source < 0)
                    {
                        continue;
                    }
                    for (int i = 0; i < groupWidth; i++)
                    {
                        sum += x[source * channels + first + i] * weight[(o * groupWidth + i) * kernel + k];
                    }
                }
                y[n * channels + o] = sum;
            }
        }
    }
}
