using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DiTNet.Kernels;

// The cache-blocked loops around the micro-kernel and the split of C among threads.
public static partial class Gemm
{
    // Block sizes for the common x86 caches of 32 KiB L1d and 1-2 MiB L2 per core. KC is the k steps
    // per packed panel, MC the rows of packed A kept in L2, NC the columns of packed B per block,
    // streamed from L3. For float, KC 1024 measured 5% faster at 2 threads than KC 256, whose B panel
    // fits L1 (Zen 4, 1024³ and the DiT shapes). The B panel [1024, 32] (128 KiB) and the A block
    // [96, 1024] (384 KiB) both fit L2, which feeds the kernel fast enough, and with k up to 1024 a
    // product reads and writes C once.
    private const int KCFloat = 1024;
    private const int MCFloat = 96;
    private const int NCFloat = 2048;
    private const int KCDouble = 256;
    private const int MCDouble = 96;
    private const int NCDouble = 1024;

    // A·Bᵀ with at most this many rows of C takes the unpacked path (GemmSmallRows.cs): a 12-row tile
    // would be mostly padding, and packing B would copy a weight matrix that is read only once anyway.
    private const int SmallRows = 4;

    // Below this many multiply-adds a call runs on the calling thread: waking a worker costs
    // about as much as the whole product.
    private const long ParallelThreshold = 1L << 20;

    private static int KC<T>() => typeof(T) == typeof(float) ? KCFloat : KCDouble;

    private static int MC<T>() => typeof(T) == typeof(float) ? MCFloat : MCDouble;

    private static int NC<T>() => typeof(T) == typeof(float) ? NCFloat : NCDouble;

    /// <summary>Whether the packed kernels handle <typeparamref name="T"/>; other types take the reference loop.</summary>
    private static bool IsPacked<T>() => typeof(T) == typeof(float) || typeof(T) == typeof(double);

    /// <summary>Runs a checked (batched) product on pinned operands.</summary>
    private static unsafe void Run<T>(
        Transpose transA, Transpose transB, int m, int n, int k, int batch,
        T* a, int lda, long strideA, T* b, int ldb, long strideB,
        T* c, int ldc, long strideC, bool accumulate, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var call = GemmCall<T>.Rent();
        call.TransA = transA == Transpose.Yes;
        call.TransB = transB == Transpose.Yes;
        call.M = m;
        call.N = n;
        call.K = k;
        call.Batch = batch;
        call.A = a;
        call.B = b;
        call.C = c;
        call.Lda = lda;
        call.Ldb = ldb;
        call.Ldc = ldc;
        call.StrideA = strideA;
        call.StrideB = strideB;
        call.StrideC = strideC;
        call.Accumulate = accumulate;

        int parts = threads > 0 ? threads : DefaultThreads;
        if ((long)m * n * k * batch < ParallelThreshold)
        {
            parts = 1;
        }

        // whole batch items per thread when items are disjoint and share out evenly; otherwise every
        // thread takes its slice of each item in turn
        int panelsM = (m + MR - 1) / MR;
        int panelsN = (n + NR<T>() - 1) / NR<T>();
        bool disjoint = batch == 1 || ItemsDisjoint(m, n, ldc, strideC, batch);
        // Column panels that share out evenly go first, even when there are more row panels. Each
        // thread then packs only its own B columns and never waits at a barrier. Packing all of A
        // costs each thread about threads/n of its work. With 2 threads this split measured faster
        // than splitting rows from 256³ to 2048³ (benchmarks/gemm-vs-openblas.sh, docs/performance.md).
        bool columnsEven = panelsN % parts == 0 && panelsN >= 2 * parts;
        call.SplitRows = panelsM >= panelsN && !columnsEven;
        call.SplitItems = batch > 1 && disjoint && (batch % parts == 0 || batch >= 4 * parts);
        int units = panelsN;
        if (call.SplitItems)
        {
            units = batch;
        }
        else if (call.SplitRows)
        {
            units = panelsM;
        }

        // items that partly overlap would let two threads write one element in either order
        if (!disjoint && strideC != 0)
        {
            units = 1;
        }
        call.Parts = Math.Clamp(Math.Min(parts, units), 1, WorkerPool.MaxParts);

        try
        {
            if (call.Parts == 1)
            {
                call.Execute(0);
            }
            else if (call.SplitItems || !call.SplitRows)
            {
                WorkerPool.Shared.Run(call, call.Parts);
            }
            else
            {
                // threads splitting the rows all need the same packed B: each packs its share into
                // one buffer instead of each packing all of it
                call.SharedB = Workspace<T>.Current(MC<T>() * KC<T>(), KC<T>() * NC<T>(), MR * NR<T>()).B;
                call.Barrier.Reset(call.Parts);
                bool concurrent = WorkerPool.Shared.TryRun(call, call.Parts);
                call.SharedB = null;
                if (!concurrent)
                {
                    WorkerPool.Shared.Run(call, call.Parts);
                }
            }
        }
        finally
        {
            call.Release();
        }
    }

    /// <summary>
    /// Whether the C items of a batch occupy disjoint elements: stacked one after another, or side by
    /// side within the rows (attention heads in <c>[N, H·Dh]</c>).
    /// </summary>
    private static bool ItemsDisjoint(int m, int n, int ldc, long strideC, int batch)
    {
        long extent = (long)(m - 1) * ldc + n;
        bool stacked = strideC >= extent;
        bool sideBySide = strideC >= n && (batch - 1) * strideC + n <= ldc;
        return stacked || sideBySide;
    }

    /// <summary>One GEMM call's arguments and its split into parts, reused per calling thread.</summary>
    private sealed unsafe partial class GemmCall<T> : IParallelWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic]
        private static GemmCall<T>? t_free;

        public bool TransA;
        public bool TransB;
        public bool Accumulate;
        public int M;
        public int N;
        public int K;
        public int Batch;
        public T* A;
        public T* B;
        public T* C;
        public nint Lda;
        public nint Ldb;
        public nint Ldc;
        public long StrideA;
        public long StrideB;
        public long StrideC;
        public int Parts;
        public bool SplitItems;
        public bool SplitRows;

        /// <summary>The packed B block all parts share, or null when each part packs its own.</summary>
        public T* SharedB;

        /// <summary>Orders the parts around each shared B block: packed before use, used before repacked.</summary>
        public readonly SpinBarrier Barrier = new();

        public static GemmCall<T> Rent()
        {
            var call = t_free ?? new GemmCall<T>();
            t_free = null;
            return call;
        }

        public void Release()
        {
            A = B = C = SharedB = null;
            t_free = this;
        }

        public void Execute(int part)
        {
            if (SplitItems)
            {
                int first = (int)((long)Batch * part / Parts);
                int last = (int)((long)Batch * (part + 1) / Parts);
                for (int item = first; item < last; item++)
                {
                    ComputeItem(part, item, 0, M, 0, N);
                }
                return;
            }

            // a contiguous run of whole micro-tiles, so no tile is computed by two threads
            int tile = SplitRows ? MR : NR<T>();
            int panels = ((SplitRows ? M : N) + tile - 1) / tile;
            int start = (int)((long)panels * part / Parts) * tile;
            int end = Math.Min(SplitRows ? M : N, (int)((long)panels * (part + 1) / Parts) * tile);
            for (int item = 0; item < Batch; item++)
            {
                if (SplitRows)
                {
                    ComputeItem(part, item, start, end, 0, N);
                }
                else
                {
                    ComputeItem(part, item, 0, M, start, end);
                }
            }
        }

        private void ComputeItem(int part, int item, int rowStart, int rowEnd, int colStart, int colEnd)
        {
            T* c = C + item * StrideC;
            if (K == 0)
            {
                if (!Accumulate)
                {
                    for (int i = rowStart; i < rowEnd; i++)
                    {
                        new Span<T>(c + i * Ldc + colStart, colEnd - colStart).Clear();
                    }
                }
                return;
            }
            if (M <= SmallRows && !TransA && TransB && SharedB is null)
            {
                ComputeSmallRows(A + item * StrideA, B + item * StrideB, c, rowStart, rowEnd, colStart, colEnd);
                return;
            }
            ComputeBlocked(part, A + item * StrideA, B + item * StrideB, c, rowStart, rowEnd, colStart, colEnd);
        }

        /// <summary>C rows <c>[rowStart, rowEnd)</c> × columns <c>[colStart, colEnd)</c>, blocked for the caches.</summary>
        /// <remarks>With a shared B, <paramref name="part"/> packs its share of each B block and waits for the others.</remarks>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void ComputeBlocked(int part, T* a, T* b, T* c, int rowStart, int rowEnd, int colStart, int colEnd)
        {
            int mcMax = MC<T>();
            int ncMax = NC<T>();
            int nrFull = NR<T>();
            int kcMax = KC<T>();
            var workspace = Workspace<T>.Current(mcMax * kcMax, kcMax * ncMax, MR * nrFull);

            // equal k blocks, a function of k alone: every element sums its k blocks in the same
            // order whatever the thread count, which keeps results bitwise reproducible
            int kBlocks = (K + kcMax - 1) / kcMax;
            int kcStep = (K + kBlocks - 1) / kBlocks;

            for (int jc = colStart; jc < colEnd; jc += ncMax)
            {
                int nc = Math.Min(ncMax, colEnd - jc);
                for (int pc = 0; pc < K; pc += kcStep)
                {
                    int kc = Math.Min(kcStep, K - pc);
                    bool add = Accumulate || pc > 0;
                    T* packedB = workspace.B;
                    if (SharedB is null)
                    {
                        PackB(packedB, b, Ldb, TransB, pc, kc, jc, nc);
                    }
                    else
                    {
                        packedB = SharedB;
                        int panels = (nc + nrFull - 1) / nrFull;
                        int first = panels * part / Parts * nrFull;
                        int last = Math.Min(nc, panels * (part + 1) / Parts * nrFull);
                        if (first < last)
                        {
                            PackB(packedB + (nint)first * kc, b, Ldb, TransB, pc, kc, jc + first, last - first);
                        }
                        Barrier.SignalAndWait();
                    }

                    for (int ic = rowStart; ic < rowEnd; ic += mcMax)
                    {
                        int mc = Math.Min(mcMax, rowEnd - ic);
                        PackA(workspace.A, a, Lda, TransA, ic, mc, pc, kc);
                        MultiplyPacked(workspace, packedB, kc, mc, nc, c + ic * Ldc + jc, add);
                    }

                    if (SharedB is not null)
                    {
                        Barrier.SignalAndWait();
                    }
                }
            }
        }

        /// <summary>C block <c>[mc, nc]</c> (=|+=) packed A <c>[mc, kc]</c> · packed B <c>[kc, nc]</c>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void MultiplyPacked(Workspace<T> workspace, T* packedB, int kc, int mc, int nc, T* c, bool add)
        {
            int nrFull = NR<T>();
            for (int jr = 0; jr < nc; jr += nrFull)
            {
                int nr = Math.Min(nrFull, nc - jr);
                T* bPanel = packedB + (nint)jr * kc;
                for (int ir = 0; ir < mc; ir += MR)
                {
                    int mr = Math.Min(MR, mc - ir);
                    T* aPanel = workspace.A + (nint)ir * kc;
                    T* cTile = c + ir * Ldc + jr;
                    if (mr == MR && nr == nrFull)
                    {
                        Kernel(aPanel, bPanel, kc, cTile, Ldc, add);
                        continue;
                    }

                    // an edge tile: the full tile goes to scratch, and only its valid part to C
                    Kernel(aPanel, bPanel, kc, workspace.Tile, nrFull, add: false);
                    for (int i = 0; i < mr; i++)
                    {
                        T* source = workspace.Tile + i * nrFull;
                        T* target = cTile + i * Ldc;
                        for (int j = 0; j < nr; j++)
                        {
                            target[j] = add ? target[j] + source[j] : source[j];
                        }
                    }
                }
            }
        }

        private static void Kernel(T* a, T* b, int kc, T* c, nint ldc, bool add)
        {
            if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
            {
                Kernel12x32((float*)a, (float*)b, kc, (float*)c, ldc, add);
            }
            else if (Vector512.IsHardwareAccelerated)
            {
                Kernel12x16((double*)a, (double*)b, kc, (double*)c, ldc, add);
            }
            else if (typeof(T) == typeof(float))
            {
                // NOTE: without AVX2 (Arm64 has 128-bit vectors) this kernel runs on emulated 256-bit
                // vectors: correct, but several times slower than a 128-bit kernel would be
                Kernel6x16((float*)a, (float*)b, kc, (float*)c, ldc, add);
            }
            else
            {
                Kernel6x8((double*)a, (double*)b, kc, (double*)c, ldc, add);
            }
        }
    }
}
