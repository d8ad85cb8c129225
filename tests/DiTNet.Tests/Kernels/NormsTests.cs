using System.Numerics;
using System.Runtime.Intrinsics;
using DiTNet.Kernels;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Kernels;

public class NormsTests
{
    // The vector path sums in a different order than the scalar reference. With values of
    // magnitude ~3 the row sums differ by a few ulps, and normalization amplifies that a little.
    private const double FloatRtol = 1e-5, FloatAtol = 1e-6;
    private const double DoubleRtol = 1e-13, DoubleAtol = 1e-14;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LayerNormModulate_AllLengthsFloat_MatchesScalarReference(bool modulate)
        => CompareForward<float>(modulate, FloatAtol, FloatRtol);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LayerNormModulate_AllLengthsDouble_MatchesScalarReference(bool modulate)
        => CompareForward<double>(modulate, DoubleAtol, DoubleRtol);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LayerNormModulateBackward_AllLengthsFloat_MatchesScalarReference(bool modulate)
        => CompareBackward<float>(modulate, FloatAtol, FloatRtol);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LayerNormModulateBackward_AllLengthsDouble_MatchesScalarReference(bool modulate)
        => CompareBackward<double>(modulate, DoubleAtol, DoubleRtol);

    [Fact]
    public void LayerNormModulate_ConstantRow_GivesShift()
    {
        // A constant row has zero variance: the epsilon keeps rstd finite and x̂ is exactly zero.
        float[] x = Enumerable.Repeat(3.5f, 37).ToArray();
        float[] shift = Enumerable.Range(0, 37).Select(i => (float)i).ToArray();
        float[] scale = Enumerable.Repeat(2f, 37).ToArray();
        var y = new float[37];
        var (mean, rstd) = Norms.LayerNormModulate<float>(x, scale, shift, y);
        Assert.Equal(3.5f, mean);
        Assert.Equal(1000f, rstd, 1e-2f);
        Assert.Equal(shift, y);
    }

    [Fact]
    public void LayerNormModulate_InPlace_MatchesOutOfPlace()
    {
        float[] x = Values<float>(45, 1);
        var expected = new float[45];
        Norms.LayerNormModulate<float>(x, [], [], expected);
        Norms.LayerNormModulate<float>(x, [], [], x);
        Assert.Equal(expected, x);
    }

    private static void CompareForward<T>(bool modulate, double atol, double rtol) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int length = 1; length <= 3 * Vector512<T>.Count + 1; length++)
        {
            T[] x = Values<T>(length, (ulong)length);
            T[] scale = modulate ? Values<T>(length, 100 + (ulong)length) : [];
            T[] shift = modulate ? Values<T>(length, 200 + (ulong)length) : [];
            var actual = new T[length];
            var expected = new T[length];
            var (mean, rstd) = Norms.LayerNormModulate<T>(x, scale, shift, actual);
            var (meanReference, rstdReference) = Norms.LayerNormModulateReference<T>(x, scale, shift, expected);
            TensorAssert.AllClose($"y length {length}", [length],
                TensorAssert.ToDouble<T>(actual), TensorAssert.ToDouble<T>(expected), atol, rtol);
            TensorAssert.AllClose($"mean and rstd length {length}", [2],
                [double.CreateTruncating(mean), double.CreateTruncating(rstd)],
                [double.CreateTruncating(meanReference), double.CreateTruncating(rstdReference)], atol, rtol);
        }
    }

    private static void CompareBackward<T>(bool modulate, double atol, double rtol) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int length = 1; length <= 3 * Vector512<T>.Count + 1; length++)
        {
            T[] x = Values<T>(length, (ulong)length);
            T[] scale = modulate ? Values<T>(length, 100 + (ulong)length) : [];
            T[] dy = Values<T>(length, 300 + (ulong)length);
            var (mean, rstd) = Norms.LayerNormModulateReference<T>(x, scale, [], new T[length]);

            // start from nonzero gradients to check that the kernels add
            T[] dx = Values<T>(length, 400 + (ulong)length), dxReference = (T[])dx.Clone();
            T[] dScale = modulate ? Values<T>(length, 500 + (ulong)length) : [], dScaleReference = (T[])dScale.Clone();
            T[] dShift = Values<T>(length, 600 + (ulong)length), dShiftReference = (T[])dShift.Clone();
            Norms.LayerNormModulateBackward<T>(x, mean, rstd, scale, dy, dx, dScale, dShift);
            Norms.LayerNormModulateBackwardReference<T>(x, mean, rstd, scale, dy, dxReference, dScaleReference, dShiftReference);
            TensorAssert.AllClose($"dx length {length}", [length],
                TensorAssert.ToDouble<T>(dx), TensorAssert.ToDouble<T>(dxReference), atol, rtol);
            TensorAssert.AllClose($"dScale length {length}", [dScale.Length],
                TensorAssert.ToDouble<T>(dScale), TensorAssert.ToDouble<T>(dScaleReference), atol, rtol);
            TensorAssert.AllClose($"dShift length {length}", [length],
                TensorAssert.ToDouble<T>(dShift), TensorAssert.ToDouble<T>(dShiftReference), atol, rtol);
        }
    }

    private static T[] Values<T>(int length, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        var random = new RandomSource(seed);
        for (int i = 0; i < length; i++)
        {
            values[i] = T.CreateTruncating(1 + 3 * random.NextGaussian());
        }
        return values;
    }
}
