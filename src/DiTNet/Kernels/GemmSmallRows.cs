using System.Numerics;
using System.Runtime.CompilerServices;

namespace DiTNet.Kernels;

// Products A·Bᵀ with a few rows of C arise from a layer applied to one embedding per batch item. Each
// element of B is used only a few times, so the product is bound by reading B. It runs best straight
// from B, as dot products of contiguous rows. For [m, 1024]·[6144, 1024]ᵀ on one thread, the packed
// path at m = 5 took 1.5 to 3 times the processor time of this path at m = 2 to 4. Untransposed B
// gained nothing from the same treatment and stays on the packed path.
// Every element is still summed in an order fixed by k alone, so results do not depend on threads.
public static partial class Gemm
{
    private sealed unsafe partial class GemmCall<T>
    {
        /// <summary>C rows <c>[rowStart, rowEnd)</c> × columns <c>[colStart, colEnd)</c> of A·Bᵀ, read unpacked.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void ComputeSmallRows(T* a, T* b, T* c, int rowStart, int rowEnd, int colStart, int colEnd)
        {
            // each row of B is read from memory once, for all rows of A
            for (int j = colStart; j < colEnd; j++)
            {
                for (int i = rowStart; i < rowEnd; i++)
                {
                    T dot = Dot(a + i * Lda, b + j * Ldb, K);
                    T* target = c + i * Ldc + j;
                    *target = Accumulate ? *target + dot : dot;
                }
            }
        }

        /// <summary>Sums x·y over <paramref name="length"/> elements in an order fixed by the length alone.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static T Dot(T* x, T* y, int length)
        {
            int width = Vector<T>.Count;
            var sum0 = Vector<T>.Zero;
            var sum1 = Vector<T>.Zero;
            var sum2 = Vector<T>.Zero;
            var sum3 = Vector<T>.Zero;
            int p = 0;
            for (; p + 4 * width <= length; p += 4 * width)
            {
                sum0 += Vector.Load(x + p) * Vector.Load(y + p);
                sum1 += Vector.Load(x + p + width) * Vector.Load(y + p + width);
                sum2 += Vector.Load(x + p + 2 * width) * Vector.Load(y + p + 2 * width);
                sum3 += Vector.Load(x + p + 3 * width) * Vector.Load(y + p + 3 * width);
            }
            for (; p + width <= length; p += width)
            {
                sum0 += Vector.Load(x + p) * Vector.Load(y + p);
            }
            T dot = Vector.Sum(sum0 + sum1 + (sum2 + sum3));

            // the elements left over, one at a time
            for (; p < length; p++)
            {
                dot += x[p] * y[p];
            }
            return dot;
        }
    }
}
