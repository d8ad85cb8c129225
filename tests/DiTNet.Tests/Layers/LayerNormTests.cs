using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Layers;

public class LayerNormTests
{
    [Fact]
    public void Backward_RandomInput_MatchesFiniteDifferences()
    {
        var layer = new LayerNorm<double>(21);
        var input = GradientCheck.Random(1, 2, 3, 21);
        var weights = GradientCheck.Random(2, 2, 3, 21);
        double Loss() => GradientCheck.Dot(layer.Forward(input).Span, weights.Span);

        Loss();
        var dInput = new Tensor<double>(2, 3, 21);
        layer.Backward(weights, dInput);
        GradientCheck.Check("dInput", input, dInput.Span, Loss);
    }

    [Fact]
    public void Forward_RandomInput_HasZeroMeanAndUnitVariance()
    {
        var layer = new LayerNorm<double>(33);
        var output = layer.Forward(GradientCheck.Random(3, 4, 33));
        for (int r = 0; r < 4; r++)
        {
            Span<double> row = output.Row(r);
            double mean = row.ToArray().Average();
            double variance = row.ToArray().Select(v => (v - mean) * (v - mean)).Average();
            Assert.Equal(0, mean, 1e-12);

            // eps = 1e-6 against a variance near 1 lowers the output variance by about 1e-6
            Assert.Equal(1, variance, 1e-5);
        }
    }

    [Fact]
    public void Forward_WrongWidth_ThrowsNamingShapes()
    {
        var layer = new LayerNorm<float>(8);
        var error = Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor<float>(2, 7)));
        Assert.Equal("input", error.ParamName);
        Assert.Contains("[2, 7]", error.Message);
        Assert.Contains("8]", error.Message);
    }
}
