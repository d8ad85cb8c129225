using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests;

public class LinearTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Backward_RandomInput_MatchesFiniteDifferences(bool bias)
    {
        var layer = new Linear<double>("proj", 7, 5, bias);
        layer.Initialize(new Random(1));
        var input = GradientCheck.Random(2, 3, 4, 7);
        var weights = GradientCheck.Random(3, 3, 4, 5);
        double Loss() => GradientCheck.Dot(layer.Forward(input).Span, weights.Span);

        Loss();
        var dInput = new Tensor<double>(3, 4, 7);
        layer.Backward(weights, dInput);

        GradientCheck.Check("dInput", input, dInput.Span, Loss);
        GradientCheck.Check("dWeight", layer.Weight.Value, layer.Weight.Gradient.Span, Loss);
        if (bias)
        {
            GradientCheck.Check("dBias", layer.Bias!.Value, layer.Bias.Gradient.Span, Loss);
        }
    }

    [Fact]
    public void Forward_WrongWidth_ThrowsNamingShape()
    {
        var layer = new Linear<float>("proj", 7, 5);
        var error = Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor<float>(2, 6)));
        Assert.Contains("[2, 6]", error.Message);
        Assert.Equal("input", error.ParamName);
    }
}
