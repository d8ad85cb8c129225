using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DiTNet.Kernels;

// Packing copies a block of each operand into the order the micro-kernel reads it, so the kernel's
// loads are sequential, aligned and free of strides and transposes. Partial panels are padded with
// zeros, which add nothing to the sums they enter.
public static partial class Gemm
{
    /// <summary>Rows of C per micro-tile, both element types: 12 with AVX-512, 6 with AVX2's 16 registers.</summary>
    private static int MR => Vector512.IsHardwareAccelerated ? 12 : 6;

    /// <summary>Columns of C per micro-tile: two vectors.</summary>
    private static int NR<T>() => 2 * (Vector512.IsHardwareAccelerated ? Vector512<T>.Count : Vector256<T>.Count);

    /// <summary>Packs A rows <c>[i0, i0+mc)</c>, k range <c>[p0, p0+kc)</c>, as panels <c>[kc, MR]</c>, one per MR rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PackA<T>(T* dst, T* a, nint lda, bool transposed, int i0, int mc, int p0, int kc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int ir = 0; ir < mc; ir += MR)
        {
            int mr = Math.Min(MR, mc - ir);
            T* d = dst + (nint)ir * kc;
            if (transposed)
            {
                // A is stored [k, m]: each k step of the panel is a contiguous run of mr values
                T* src = a + (nint)p0 * lda + i0 + ir;
                if (mr == 12 && MR == 12)
                {
                    // 12 values: 8 + 4 floats, or 8 + 4 doubles
                    for (int p = 0; p < kc; p++, src += lda, d += MR)
                    {
                        if (typeof(T) == typeof(float))
                        {
                            Vector256.Load((float*)src).Store((float*)d);
                            Vector128.Load((float*)src + 8).Store((float*)d + 8);
                        }
                        else
                        {
                            Vector512.Load((double*)src).Store((double*)d);
                            Vector256.Load((double*)src + 8).Store((double*)d + 8);
                        }
                    }
                    continue;
                }
                for (int p = 0; p < kc; p++, src += lda, d += MR)
                {
                    int r = 0;
                    for (; r < mr; r++)
                    {
                        d[r] = src[r];
                    }
                    for (; r < MR; r++)
                    {
                        d[r] = T.Zero;
                    }
                }
            }
            else if (mr == MR)
            {
                T* s = a + (nint)(i0 + ir) * lda + p0;
                int p = 0;
                if (typeof(T) == typeof(float) && MR == 12 && Avx512F.IsSupported)
                {
                    // 16 k steps of the 12 rows at a time, transposed in registers. Each 16-wide output
                    // row spills 4 values into the next row's place, and the next store overwrites them.
                    for (; p + 16 <= kc; p += 16)
                    {
                        Transpose16x16((float*)(s + p), lda, 12, (float*)(d + (nint)p * MR), MR);
                    }
                }

                // the k steps left over, one row stream at a time
                nint l = lda;
                for (d += (nint)p * MR; p < kc; p++, d += MR)
                {
                    for (int r = 0; r < MR; r++)
                    {
                        d[r] = s[r * l + p];
                    }
                }
            }
            else
            {
                // the last, partial panel
                for (int r = 0; r < MR; r++)
                {
                    T* s = a + (nint)(i0 + ir + r) * lda + p0;
                    for (int p = 0; p < kc; p++)
                    {
                        d[(nint)p * MR + r] = r < mr ? s[p] : T.Zero;
                    }
                }
            }
        }
    }

    /// <summary>Packs B k range <c>[p0, p0+kc)</c>, columns <c>[j0, j0+nc)</c>, as panels <c>[kc, NR]</c>, one per NR columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PackB<T>(T* dst, T* b, nint ldb, bool transposed, int p0, int kc, int j0, int nc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nrFull = NR<T>();
        int lanes = nrFull / 2;
        for (int jr = 0; jr < nc; jr += nrFull)
        {
            int nr = Math.Min(nrFull, nc - jr);
            T* d = dst + (nint)jr * kc;
            if (transposed)
            {
                // B is stored [n, k]: column j of op(B) is a contiguous row of the stored matrix
                if (nr == nrFull && typeof(T) == typeof(float))
                {
                    for (int j = 0; j < nrFull; j += 16)
                    {
                        PackTransposedPanel16((float*)(b + (nint)(j0 + jr + j) * ldb + p0), ldb, kc, (float*)d + j, nrFull);
                    }
                    continue;
                }
                for (int j = 0; j < nrFull; j++)
                {
                    T* s = b + (nint)(j0 + jr + j) * ldb + p0;
                    for (int p = 0; p < kc; p++)
                    {
                        d[(nint)p * nrFull + j] = j < nr ? s[p] : T.Zero;
                    }
                }
            }
            else
            {
                T* s = b + (nint)p0 * ldb + j0 + jr;
                for (int p = 0; p < kc; p++, s += ldb, d += nrFull)
                {
                    if (nr == nrFull && Vector512.IsHardwareAccelerated)
                    {
                        Vector512.Load(s).Store(d);
                        Vector512.Load(s + lanes).Store(d + lanes);
                        continue;
                    }
                    if (nr == nrFull)
                    {
                        Vector256.Load(s).Store(d);
                        Vector256.Load(s + lanes).Store(d + lanes);
                        continue;
                    }
                    int j = 0;
                    for (; j < nr; j++)
                    {
                        d[j] = s[j];
                    }
                    for (; j < nrFull; j++)
                    {
                        d[j] = T.Zero;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Writes 16 source rows of <paramref name="kc"/> floats as <paramref name="kc"/> destination rows of 16,
    /// with destination row stride <paramref name="ldd"/>: the transposed-B pack, 16 columns at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PackTransposedPanel16(float* src, nint lds, int kc, float* dst, nint ldd)
    {
        int p = 0;
        if (Avx512F.IsSupported)
        {
            // transpose 16×16 blocks in registers instead of 256 scattered scalar stores
            for (; p + 16 <= kc; p += 16)
            {
                Transpose16x16(src + p, lds, 16, dst + (nint)p * ldd, ldd);
            }
        }

        // the k steps left over, one scalar at a time
        for (; p < kc; p++)
        {
            for (int j = 0; j < 16; j++)
            {
                dst[(nint)p * ldd + j] = src[(nint)j * lds + p];
            }
        }
    }

    /// <summary>
    /// Stores the transpose of the 16×16 block at <paramref name="src"/> as 16 rows of 16 at <paramref name="dst"/>,
    /// in increasing address order; source rows from <paramref name="rows"/> on are read as zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Transpose16x16(float* src, nint lds, int rows, float* dst, nint ldd)
    {
        // rows r0..r15, then four rounds of interleaving: 32-bit, 64-bit, 128-bit lanes, 256-bit halves
        var r0 = Vector512.Load(src);
        var r1 = Vector512.Load(src + lds);
        var r2 = Vector512.Load(src + 2 * lds);
        var r3 = Vector512.Load(src + 3 * lds);
        var r4 = Vector512.Load(src + 4 * lds);
        var r5 = Vector512.Load(src + 5 * lds);
        var r6 = Vector512.Load(src + 6 * lds);
        var r7 = Vector512.Load(src + 7 * lds);
        var r8 = Vector512.Load(src + 8 * lds);
        var r9 = Vector512.Load(src + 9 * lds);
        var rA = Vector512.Load(src + 10 * lds);
        var rB = Vector512.Load(src + 11 * lds);
        var rC = rows > 12 ? Vector512.Load(src + 12 * lds) : Vector512<float>.Zero;
        var rD = rows > 13 ? Vector512.Load(src + 13 * lds) : Vector512<float>.Zero;
        var rE = rows > 14 ? Vector512.Load(src + 14 * lds) : Vector512<float>.Zero;
        var rF = rows > 15 ? Vector512.Load(src + 15 * lds) : Vector512<float>.Zero;

        // 32-bit interleave of row pairs
        var t0 = Avx512F.UnpackLow(r0, r1);
        var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3);
        var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5);
        var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7);
        var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9);
        var t9 = Avx512F.UnpackHigh(r8, r9);
        var tA = Avx512F.UnpackLow(rA, rB);
        var tB = Avx512F.UnpackHigh(rA, rB);
        var tC = Avx512F.UnpackLow(rC, rD);
        var tD = Avx512F.UnpackHigh(rC, rD);
        var tE = Avx512F.UnpackLow(rE, rF);
        var tF = Avx512F.UnpackHigh(rE, rF);

        // 64-bit interleave: each 128-bit lane now contains one column of four rows
        var u0 = UnpackLow64(t0, t2);
        var u1 = UnpackHigh64(t0, t2);
        var u2 = UnpackLow64(t1, t3);
        var u3 = UnpackHigh64(t1, t3);
        var u4 = UnpackLow64(t4, t6);
        var u5 = UnpackHigh64(t4, t6);
        var u6 = UnpackLow64(t5, t7);
        var u7 = UnpackHigh64(t5, t7);
        var u8 = UnpackLow64(t8, tA);
        var u9 = UnpackHigh64(t8, tA);
        var uA = UnpackLow64(t9, tB);
        var uB = UnpackHigh64(t9, tB);
        var uC = UnpackLow64(tC, tE);
        var uD = UnpackHigh64(tC, tE);
        var uE = UnpackLow64(tD, tF);
        var uF = UnpackHigh64(tD, tF);

        // 128-bit lanes: gather lane i of rows 0-3 and 4-7 (and 8-11, 12-15)
        var v0 = Shuffle128(u0, u4, 0x88);
        var v1 = Shuffle128(u1, u5, 0x88);
        var v2 = Shuffle128(u2, u6, 0x88);
        var v3 = Shuffle128(u3, u7, 0x88);
        var v4 = Shuffle128(u0, u4, 0xDD);
        var v5 = Shuffle128(u1, u5, 0xDD);
        var v6 = Shuffle128(u2, u6, 0xDD);
        var v7 = Shuffle128(u3, u7, 0xDD);
        var v8 = Shuffle128(u8, uC, 0x88);
        var v9 = Shuffle128(u9, uD, 0x88);
        var vA = Shuffle128(uA, uE, 0x88);
        var vB = Shuffle128(uB, uF, 0x88);
        var vC = Shuffle128(u8, uC, 0xDD);
        var vD = Shuffle128(u9, uD, 0xDD);
        var vE = Shuffle128(uA, uE, 0xDD);
        var vF = Shuffle128(uB, uF, 0xDD);

        // halves: rows 0-7 with rows 8-15
        Shuffle128(v0, v8, 0x88).Store(dst);
        Shuffle128(v1, v9, 0x88).Store(dst + ldd);
        Shuffle128(v2, vA, 0x88).Store(dst + 2 * ldd);
        Shuffle128(v3, vB, 0x88).Store(dst + 3 * ldd);
        Shuffle128(v4, vC, 0x88).Store(dst + 4 * ldd);
        Shuffle128(v5, vD, 0x88).Store(dst + 5 * ldd);
        Shuffle128(v6, vE, 0x88).Store(dst + 6 * ldd);
        Shuffle128(v7, vF, 0x88).Store(dst + 7 * ldd);
        Shuffle128(v0, v8, 0xDD).Store(dst + 8 * ldd);
        Shuffle128(v1, v9, 0xDD).Store(dst + 9 * ldd);
        Shuffle128(v2, vA, 0xDD).Store(dst + 10 * ldd);
        Shuffle128(v3, vB, 0xDD).Store(dst + 11 * ldd);
        Shuffle128(v4, vC, 0xDD).Store(dst + 12 * ldd);
        Shuffle128(v5, vD, 0xDD).Store(dst + 13 * ldd);
        Shuffle128(v6, vE, 0xDD).Store(dst + 14 * ldd);
        Shuffle128(v7, vF, 0xDD).Store(dst + 15 * ldd);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> UnpackLow64(Vector512<float> x, Vector512<float> y) =>
        Avx512F.UnpackLow(x.AsDouble(), y.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> UnpackHigh64(Vector512<float> x, Vector512<float> y) =>
        Avx512F.UnpackHigh(x.AsDouble(), y.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Shuffle128(Vector512<float> x, Vector512<float> y, [ConstantExpected] byte control) =>
        Avx512F.Shuffle4x128(x, y, control);

    /// <summary>Per-thread packing buffers, kept for the thread's life so no call allocates.</summary>
    private sealed unsafe class Workspace<T> where T : unmanaged
    {
        [ThreadStatic]
        private static Workspace<T>? t_current;

        // the arrays are pinned on the pinned-object heap; the pointers below stay valid while this object lives
        private readonly byte[] _storage;

        private Workspace(int aLength, int bLength, int tileLength)
        {
            const int Align = 64;

            // the transposing pack of A writes up to 4 values past its panel's end
            const int Slack = 16;
            aLength += Slack;
            int bytes = (aLength + bLength + tileLength) * sizeof(T) + 3 * Align;
            _storage = GC.AllocateUninitializedArray<byte>(bytes, pinned: true);
            byte* start = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
            byte* aligned = (byte*)(((nint)start + Align - 1) & ~(nint)(Align - 1));
            A = (T*)aligned;
            B = (T*)(((nint)(A + aLength) + Align - 1) & ~(nint)(Align - 1));
            Tile = (T*)(((nint)(B + bLength) + Align - 1) & ~(nint)(Align - 1));
        }

        /// <summary>Packed A block, <c>[MC, KC]</c> as panels.</summary>
        public T* A { get; }

        /// <summary>Packed B block, <c>[KC, NC]</c> as panels.</summary>
        public T* B { get; }

        /// <summary>One micro-tile of C, <c>[MR, NR]</c>, for partial tiles at the edges.</summary>
        public T* Tile { get; }

        public static Workspace<T> Current(int aLength, int bLength, int tileLength) =>
            t_current ??= new Workspace<T>(aLength, bLength, tileLength);
    }
}
