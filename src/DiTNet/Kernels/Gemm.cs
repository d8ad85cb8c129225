using System.Numerics;

namespace DiTNet.Kernels;

/// <summary>Whether a GEMM operand is used as stored or transposed.</summary>
public enum Transpose
{
    /// <summary>Use the matrix as stored.</summary>
    No,

    /// <summary>Use the transpose of the stored matrix.</summary>
    Yes,
}

/// <summary>
/// General matrix multiply on row-major matrices: <c>C = op(A)·op(B)</c> or <c>C += op(A)·op(B)</c>.
/// </summary>
/// <remarks>
/// <para>op(A) is <c>[m, k]</c>, op(B) is <c>[k, n]</c>, C is <c>[m, n]</c>. A stored untransposed is
/// <c>[m, k]</c> with row stride <c>lda ≥ k</c>; stored transposed it is <c>[k, m]</c> with <c>lda ≥ m</c>;
/// likewise B. Threads split C into disjoint tiles and never split the k reduction, so the result
/// is bitwise identical for every thread count.</para>
/// <para><c>threads</c> ≤ 0 means <see cref="DefaultThreads"/>.</para>
/// <para>float and double run packed, cache-blocked, register-tiled kernels (AVX-512, else AVX2 shapes,
/// which sum each element in the same order); other element types run the plain triple loop.
/// C must not overlap A or B.</para>
/// </remarks>
public static partial class Gemm
{
    /// <summary>The thread count used when a call passes 0: all cores unless changed.</summary>
    public static int DefaultThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>Computes <c>C (=|+=) op(A)·op(B)</c> on strided row-major matrices.</summary>
    /// <param name="a">A: <c>[m, k]</c> (or <c>[k, m]</c> when transposed), row stride <paramref name="lda"/>.</param>
    /// <param name="b">B: <c>[k, n]</c> (or <c>[n, k]</c> when transposed), row stride <paramref name="ldb"/>.</param>
    /// <param name="c">C: <c>[m, n]</c>, row stride <paramref name="ldc"/>.</param>
    /// <exception cref="ArgumentException">A size is negative, a stride too small, or a span too short.</exception>
    public static void Compute<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate, int threads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckOperands(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        ComputePacked(transA, transB, m, n, k, 1, a, lda, 0, b, ldb, 0, c, ldc, 0, accumulate, threads);
    }

    /// <summary>Computes <c>C (=|+=) op(A)·op(B)</c> on densely stored matrices.</summary>
    public static void Compute<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> c, bool accumulate, int threads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lda = transA == Transpose.No ? k : m;
        int ldb = transB == Transpose.No ? n : k;
        Compute(transA, transB, m, n, k, a, lda, b, ldb, c, n, accumulate, threads);
    }

    /// <summary>
    /// Computes <c>batch</c> independent products <c>C_i (=|+=) op(A_i)·op(B_i)</c>, where item i
    /// of each operand starts <c>i · stride</c> elements after item 0 (for attention heads).
    /// </summary>
    /// <remarks>
    /// C items may lie one after another, side by side within rows (heads in <c>[N, H·Dh]</c>), or all at
    /// one place (<paramref name="strideC"/> = 0 with <paramref name="accumulate"/>, to sum over the batch).
    /// Other overlapping layouts run on one thread, in item order.
    /// </remarks>
    /// <exception cref="ArgumentException">A size, count or stride is negative, a row stride too small, or a span too short for the last item.</exception>
    public static void ComputeBatched<T>(
        Transpose transA, Transpose transB, int m, int n, int k, int batch,
        ReadOnlySpan<T> a, int lda, long strideA, ReadOnlySpan<T> b, int ldb, long strideB,
        Span<T> c, int ldc, long strideC, bool accumulate, int threads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBatch(transA, transB, m, n, k, batch, a.Length, lda, strideA, b.Length, ldb, strideB, c.Length, ldc, strideC);
        ComputePacked(transA, transB, m, n, k, batch, a, lda, strideA, b, ldb, strideB, c, ldc, strideC, accumulate, threads);
    }

    private static unsafe void ComputePacked<T>(
        Transpose transA, Transpose transB, int m, int n, int k, int batch,
        ReadOnlySpan<T> a, int lda, long strideA, ReadOnlySpan<T> b, int ldb, long strideB,
        Span<T> c, int ldc, long strideC, bool accumulate, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0 || batch == 0)
        {
            return;
        }
        if (!IsPacked<T>())
        {
            for (int i = 0; i < batch; i++)
            {
                ComputeReference(transA, transB, m, n, k,
                    k == 0 ? a : a[(int)(i * strideA)..], lda, k == 0 ? b : b[(int)(i * strideB)..], ldb,
                    c[(int)(i * strideC)..], ldc, accumulate);
            }
            return;
        }

        fixed (T* pa = a, pb = b, pc = c)
        {
            Run(transA, transB, m, n, k, batch, pa, lda, strideA, pb, ldb, strideB, pc, ldc, strideC, accumulate, threads);
        }
    }

    /// <summary>The plain triple loop every optimized path is tested against.</summary>
    internal static void ComputeReference<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++)
                {
                    T x = transA == Transpose.No ? a[i * lda + p] : a[p * lda + i];
                    T y = transB == Transpose.No ? b[p * ldb + j] : b[j * ldb + p];
                    sum += x * y;
                }
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
            }
        }
    }

    internal static void CheckOperands(
        Transpose transA, Transpose transB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentException($"GEMM sizes must be non-negative, got m={m}, n={n}, k={k}.");
        }
        CheckMatrix("a", transA == Transpose.No ? m : k, transA == Transpose.No ? k : m, aLength, lda);
        CheckMatrix("b", transB == Transpose.No ? k : n, transB == Transpose.No ? n : k, bLength, ldb);
        CheckMatrix("c", m, n, cLength, ldc);
    }

    internal static void CheckBatch(
        Transpose transA, Transpose transB, int m, int n, int k, int batch,
        int aLength, int lda, long strideA, int bLength, int ldb, long strideB, int cLength, int ldc, long strideC)
    {
        if (batch < 0)
        {
            throw new ArgumentException($"The batch count must be non-negative, got {batch}.", nameof(batch));
        }
        CheckStride("a", strideA);
        CheckStride("b", strideB);
        CheckStride("c", strideC);
        if (batch == 0)
        {
            CheckOperands(transA, transB, m, n, k, aLength, lda, bLength, ldb, cLength, ldc);
            return;
        }

        // every item must fit: check the last one, which starts furthest in
        CheckOperands(transA, transB, m, n, k,
            ItemLength(aLength, strideA, batch, "a"), lda, ItemLength(bLength, strideB, batch, "b"), ldb,
            ItemLength(cLength, strideC, batch, "c"), ldc);
    }

    private static void CheckStride(string name, long stride)
    {
        if (stride < 0)
        {
            throw new ArgumentException($"The batch stride of {name} must be non-negative, got {stride}.", name);
        }
    }

    private static int ItemLength(int length, long stride, int batch, string name)
    {
        long start = (batch - 1) * stride;
        if (start > length)
        {
            throw new ArgumentException(
                $"Matrix {name} has {length} elements but its item {batch - 1} starts at {start} (batch stride {stride}).", name);
        }
        return (int)(length - start);
    }

    private static void CheckMatrix(string name, int rows, int cols, int length, int ld)
    {
        if (rows == 0 || cols == 0)
        {
            return;
        }
        if (ld < cols)
        {
            throw new ArgumentException($"Row stride {ld} of {name} is smaller than its {cols} columns.", name);
        }
        long needed = (long)(rows - 1) * ld + cols;
        if (length < needed)
        {
            throw new ArgumentException(
                $"Matrix {name} [{rows}, {cols}] with row stride {ld} needs {needed} elements but has {length}.", name);
        }
    }
}
