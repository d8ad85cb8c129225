using DiTNet.Tensors;
using DiTNet.Training;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Training;

public class GradientClippingTests
{
    private static (Parameter<double> A, Parameter<double> B) MakeParameters()
    {
        var a = new Parameter<double>("a", [2]);
        var b = new Parameter<double>("b", [1, 2]);
        double[] ga = [3.0, 0.0];
        double[] gb = [0.0, 4.0];
        ga.CopyTo(a.Gradient.Span);
        gb.CopyTo(b.Gradient.Span);
        return (a, b);
    }

    [Fact]
    public void ClipByGlobalNorm_NormAboveMax_ScalesToMax()
    {
        var (a, b) = MakeParameters();

        double norm = GradientClipping.ClipByGlobalNorm([a, b], 1.0);

        Assert.Equal(5.0, norm, 12);
        double scale = 1.0 / (5.0 + 1e-6);
        TensorAssert.AllClose("a gradient", [2], a.Gradient.ToArray(), [3.0 * scale, 0.0], 1e-15, 1e-14);
        TensorAssert.AllClose("b gradient", [1, 2], b.Gradient.ToArray(), [0.0, 4.0 * scale], 1e-15, 1e-14);
        Assert.Equal(1.0, GradientClipping.GlobalNorm([a, b]), 6);
    }

    [Fact]
    public void ClipByGlobalNorm_NormBelowMax_LeavesGradients()
    {
        var (a, b) = MakeParameters();

        double norm = GradientClipping.ClipByGlobalNorm([a, b], 10.0);

        Assert.Equal(5.0, norm, 12);
        Assert.Equal([3.0, 0.0], a.Gradient.ToArray());
        Assert.Equal([0.0, 4.0], b.Gradient.ToArray());
    }
}
