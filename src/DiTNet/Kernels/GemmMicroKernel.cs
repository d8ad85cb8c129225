using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DiTNet.Kernels;

// The register-tiled inner loops, unrolled by hand. With AVX-512 each k step loads two vectors of the
// packed B panel, broadcasts 12 values of the packed A panel and issues 24 fused multiply-adds; the
// AVX2 kernels do the same for 6 rows, since AVX2 has 16 vector registers instead of 32.
public static partial class Gemm
{
    /// <summary>C[12, 32] (=|+=) A panel [kc, 12] · B panel [kc, 32], both packed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel12x32(float* a, float* b, int kc, float* c, nint ldc, bool add)
    {
        // start fetching the C tile now, so the read-modify-write after the k loop does not wait for memory
        for (int r = 0; r < 12; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + 31);
        }

        // 24 accumulators in named locals: taking their address (a Span, stackalloc, array) makes the
        // JIT spill them to the stack on every k step, which costs three quarters of the speed
        Vector512<float> c00 = default, c01 = default;
        Vector512<float> c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default;
        Vector512<float> c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default;
        Vector512<float> c70 = default, c71 = default;
        Vector512<float> c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default;
        Vector512<float> cA0 = default, cA1 = default;
        Vector512<float> cB0 = default, cB1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b);
            Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> a0 = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            Vector512<float> a1 = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            Vector512<float> a2 = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            Vector512<float> a3 = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            Vector512<float> a4 = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            Vector512<float> a5 = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            Vector512<float> a6 = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(a6, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
            Vector512<float> a7 = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(a7, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
            Vector512<float> a8 = Vector512.Create(a[8]);
            c80 = Vector512.FusedMultiplyAdd(a8, b0, c80);
            c81 = Vector512.FusedMultiplyAdd(a8, b1, c81);
            Vector512<float> a9 = Vector512.Create(a[9]);
            c90 = Vector512.FusedMultiplyAdd(a9, b0, c90);
            c91 = Vector512.FusedMultiplyAdd(a9, b1, c91);
            Vector512<float> aA = Vector512.Create(a[10]);
            cA0 = Vector512.FusedMultiplyAdd(aA, b0, cA0);
            cA1 = Vector512.FusedMultiplyAdd(aA, b1, cA1);
            Vector512<float> aB = Vector512.Create(a[11]);
            cB0 = Vector512.FusedMultiplyAdd(aB, b0, cB0);
            cB1 = Vector512.FusedMultiplyAdd(aB, b1, cB1);
            a += 12;
            b += 32;
        }

        StoreRow(c + 0 * ldc, c00, c01, add);
        StoreRow(c + 1 * ldc, c10, c11, add);
        StoreRow(c + 2 * ldc, c20, c21, add);
        StoreRow(c + 3 * ldc, c30, c31, add);
        StoreRow(c + 4 * ldc, c40, c41, add);
        StoreRow(c + 5 * ldc, c50, c51, add);
        StoreRow(c + 6 * ldc, c60, c61, add);
        StoreRow(c + 7 * ldc, c70, c71, add);
        StoreRow(c + 8 * ldc, c80, c81, add);
        StoreRow(c + 9 * ldc, c90, c91, add);
        StoreRow(c + 10 * ldc, cA0, cA1, add);
        StoreRow(c + 11 * ldc, cB0, cB1, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreRow(float* c, Vector512<float> low, Vector512<float> high, bool add)
    {
        if (add)
        {
            low += Vector512.Load(c);
            high += Vector512.Load(c + 16);
        }
        low.Store(c);
        high.Store(c + 16);
    }

    /// <summary>C[12, 16] (=|+=) A panel [kc, 12] · B panel [kc, 16], both packed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel12x16(double* a, double* b, int kc, double* c, nint ldc, bool add)
    {
        // start fetching the C tile now, so the read-modify-write after the k loop does not wait for memory
        for (int r = 0; r < 12; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + 15);
        }

        // 24 accumulators in named locals: taking their address (a Span, stackalloc, array) makes the
        // JIT spill them to the stack on every k step, which costs three quarters of the speed
        Vector512<double> c00 = default, c01 = default;
        Vector512<double> c10 = default, c11 = default;
        Vector512<double> c20 = default, c21 = default;
        Vector512<double> c30 = default, c31 = default;
        Vector512<double> c40 = default, c41 = default;
        Vector512<double> c50 = default, c51 = default;
        Vector512<double> c60 = default, c61 = default;
        Vector512<double> c70 = default, c71 = default;
        Vector512<double> c80 = default, c81 = default;
        Vector512<double> c90 = default, c91 = default;
        Vector512<double> cA0 = default, cA1 = default;
        Vector512<double> cB0 = default, cB1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<double> b0 = Vector512.Load(b);
            Vector512<double> b1 = Vector512.Load(b + 8);
            Vector512<double> a0 = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            Vector512<double> a1 = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            Vector512<double> a2 = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            Vector512<double> a3 = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            Vector512<double> a4 = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            Vector512<double> a5 = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            Vector512<double> a6 = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(a6, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
            Vector512<double> a7 = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(a7, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
            Vector512<double> a8 = Vector512.Create(a[8]);
            c80 = Vector512.FusedMultiplyAdd(a8, b0, c80);
            c81 = Vector512.FusedMultiplyAdd(a8, b1, c81);
            Vector512<double> a9 = Vector512.Create(a[9]);
            c90 = Vector512.FusedMultiplyAdd(a9, b0, c90);
            c91 = Vector512.FusedMultiplyAdd(a9, b1, c91);
            Vector512<double> aA = Vector512.Create(a[10]);
            cA0 = Vector512.FusedMultiplyAdd(aA, b0, cA0);
            cA1 = Vector512.FusedMultiplyAdd(aA, b1, cA1);
            Vector512<double> aB = Vector512.Create(a[11]);
            cB0 = Vector512.FusedMultiplyAdd(aB, b0, cB0);
            cB1 = Vector512.FusedMultiplyAdd(aB, b1, cB1);
            a += 12;
            b += 16;
        }

        StoreRow(c + 0 * ldc, c00, c01, add);
        StoreRow(c + 1 * ldc, c10, c11, add);
        StoreRow(c + 2 * ldc, c20, c21, add);
        StoreRow(c + 3 * ldc, c30, c31, add);
        StoreRow(c + 4 * ldc, c40, c41, add);
        StoreRow(c + 5 * ldc, c50, c51, add);
        StoreRow(c + 6 * ldc, c60, c61, add);
        StoreRow(c + 7 * ldc, c70, c71, add);
        StoreRow(c + 8 * ldc, c80, c81, add);
        StoreRow(c + 9 * ldc, c90, c91, add);
        StoreRow(c + 10 * ldc, cA0, cA1, add);
        StoreRow(c + 11 * ldc, cB0, cB1, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreRow(double* c, Vector512<double> low, Vector512<double> high, bool add)
    {
        if (add)
        {
            low += Vector512.Load(c);
            high += Vector512.Load(c + 8);
        }
        low.Store(c);
        high.Store(c + 8);
    }

    /// <summary>C[6, 16] (=|+=) A panel [kc, 6] · B panel [kc, 16], both packed: the AVX2 kernel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel6x16(float* a, float* b, int kc, float* c, nint ldc, bool add)
    {
        for (int r = 0; r < 6; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + 15);
        }

        // 12 accumulators, two B vectors and one broadcast: 15 of the 16 ymm registers
        Vector256<float> c00 = default, c01 = default;
        Vector256<float> c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default;
        Vector256<float> c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> a0 = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            Vector256<float> a1 = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            Vector256<float> a2 = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            Vector256<float> a3 = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            Vector256<float> a4 = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            Vector256<float> a5 = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            a += 6;
            b += 16;
        }

        StoreRow(c + 0 * ldc, c00, c01, add);
        StoreRow(c + 1 * ldc, c10, c11, add);
        StoreRow(c + 2 * ldc, c20, c21, add);
        StoreRow(c + 3 * ldc, c30, c31, add);
        StoreRow(c + 4 * ldc, c40, c41, add);
        StoreRow(c + 5 * ldc, c50, c51, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreRow(float* c, Vector256<float> low, Vector256<float> high, bool add)
    {
        if (add)
        {
            low += Vector256.Load(c);
            high += Vector256.Load(c + 8);
        }
        low.Store(c);
        high.Store(c + 8);
    }

    /// <summary>C[6, 8] (=|+=) A panel [kc, 6] · B panel [kc, 8], both packed: the AVX2 kernel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel6x8(double* a, double* b, int kc, double* c, nint ldc, bool add)
    {
        for (int r = 0; r < 6; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + 7);
        }

        // 12 accumulators, two B vectors and one broadcast: 15 of the 16 ymm registers
        Vector256<double> c00 = default, c01 = default;
        Vector256<double> c10 = default, c11 = default;
        Vector256<double> c20 = default, c21 = default;
        Vector256<double> c30 = default, c31 = default;
        Vector256<double> c40 = default, c41 = default;
        Vector256<double> c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<double> b0 = Vector256.Load(b);
            Vector256<double> b1 = Vector256.Load(b + 4);
            Vector256<double> a0 = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            Vector256<double> a1 = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            Vector256<double> a2 = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            Vector256<double> a3 = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            Vector256<double> a4 = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            Vector256<double> a5 = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            a += 6;
            b += 8;
        }

        StoreRow(c + 0 * ldc, c00, c01, add);
        StoreRow(c + 1 * ldc, c10, c11, add);
        StoreRow(c + 2 * ldc, c20, c21, add);
        StoreRow(c + 3 * ldc, c30, c31, add);
        StoreRow(c + 4 * ldc, c40, c41, add);
        StoreRow(c + 5 * ldc, c50, c51, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreRow(double* c, Vector256<double> low, Vector256<double> high, bool add)
    {
        if (add)
        {
            low += Vector256.Load(c);
            high += Vector256.Load(c + 4);
        }
        low.Store(c);
        high.Store(c + 4);
    }
}
