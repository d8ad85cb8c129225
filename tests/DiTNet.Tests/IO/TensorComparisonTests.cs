using DiTNet.IO;

namespace DiTNet.Tests.IO;

public sealed class TensorComparisonTests
{
    [Fact]
    public void Compare_KnownDifference_ComputesRelativeL2AndWorstElement()
    {
        float[] expected = [3, 4, 0, 0, 0, 0];
        float[] actual = [3, 4, 0, 0, 0.5f, 0];

        var comparison = TensorComparison.Compare<float>("t", [2, 3], actual, expected, 0.2);

        // ‖[0, 0, 0, 0, 0.5, 0]‖ / ‖[3, 4, 0, ...]‖ = 0.5 / 5
        Assert.Equal(0.1, comparison.RelativeError, 12);
        Assert.Equal(0.5, comparison.MaxAbsError, 12);
        Assert.Equal(4, comparison.MaxAbsIndex);
        Assert.Equal("[1, 1]", comparison.MaxAbsCoordinates);
        Assert.Equal(0.5, comparison.Actual, 12);
        Assert.True(comparison.Passed);
    }

    [Fact]
    public void Compare_AllZeroExpected_UsesFloor()
    {
        float[] expected = new float[4];
        float[] actual = [0, 1e-7f, 0, 0];

        var comparison = TensorComparison.Compare<float>("zeros", [4], actual, expected, 1e-4);

        // floor 1e-7·√4 = 2e-7, so the error is 1e-7 / 2e-7
        Assert.Equal(0.5, comparison.RelativeError, 6);
        Assert.False(comparison.Passed);
    }

    [Fact]
    public void Compare_NaNActual_Fails()
    {
        double[] expected = [1, 2];
        double[] actual = [1, double.NaN];

        var comparison = TensorComparison.Compare<double>("nan", [2], actual, expected, 1);

        Assert.False(comparison.Passed);
        Assert.Equal(double.PositiveInfinity, comparison.MaxAbsError);
        Assert.Equal(1, comparison.MaxAbsIndex);
    }

    [Fact]
    public void Compare_LengthMismatch_Throws()
    {
        Assert.Throws<ArgumentException>(() => TensorComparison.Compare<float>("x", [3], new float[3], new float[2], 1));
    }
}
