using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DiTNet.Kernels;

/// <summary>
/// The causal grouped 1-D convolution of the DiT's position embedding, on frames-first data:
/// <c>y[n, o] = bias[o] + Σ_k Σ_i x[n − (K−1) + k, i] · weight[o, i, k]</c> over the input
/// channels i of o's group, where frames before the start read as zero (left padding K−1).
/// </summary>
/// <remarks>
/// <para>With AVX-512 each group is one matrix product of depth <c>K·C/G</c> and no im2col copy.
/// The input is first copied group by group into <c>[G, K−1+N, C/G]</c> with K−1 zero frames in
/// front, so the im2col row of output frame n is the contiguous run of K·C/G values starting at
/// frame n of the padded copy. Rows of that matrix overlap, which a general GEMM rejects, so the
/// products run on the register-tiled kernels below. The weight gradient is the same product
/// with the padded copy read transposed, and the input gradient is the same convolution run
/// backwards in time on the output gradient, with the weight flipped and transposed.</para>
/// <para>Each output element is one fused multiply-add chain over the depth in a fixed order,
/// whatever the tile or thread that computes it, so results are bitwise independent of the
/// thread count. Without AVX-512 the products run as one batched GEMM per tap.</para>
/// </remarks>
internal static class Conv
{
    [ThreadStatic]
    private static bool t_forceTapProducts;

    /// <summary>Whether calls from this thread take the tap-by-tap GEMM path even where the AVX-512 kernels could; for tests.</summary>
    internal static bool ForceTapProducts
    {
        get => t_forceTapProducts;
        set => t_forceTapProducts = value;
    }

    private static bool UseKernels<T>() =>
        Vector512.IsHardwareAccelerated && !ForceTapProducts && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    /// <summary>Repacks a PyTorch conv weight <c>[C, C/G, K]</c> into <c>[G, K, C/G (in), C/G (out)]</c>.</summary>
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
                    packed[((g * kernel + k) * groupWidth + i) * groupWidth + oo] = taps[k];
                }
            }
        }
    }

    /// <summary>Adds a packed weight gradient <c>[G, K, C/G, C/G]</c> into a PyTorch-layout gradient <c>[C, C/G, K]</c>.</summary>
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
                    taps[k] += packed[((g * kernel + k) * groupWidth + i) * groupWidth + oo];
                }
            }
        }
    }

    /// <summary>Convolves one item.</summary>
    /// <param name="x">x: <c>[N, C]</c>.</param>
    /// <param name="packedWeight">The weight from <see cref="PackWeight{T}"/>: <c>[G, K, C/G, C/G]</c>.</param>
    /// <param name="bias">bias: <c>[C]</c>.</param>
    /// <param name="y">y: <c>[N, C]</c>, overwritten; must not alias x.</param>
    public static void CausalGrouped<T>(
        ReadOnlySpan<T> x, int frames, int channels, int groups, int kernel,
        ReadOnlySpan<T> packedWeight, ReadOnlySpan<T> bias, Span<T> y, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(x.Length == frames * channels && y.Length == x.Length && bias.Length == channels);
        for (int n = 0; n < frames; n++)
        {
            bias.CopyTo(y.Slice(n * channels, channels));
        }
        if (frames == 0)
        {
            return;
        }
        if (!UseKernels<T>())
        {
            ForwardByTaps(x, frames, channels, groups, kernel, packedWeight, y, threads);
            return;
        }

        // y_g[n, :] += xPadded_g[n·w .. n·w + K·w) · W_g: rows overlap by all but w values
        int groupWidth = channels / groups, depth = kernel * groupWidth;
        var scratch = ConvScratch<T>.Get(groups * (frames + kernel - 1) * groupWidth);
        GatherPadded(x, frames, channels, groups, kernel - 1, 0, scratch);
        GroupProducts<T>.Run(scratch, (frames + kernel - 1) * groupWidth, rowStride: groupWidth, depthStride: 1,
            packedWeight, depth * groupWidth, groupWidth, y, groupWidth, channels,
            groups, frames, depth, groupWidth, threads);
    }

    /// <summary>Back-propagates <see cref="CausalGrouped{T}"/> for one item.</summary>
    /// <param name="x">x: <c>[N, C]</c>, the forward input.</param>
    /// <param name="dy">dY: <c>[N, C]</c>.</param>
    /// <param name="packedWeight">The packed weight <c>[G, K, C/G, C/G]</c>.</param>
    /// <param name="dx">dX: <c>[N, C]</c>, added into.</param>
    /// <param name="dPackedWeight">The packed weight gradient <c>[G, K, C/G, C/G]</c>, added into.</param>
    /// <param name="dBias">dBias: <c>[C]</c>, added into.</param>
    public static void CausalGroupedBackward<T>(
        ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int frames, int channels, int groups, int kernel,
        ReadOnlySpan<T> packedWeight, Span<T> dx, Span<T> dPackedWeight, Span<T> dBias, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(x.Length == frames * channels && dy.Length == x.Length && dx.Length == x.Length);

        // bias: column sums of dY
        for (int n = 0; n < frames; n++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(dBias, dy.Slice(n * channels, channels), dBias);
        }
        if (frames == 0)
        {
            return;
        }
        if (!UseKernels<T>())
        {
            BackwardByTaps(x, dy, frames, channels, groups, kernel, packedWeight, dx, dPackedWeight, threads);
            return;
        }

        int groupWidth = channels / groups, depth = kernel * groupWidth, padded = (frames + kernel - 1) * groupWidth;
        var scratch = ConvScratch<T>.Get(groups * padded + packedWeight.Length);
        Span<T> paddedCopy = scratch.AsSpan(0, groups * padded);
        Span<T> flipped = scratch.AsSpan(groups * padded, packedWeight.Length);

        // dW_g[k·w + i, o] += Σ_n xPadded_g[(n + k)·w + i] · dy[n, g·w + o]: the padded input read transposed
        GatherPadded(x, frames, channels, groups, kernel - 1, 0, paddedCopy);
        GroupProducts<T>.Run(scratch, padded, rowStride: 1, depthStride: groupWidth,
            dy, groupWidth, channels, dPackedWeight, depth * groupWidth, groupWidth,
            groups, depth, frames, groupWidth, threads);

        // dx_g[m, i] += Σ_{k', o} dyPadded_g[(m + k')·w + o] · W_g[K−1−k', i, o], with K−1 zero frames after the end
        GatherPadded(dy, frames, channels, groups, 0, kernel - 1, paddedCopy);
        PackFlipped(packedWeight, groups, kernel, groupWidth, flipped);
        GroupProducts<T>.Run(scratch, padded, rowStride: groupWidth, depthStride: 1,
            flipped, depth * groupWidth, groupWidth, dx, groupWidth, channels,
            groups, frames, depth, groupWidth, threads);
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

    // Copies x [N, C] into [G, before + N + after, w]: group g's channels frame by frame, with zero frames around.
    private static void GatherPadded<T>(ReadOnlySpan<T> x, int frames, int channels, int groups, int before, int after, Span<T> padded)
        where T : unmanaged
    {
        int groupWidth = channels / groups, length = (before + frames + after) * groupWidth;
        for (int g = 0; g < groups; g++)
        {
            Span<T> group = padded.Slice(g * length, length);
            group[..(before * groupWidth)].Clear();
            group[((before + frames) * groupWidth)..].Clear();
            for (int n = 0; n < frames; n++)
            {
                x.Slice(n * channels + g * groupWidth, groupWidth).CopyTo(group.Slice((before + n) * groupWidth, groupWidth));
            }
        }
    }

    // flipped[g, k', o, i] = packed[g, K−1−k', i, o]: the weight of the convolution run backwards in time.
    private static void PackFlipped<T>(ReadOnlySpan<T> packed, int groups, int kernel, int groupWidth, Span<T> flipped)
        where T : unmanaged
    {
        int block = groupWidth * groupWidth;
        for (int g = 0; g < groups; g++)
        {
            for (int k = 0; k < kernel; k++)
            {
                ReadOnlySpan<T> source = packed.Slice((g * kernel + k) * block, block);
                Span<T> destination = flipped.Slice((g * kernel + kernel - 1 - k) * block, block);
                for (int i = 0; i < groupWidth; i++)
                {
                    for (int o = 0; o < groupWidth; o++)
                    {
                        destination[o * groupWidth + i] = source[i * groupWidth + o];
                    }
                }
            }
        }
    }

    // Without AVX-512: one batched GEMM per tap over the groups, on shifted row ranges.
    private static void ForwardByTaps<T>(
        ReadOnlySpan<T> x, int frames, int channels, int groups, int kernel, ReadOnlySpan<T> packedWeight, Span<T> y, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Tap k reads frame n − shift for output frame n, with shift = K−1−k; earlier frames are padding.
        int groupWidth = channels / groups, block = groupWidth * groupWidth;
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
                packedWeight[(k * block)..], groupWidth, kernel * block,
                y[(shift * channels)..], channels, groupWidth, accumulate: true, threads);
        }
    }

    private static void BackwardByTaps<T>(
        ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int frames, int channels, int groups, int kernel,
        ReadOnlySpan<T> packedWeight, Span<T> dx, Span<T> dPackedWeight, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int groupWidth = channels / groups, block = groupWidth * groupWidth;
        for (int k = 0; k < kernel; k++)
        {
            int shift = kernel - 1 - k;
            int rows = frames - shift;
            if (rows <= 0)
            {
                continue;
            }

            // dX[n − shift] += dY[n] · W_kᵀ, all groups in one batched product
            Gemm.ComputeBatched(Transpose.No, Transpose.Yes, rows, groupWidth, groupWidth, groups,
                dy[(shift * channels)..], channels, groupWidth, packedWeight[(k * block)..], groupWidth, kernel * block,
                dx, channels, groupWidth, accumulate: true, threads);

            // dW_k += X[n − shift]ᵀ · dY[n]
            Gemm.ComputeBatched(Transpose.Yes, Transpose.No, groupWidth, groupWidth, rows, groups,
                x, channels, groupWidth, dy[(shift * channels)..], channels, groupWidth,
                dPackedWeight[(k * block)..], groupWidth, kernel * block, accumulate: true, threads);
        }
    }
}

/// <summary>A per-thread buffer for the padded copies, grown on demand and kept.</summary>
internal static class ConvScratch<T> where T : unmanaged
{
    [ThreadStatic]
    private static T[]? t_buffer;

    public static T[] Get(int length)
    {
        if (t_buffer is null || t_buffer.Length < length)
        {
            t_buffer = new T[length];
        }
        return t_buffer;
    }
}

/// <summary>
/// For every group g: <c>C_g[r, :] += Σ_p A_g[r·rowStride + p·depthStride] · B_g[p, :]</c>, with
/// rows <c>[0, rows)</c>, depth <c>[0, depth)</c> and <c>width</c> columns, split among threads by
/// (group, row block).
/// </summary>
/// <remarks>
/// A's rows may overlap (row stride below the depth), which is what lets the convolution skip the
/// im2col copy. Each element is one fused multiply-add chain over p from zero, added to C at the end.
/// </remarks>
internal sealed unsafe class GroupProducts<T> : IParallelWork where T : unmanaged, IFloatingPointIeee754<T>
{
    // Below this many multiply-adds the product runs on the calling thread.
    private const long ParallelThreshold = 1L << 18;

    // Output rows per unit of parallel work: a multiple of every kernel's row tile (6 and 12).
    private const int RowsPerUnit = 48;

    [ThreadStatic]
    private static GroupProducts<T>? t_cached;

    private T* _a, _b, _c;
    private nint _groupStrideA, _rowStrideA, _depthStrideA, _groupStrideB, _ldb, _groupStrideC, _ldc;
    private int _rows, _depth, _width, _unitsPerGroup, _units, _parts;

    public static void Run(
        ReadOnlySpan<T> a, nint groupStrideA, nint rowStride, nint depthStride,
        ReadOnlySpan<T> b, nint groupStrideB, nint ldb,
        Span<T> c, nint groupStrideC, nint ldc,
        int groups, int rows, int depth, int width, int threads)
    {
        var work = t_cached ?? new GroupProducts<T>();
        t_cached = null;
        try
        {
            fixed (T* pa = a, pb = b, pc = c)
            {
                work._a = pa;
                work._b = pb;
                work._c = pc;
                work._groupStrideA = groupStrideA;
                work._rowStrideA = rowStride;
                work._depthStrideA = depthStride;
                work._groupStrideB = groupStrideB;
                work._ldb = ldb;
                work._groupStrideC = groupStrideC;
                work._ldc = ldc;
                work._rows = rows;
                work._depth = depth;
                work._width = width;
                work._unitsPerGroup = (rows + RowsPerUnit - 1) / RowsPerUnit;
                work._units = groups * work._unitsPerGroup;
                int parts = threads > 0 ? threads : Gemm.DefaultThreads;
                if ((long)groups * rows * depth * width < ParallelThreshold)
                {
                    parts = 1;
                }
                work._parts = Math.Clamp(Math.Min(parts, work._units), 1, WorkerPool.MaxParts);
                WorkerPool.Shared.Run(work, work._parts);
            }
        }
        finally
        {
            work._a = work._b = work._c = null;
            t_cached = work;
        }
    }

    // Part p takes a contiguous range of (group, row block) units, so each thread keeps few groups' B in its cache.
    public void Execute(int part)
    {
        int first = (int)((long)_units * part / _parts), last = (int)((long)_units * (part + 1) / _parts);
        for (int unit = first; unit < last; unit++)
        {
            int g = unit / _unitsPerGroup, start = unit % _unitsPerGroup * RowsPerUnit;
            int end = Math.Min(start + RowsPerUnit, _rows);
            Multiply(_a + g * _groupStrideA + start * _rowStrideA, _b + g * _groupStrideB, _c + g * _groupStrideC + start * _ldc, end - start);
        }
    }

    // Rows [0, rows) of one group: column blocks of 4, 2 and 1 vectors, then single columns.
    private void Multiply(T* a, T* b, T* c, int rows)
    {
        int lanes = Vector512<T>.Count, column = 0;
        for (; column + 4 * lanes <= _width; column += 4 * lanes)
        {
            int r = 0;
            for (; r + 6 <= rows; r += 6)
            {
                Tile6x4(a + r * _rowStrideA, _depthStrideA, _depth, b + column, _ldb, c + r * _ldc + column, _ldc, _rowStrideA);
            }
            for (; r < rows; r++)
            {
                RowVectors(a + r * _rowStrideA, _depthStrideA, _depth, b + column, _ldb, c + r * _ldc + column, 4);
            }
        }
        for (; column + 2 * lanes <= _width; column += 2 * lanes)
        {
            int r = 0;
            for (; r + 12 <= rows; r += 12)
            {
                Tile12x2(a + r * _rowStrideA, _depthStrideA, _depth, b + column, _ldb, c + r * _ldc + column, _ldc, _rowStrideA);
            }
            for (; r < rows; r++)
            {
                RowVectors(a + r * _rowStrideA, _depthStrideA, _depth, b + column, _ldb, c + r * _ldc + column, 2);
            }
        }
        for (; column + lanes <= _width; column += lanes)
        {
            int r = 0;
            for (; r + 12 <= rows; r += 12)
            {
                Tile12x1(a + r * _rowStrideA, _depthStrideA, _depth, b + column, _ldb, c + r * _ldc + column, _ldc, _rowStrideA);
            }
            for (; r < rows; r++)
            {
                RowVectors(a + r * _rowStrideA, _depthStrideA, _depth, b + column, _ldb, c + r * _ldc + column, 1);
            }
        }
        for (; column < _width; column++)
        {
            for (int r = 0; r < rows; r++)
            {
                T* ar = a + r * _rowStrideA;
                T sum = T.Zero;
                for (int p = 0; p < _depth; p++)
                {
                    sum = T.FusedMultiplyAdd(ar[p * _depthStrideA], b[p * _ldb + column], sum);
                }
                c[r * _ldc + column] += sum;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (typeof(T) == typeof(float))
        {
            return Vector512.FusedMultiplyAdd(a.As<T, float>(), b.As<T, float>(), c.As<T, float>()).As<float, T>();
        }
        return Vector512.FusedMultiplyAdd(a.As<T, double>(), b.As<T, double>(), c.As<T, double>()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(T* c, Vector512<T> value) => (Vector512.Load(c) + value).Store(c);

    // One row, `vectors` vectors of columns: the remainder rows of a column block.
    private static void RowVectors(T* a, nint depthStride, int depth, T* b, nint ldb, T* c, int vectors)
    {
        int lanes = Vector512<T>.Count;
        for (int v = 0; v < vectors; v++)
        {
            Vector512<T> sum = Vector512<T>.Zero;
            T* ap = a, bp = b + v * lanes;
            for (int p = 0; p < depth; p++)
            {
                sum = Fma(Vector512.Create(*ap), Vector512.Load(bp), sum);
                ap += depthStride;
                bp += ldb;
            }
            Add(c + v * lanes, sum);
        }
    }

    // C[6, 4 vectors] += A[6 rows, depth] · B[depth, 4 vectors]; the 24 accumulators are named locals so
    // that the JIT keeps them in registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6x4(T* a, nint depthStride, int depth, T* b, nint ldb, T* c, nint ldc, nint rowStride)
    {
        int l = Vector512<T>.Count;
        Vector512<T> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<T> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<T> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<T> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<T> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<T> c50 = default, c51 = default, c52 = default, c53 = default;
        T* a0 = a, a1 = a + rowStride, a2 = a + 2 * rowStride, a3 = a + 3 * rowStride, a4 = a + 4 * rowStride, a5 = a + 5 * rowStride;
        for (int p = 0; p < depth; p++)
        {
            Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + l), b2 = Vector512.Load(b + 2 * l), b3 = Vector512.Load(b + 3 * l);
            Vector512<T> x = Vector512.Create(*a0);
            c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01); c02 = Fma(x, b2, c02); c03 = Fma(x, b3, c03);
            x = Vector512.Create(*a1);
            c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11); c12 = Fma(x, b2, c12); c13 = Fma(x, b3, c13);
            x = Vector512.Create(*a2);
            c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21); c22 = Fma(x, b2, c22); c23 = Fma(x, b3, c23);
            x = Vector512.Create(*a3);
            c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31); c32 = Fma(x, b2, c32); c33 = Fma(x, b3, c33);
            x = Vector512.Create(*a4);
            c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41); c42 = Fma(x, b2, c42); c43 = Fma(x, b3, c43);
            x = Vector512.Create(*a5);
            c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51); c52 = Fma(x, b2, c52); c53 = Fma(x, b3, c53);
            a0 += depthStride; a1 += depthStride; a2 += depthStride; a3 += depthStride; a4 += depthStride; a5 += depthStride;
            b += ldb;
        }
        Add(c, c00); Add(c + l, c01); Add(c + 2 * l, c02); Add(c + 3 * l, c03);
        c += ldc;
        Add(c, c10); Add(c + l, c11); Add(c + 2 * l, c12); Add(c + 3 * l, c13);
        c += ldc;
        Add(c, c20); Add(c + l, c21); Add(c + 2 * l, c22); Add(c + 3 * l, c23);
        c += ldc;
        Add(c, c30); Add(c + l, c31); Add(c + 2 * l, c32); Add(c + 3 * l, c33);
        c += ldc;
        Add(c, c40); Add(c + l, c41); Add(c + 2 * l, c42); Add(c + 3 * l, c43);
        c += ldc;
        Add(c, c50); Add(c + l, c51); Add(c + 2 * l, c52); Add(c + 3 * l, c53);
    }

    // C[12, 2 vectors] += A[12 rows, depth] · B[depth, 2 vectors].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile12x2(T* a, nint depthStride, int depth, T* b, nint ldb, T* c, nint ldc, nint rowStride)
    {
        int l = Vector512<T>.Count;
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<T> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<T> c90 = default, c91 = default, cA0 = default, cA1 = default, cB0 = default, cB1 = default;
        nint r = rowStride;
        for (int p = 0; p < depth; p++)
        {
            Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + l);
            Vector512<T> x = Vector512.Create(a[0]);
            c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector512.Create(a[r]);
            c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector512.Create(a[2 * r]);
            c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector512.Create(a[3 * r]);
            c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector512.Create(a[4 * r]);
            c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector512.Create(a[5 * r]);
            c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            x = Vector512.Create(a[6 * r]);
            c60 = Fma(x, b0, c60); c61 = Fma(x, b1, c61);
            x = Vector512.Create(a[7 * r]);
            c70 = Fma(x, b0, c70); c71 = Fma(x, b1, c71);
            x = Vector512.Create(a[8 * r]);
            c80 = Fma(x, b0, c80); c81 = Fma(x, b1, c81);
            x = Vector512.Create(a[9 * r]);
            c90 = Fma(x, b0, c90); c91 = Fma(x, b1, c91);
            x = Vector512.Create(a[10 * r]);
            cA0 = Fma(x, b0, cA0); cA1 = Fma(x, b1, cA1);
            x = Vector512.Create(a[11 * r]);
            cB0 = Fma(x, b0, cB0); cB1 = Fma(x, b1, cB1);
            a += depthStride;
            b += ldb;
        }
        Add(c, c00); Add(c + l, c01); c += ldc;
        Add(c, c10); Add(c + l, c11); c += ldc;
        Add(c, c20); Add(c + l, c21); c += ldc;
        Add(c, c30); Add(c + l, c31); c += ldc;
        Add(c, c40); Add(c + l, c41); c += ldc;
        Add(c, c50); Add(c + l, c51); c += ldc;
        Add(c, c60); Add(c + l, c61); c += ldc;
        Add(c, c70); Add(c + l, c71); c += ldc;
        Add(c, c80); Add(c + l, c81); c += ldc;
        Add(c, c90); Add(c + l, c91); c += ldc;
        Add(c, cA0); Add(c + l, cA1); c += ldc;
        Add(c, cB0); Add(c + l, cB1);
    }

    // C[12, 1 vector] += A[12 rows, depth] · B[depth, 1 vector].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile12x1(T* a, nint depthStride, int depth, T* b, nint ldb, T* c, nint ldc, nint rowStride)
    {
        Vector512<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector512<T> c6 = default, c7 = default, c8 = default, c9 = default, cA = default, cB = default;
        nint r = rowStride;
        for (int p = 0; p < depth; p++)
        {
            Vector512<T> b0 = Vector512.Load(b);
            c0 = Fma(Vector512.Create(a[0]), b0, c0);
            c1 = Fma(Vector512.Create(a[r]), b0, c1);
            c2 = Fma(Vector512.Create(a[2 * r]), b0, c2);
            c3 = Fma(Vector512.Create(a[3 * r]), b0, c3);
            c4 = Fma(Vector512.Create(a[4 * r]), b0, c4);
            c5 = Fma(Vector512.Create(a[5 * r]), b0, c5);
            c6 = Fma(Vector512.Create(a[6 * r]), b0, c6);
            c7 = Fma(Vector512.Create(a[7 * r]), b0, c7);
            c8 = Fma(Vector512.Create(a[8 * r]), b0, c8);
            c9 = Fma(Vector512.Create(a[9 * r]), b0, c9);
            cA = Fma(Vector512.Create(a[10 * r]), b0, cA);
            cB = Fma(Vector512.Create(a[11 * r]), b0, cB);
            a += depthStride;
            b += ldb;
        }
        Add(c, c0); c += ldc;
        Add(c, c1); c += ldc;
        Add(c, c2); c += ldc;
        Add(c, c3); c += ldc;
        Add(c, c4); c += ldc;
        Add(c, c5); c += ldc;
        Add(c, c6); c += ldc;
        Add(c, c7); c += ldc;
        Add(c, c8); c += ldc;
        Add(c, c9); c += ldc;
        Add(c, cA); c += ldc;
        Add(c, cB);
    }
}
