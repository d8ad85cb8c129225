using System.Numerics;
using DiTNet.Kernels;

namespace DiTNet.Tests;

/// <summary>
/// The packed GEMM against a plain double-precision loop, on shapes that leave partial micro-tiles
/// (12 rows × 32 float or 16 double columns) and partial k blocks (256) at every edge.
/// </summary>
/// <remarks>
/// Tolerance: the rounding error of a k-term dot product is at most about <c>k·u·Σ|a||b|</c>
/// (u = eps/2, unit roundoff), whatever order the terms are summed in, so each element is allowed
/// <c>k·eps·Σ_p |a_ip||b_pj| + eps·|c_ij|</c>: twice that bound, plus one rounding of the addition onto
/// an accumulated C. A wrong index or a lost k block misses by O(|a||b|), far outside it.
/// </remarks>
public class GemmTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 },
        { 7, 17, 31 },
        { 17, 31, 7 },
        { 31, 64, 129 },
        { 64, 1, 255 },
        { 129, 7, 64 },
        { 1, 255, 17 },
        { 255, 129, 31 },
        { 12, 32, 1000 },
        { 1000, 31, 17 },
        { 31, 1000, 7 },
        { 129, 64, 1000 },

        // wider than one packed column block of B (2048 float or 1024 double columns)
        { 17, 2100, 31 },

        // longer than one packed k block (1024 float or 256 double steps)
        { 31, 64, 2100 },

        // four rows or fewer take the unpacked path
        { 3, 255, 129 },
        { 4, 1000, 64 },
    };

    /// <summary>Every transpose form, writing and accumulating.</summary>
    private static IEnumerable<(Transpose TransA, Transpose TransB, bool Accumulate)> Forms()
    {
        foreach (var transA in new[] { Transpose.No, Transpose.Yes })
        {
            foreach (var transB in new[] { Transpose.No, Transpose.Yes })
            {
                yield return (transA, transB, false);
                yield return (transA, transB, true);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Compute_FloatAllForms_MatchesDoubleLoop(int m, int n, int k)
    {
        foreach (var (transA, transB, accumulate) in Forms())
        {
            CheckAgainstLoop<float>(transA, transB, m, n, k, accumulate, padding: 0, threads: 2);
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Compute_DoubleAllForms_MatchesDoubleLoop(int m, int n, int k)
    {
        foreach (var (transA, transB, accumulate) in Forms())
        {
            CheckAgainstLoop<double>(transA, transB, m, n, k, accumulate, padding: 0, threads: 2);
        }
    }

    [Theory]
    [InlineData(7, 17, 31)]
    [InlineData(129, 64, 255)]
    [InlineData(31, 255, 17)]
    public void Compute_StridesWiderThanRows_MatchesLoopAndKeepsPadding(int m, int n, int k)
    {
        foreach (var (transA, transB, accumulate) in Forms())
        {
            CheckAgainstLoop<float>(transA, transB, m, n, k, accumulate, padding: 5, threads: 2);
            CheckAgainstLoop<double>(transA, transB, m, n, k, accumulate, padding: 3, threads: 1);
        }
    }

    [Fact]
    public void Compute_ReferenceLoop_MatchesDoubleLoop()
    {
        // the scalar reference kept beside the fast path must itself be right
        var random = new Random(5);
        double[] a = RandomArray<double>(random, 17 * 31);
        double[] b = RandomArray<double>(random, 31 * 7);
        double[] c = new double[17 * 7];
        double[] expected = new double[17 * 7];
        Gemm.ComputeReference<double>(Transpose.No, Transpose.No, 17, 7, 31, a, 31, b, 7, c, 7, accumulate: false);
        Multiply(Transpose.No, Transpose.No, 17, 7, 31, a, 31, b, 7, expected, 7, accumulate: false);

        for (int i = 0; i < c.Length; i++)
        {
            Assert.Equal(expected[i], c[i], 1e-12);
        }
    }

    [Theory]
    [InlineData(Transpose.No, Transpose.No, 255, 129, 64)]
    [InlineData(Transpose.No, Transpose.Yes, 1000, 64, 31)]
    [InlineData(Transpose.Yes, Transpose.No, 64, 1000, 129)]
    [InlineData(Transpose.Yes, Transpose.Yes, 129, 255, 255)]
    [InlineData(Transpose.No, Transpose.Yes, 17, 1000, 255)]
    [InlineData(Transpose.No, Transpose.Yes, 2, 1000, 1000)]
    [InlineData(Transpose.No, Transpose.No, 3, 1000, 1000)]
    [InlineData(Transpose.No, Transpose.No, 129, 70, 1100)]
    public void Compute_OneTwoThreeThreads_BitwiseEqual(Transpose transA, Transpose transB, int m, int n, int k)
    {
        var random = new Random(m + n + k);
        float[] a = RandomArray<float>(random, m * k);
        float[] b = RandomArray<float>(random, k * n);
        float[] start = RandomArray<float>(random, m * n);
        int lda = transA == Transpose.No ? k : m;
        int ldb = transB == Transpose.No ? n : k;

        float[] single = (float[])start.Clone();
        Gemm.Compute<float>(transA, transB, m, n, k, a, lda, b, ldb, single, n, accumulate: true, threads: 1);
        foreach (int threads in new[] { 2, 3 })
        {
            float[] c = (float[])start.Clone();
            Gemm.Compute<float>(transA, transB, m, n, k, a, lda, b, ldb, c, n, accumulate: true, threads);
            Assert.True(single.AsSpan().SequenceEqual(c), $"{threads} threads differ from one thread.");
        }

        double[] ad = Array.ConvertAll(a, x => (double)x);
        double[] bd = Array.ConvertAll(b, x => (double)x);
        double[] singleDouble = new double[m * n];
        Gemm.Compute<double>(transA, transB, m, n, k, ad, lda, bd, ldb, singleDouble, n, accumulate: false, threads: 1);
        foreach (int threads in new[] { 2, 3 })
        {
            double[] c = new double[m * n];
            Gemm.Compute<double>(transA, transB, m, n, k, ad, lda, bd, ldb, c, n, accumulate: false, threads);
            Assert.True(singleDouble.AsSpan().SequenceEqual(c), $"{threads} threads differ from one thread in double.");
        }
    }

    [Theory]
    [InlineData(Transpose.No, Transpose.Yes, 4, 200, 200, 64)]
    [InlineData(Transpose.No, Transpose.No, 3, 129, 64, 129)]
    [InlineData(Transpose.Yes, Transpose.No, 5, 64, 31, 129)]
    [InlineData(Transpose.No, Transpose.Yes, 16, 17, 17, 64)]
    public void ComputeBatched_InterleavedHeads_MatchesLoopPerHead(Transpose transA, Transpose transB, int heads, int m, int n, int k)
    {
        // heads side by side in each row, as attention lays out q, k, v: [N, H·Dh] with head stride Dh
        var random = new Random(heads * 1000 + m);
        int aCols = transA == Transpose.No ? k : m;
        int aRows = transA == Transpose.No ? m : k;
        int bCols = transB == Transpose.No ? n : k;
        int bRows = transB == Transpose.No ? k : n;
        int lda = heads * aCols, ldb = heads * bCols, ldc = heads * n;
        float[] a = RandomArray<float>(random, aRows * lda);
        float[] b = RandomArray<float>(random, bRows * ldb);
        float[] start = RandomArray<float>(random, m * ldc);

        foreach (bool accumulate in new[] { false, true })
        {
            float[] expected = (float[])start.Clone();
            float[] tolerance = new float[expected.Length];
            for (int h = 0; h < heads; h++)
            {
                Expect(transA, transB, m, n, k, a.AsSpan(h * aCols), lda, b.AsSpan(h * bCols), ldb,
                    expected.AsSpan(h * n), tolerance.AsSpan(h * n), ldc, accumulate);
            }

            float[] single = (float[])start.Clone();
            Gemm.ComputeBatched<float>(transA, transB, m, n, k, heads,
                a, lda, aCols, b, ldb, bCols, single, ldc, n, accumulate, threads: 1);
            AssertWithin(expected, tolerance, single, $"batched {transA}/{transB} accumulate={accumulate}");

            foreach (int threads in new[] { 2, 3 })
            {
                float[] c = (float[])start.Clone();
                Gemm.ComputeBatched<float>(transA, transB, m, n, k, heads,
                    a, lda, aCols, b, ldb, bCols, c, ldc, n, accumulate, threads);
                Assert.True(single.AsSpan().SequenceEqual(c), $"{threads} threads differ from one thread.");
            }
        }
    }

    [Fact]
    public void ComputeBatched_StackedItems_MatchesLoopPerItem()
    {
        const int batch = 6, m = 31, n = 129, k = 64;
        var random = new Random(11);
        long strideA = m * k + 3, strideB = k * n + 5, strideC = m * n + 7;
        double[] a = RandomArray<double>(random, (int)(batch * strideA));
        double[] b = RandomArray<double>(random, (int)(batch * strideB));
        double[] c = RandomArray<double>(random, (int)(batch * strideC));
        double[] expected = (double[])c.Clone();
        double[] tolerance = new double[c.Length];
        for (int i = 0; i < batch; i++)
        {
            Expect(Transpose.No, Transpose.No, m, n, k, a.AsSpan((int)(i * strideA)), k, b.AsSpan((int)(i * strideB)), n,
                expected.AsSpan((int)(i * strideC)), tolerance.AsSpan((int)(i * strideC)), n, accumulate: false);
        }

        Gemm.ComputeBatched<double>(Transpose.No, Transpose.No, m, n, k, batch, a, k, strideA, b, n, strideB, c, n, strideC,
            accumulate: false, threads: 2);

        AssertWithin(expected, tolerance, c, "stacked batch");
    }

    [Fact]
    public void ComputeBatched_SharedOutput_AddsEveryItem()
    {
        // a zero C stride accumulates all items into one matrix, as a weight gradient over a batch does
        const int batch = 5, m = 64, n = 64, k = 129;
        var random = new Random(13);
        float[] a = RandomArray<float>(random, batch * m * k);
        float[] b = RandomArray<float>(random, batch * k * n);
        float[] expected = new float[m * n];
        float[] tolerance = new float[m * n];
        for (int i = 0; i < batch; i++)
        {
            Expect(Transpose.No, Transpose.No, m, n, k, a.AsSpan(i * m * k), k, b.AsSpan(i * k * n), n,
                expected, tolerance, n, accumulate: true);
        }

        float[] c = new float[m * n];
        Gemm.ComputeBatched<float>(Transpose.No, Transpose.No, m, n, k, batch, a, k, m * k, b, n, k * n, c, n, 0,
            accumulate: true, threads: 2);

        AssertWithin(expected, tolerance, c, "shared output");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Compute_ZeroK_ClearsOrKeepsC(bool accumulate)
    {
        float[] c = [1, 2, 3, 4, 5, 6];
        Gemm.Compute<float>(Transpose.No, Transpose.No, 2, 3, 0, [], [], c, accumulate);
        Assert.Equal(accumulate ? new float[] { 1, 2, 3, 4, 5, 6 } : new float[6], c);
    }

    [Fact]
    public void Compute_EmptyOutput_LeavesSpansUntouched()
    {
        float[] c = [7];
        Gemm.Compute<float>(Transpose.No, Transpose.No, 0, 3, 2, [], [1, 2, 3, 4, 5, 6], c, accumulate: false);
        Assert.Equal(7, c[0]);
    }

    [Theory]
    [InlineData("a", 5, 6, 6)]
    [InlineData("b", 6, 5, 6)]
    [InlineData("c", 6, 6, 3)]
    public void Compute_ShortSpan_ThrowsNamingOperand(string operand, int aLength, int bLength, int cLength)
    {
        // A [2, 3], B [3, 2], C [2, 2] stored with stride 3 for A and 2 for B and C
        var error = Assert.Throws<ArgumentException>(() => Gemm.Compute<float>(Transpose.No, Transpose.No, 2, 2, 3,
            new float[aLength], 3, new float[bLength], 2, new float[cLength], 2, accumulate: false));
        Assert.Equal(operand, error.ParamName);
        Assert.Contains("needs", error.Message);
    }

    [Theory]
    [InlineData("a", 2, 2, 2)]
    [InlineData("b", 3, 1, 2)]
    [InlineData("c", 3, 2, 1)]
    public void Compute_StrideSmallerThanWidth_ThrowsNamingOperand(string operand, int lda, int ldb, int ldc)
    {
        var error = Assert.Throws<ArgumentException>(() => Gemm.Compute<float>(Transpose.No, Transpose.No, 2, 2, 3,
            new float[100], lda, new float[100], ldb, new float[100], ldc, accumulate: false));
        Assert.Equal(operand, error.ParamName);
        Assert.Contains("stride", error.Message);
    }

    [Fact]
    public void Compute_TransposedShortSpan_ThrowsNamingOperand()
    {
        // Aᵀ is stored [k, m] = [3, 4]: 12 elements needed with stride 4
        var error = Assert.Throws<ArgumentException>(() => Gemm.Compute<float>(Transpose.Yes, Transpose.No, 4, 2, 3,
            new float[11], 4, new float[6], 2, new float[8], 2, accumulate: false));
        Assert.Equal("a", error.ParamName);
    }

    [Fact]
    public void Compute_NegativeSize_Throws()
    {
        Assert.Throws<ArgumentException>(() => Gemm.Compute<float>(Transpose.No, Transpose.No, -1, 2, 3,
            new float[6], new float[6], new float[6], accumulate: false));
    }

    [Theory]
    [InlineData("a", 7, 4)]
    [InlineData("c", 6, 5)]
    public void ComputeBatched_ItemOutsideSpan_ThrowsNamingOperand(string operand, long strideA, long strideC)
    {
        // three items of A [2, 3], B [3, 2], C [2, 2]; A has 18 elements and C 12
        var error = Assert.Throws<ArgumentException>(() => Gemm.ComputeBatched<float>(Transpose.No, Transpose.No, 2, 2, 3, 3,
            new float[18], 3, strideA, new float[18], 2, 6, new float[12], 2, strideC, accumulate: false));
        Assert.Equal(operand, error.ParamName);
    }

    [Fact]
    public void ComputeBatched_NegativeStride_ThrowsNamingOperand()
    {
        var error = Assert.Throws<ArgumentException>(() => Gemm.ComputeBatched<float>(Transpose.No, Transpose.No, 2, 2, 3, 2,
            new float[12], 3, 6, new float[12], 2, -6, new float[8], 2, 4, accumulate: false));
        Assert.Equal("b", error.ParamName);
    }

    private static void CheckAgainstLoop<T>(Transpose transA, Transpose transB, int m, int n, int k, bool accumulate, int padding, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(m * 31 + n * 7 + k);
        int aRows = transA == Transpose.No ? m : k, aCols = transA == Transpose.No ? k : m;
        int bRows = transB == Transpose.No ? k : n, bCols = transB == Transpose.No ? n : k;
        int lda = aCols + padding, ldb = bCols + padding, ldc = n + padding;
        T[] a = RandomArray<T>(random, aRows * lda);
        T[] b = RandomArray<T>(random, bRows * ldb);
        T[] c = RandomArray<T>(random, m * ldc);
        T[] expected = (T[])c.Clone();
        T[] tolerance = new T[c.Length];
        Expect<T>(transA, transB, m, n, k, a, lda, b, ldb, expected, tolerance, ldc, accumulate);

        Gemm.Compute<T>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, threads);

        // padding columns of C must keep their values: the expectation left them as they were
        AssertWithin(expected, tolerance, c, $"{typeof(T).Name} {transA}/{transB} m={m} n={n} k={k} accumulate={accumulate} padding={padding}");
    }

    /// <summary>Writes the double-precision product and each element's rounding allowance (see the class remarks).</summary>
    private static void Expect<T>(Transpose transA, Transpose transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, Span<T> tolerance, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // machine epsilon, the gap between 1 and the next value (T.Epsilon is the smallest subnormal)
        double eps = typeof(T) == typeof(float) ? MathF.BitIncrement(1f) - 1f : Math.BitIncrement(1.0) - 1.0;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0, magnitude = 0;
                for (int p = 0; p < k; p++)
                {
                    double x = double.CreateTruncating(transA == Transpose.No ? a[i * lda + p] : a[p * lda + i]);
                    double y = double.CreateTruncating(transB == Transpose.No ? b[p * ldb + j] : b[j * ldb + p]);
                    sum += x * y;
                    magnitude += Math.Abs(x * y);
                }
                double start = accumulate ? double.CreateTruncating(c[i * ldc + j]) : 0;
                c[i * ldc + j] = T.CreateTruncating(start + sum);
                tolerance[i * ldc + j] += T.CreateTruncating(k * eps * magnitude + eps * Math.Abs(start + sum));
            }
        }
    }

    private static void Multiply(Transpose transA, Transpose transB, int m, int n, int k,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, Span<double> c, int ldc, bool accumulate)
    {
        Span<double> ignored = new double[c.Length];
        Expect(transA, transB, m, n, k, a, lda, b, ldb, c, ignored, ldc, accumulate);
    }

    private static void AssertWithin<T>(T[] expected, T[] tolerance, T[] actual, string what)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double e = double.CreateTruncating(expected[i]);
            double x = double.CreateTruncating(actual[i]);
            double allowed = double.CreateTruncating(tolerance[i]);
            if (!(Math.Abs(x - e) <= allowed))
            {
                Assert.Fail($"{what}: element {i} is {x:R}, expected {e:R} within {allowed:E2}.");
            }
        }
    }

    private static T[] RandomArray<T>(Random random, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = T.CreateTruncating(random.NextDouble() * 2 - 1);
        }
        return values;
    }
}
