using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Layers;

public class AdaLayerNormZeroFinalTests
{
    [Fact]
    public void Backward_RandomInput_MatchesFiniteDifferences()
    {
        var layer = new AdaLayerNormZeroFinal<double>("norm_out", 13);
        layer.Linear.Initialize(new Random(1));
        var input = GradientCheck.Random(2, 2, 5, 13);
        var temb = GradientCheck.Random(3, 2, 13);
        var weights = GradientCheck.Random(4, 2, 5, 13);
        double Loss() => GradientCheck.Dot(layer.Forward(input, temb).Span, weights.Span);

        Loss();
        var dInput = new Tensor<double>(2, 5, 13);
        var dTemb = new Tensor<double>(2, 13);
        layer.Backward(weights, dInput, dTemb);

        GradientCheck.Check("dInput", input, dInput.Span, Loss);
        GradientCheck.Check("dTemb", temb, dTemb.Span, Loss);
        GradientCheck.Check("dWeight", layer.Linear.Weight.Value, layer.Linear.Weight.Gradient.Span, Loss);
        GradientCheck.Check("dBias", layer.Linear.Bias!.Value, layer.Linear.Bias.Gradient.Span, Loss);
    }

    [Fact]
    public void Forward_ChunkOrder_ScaleThenShift()
    {
        // With zero weight, e equals the bias: the first D entries scale, the last D shift.
        var layer = new AdaLayerNormZeroFinal<double>("norm_out", 4);
        Span<double> bias = layer.Linear.Bias!.Value.Span;
        for (int i = 0; i < 4; i++)
        {
            bias[i] = 1;
            bias[4 + i] = 10;
        }
        var input = new Tensor<double>([1.0, -1.0, 1.0, -1.0], 1, 1, 4);
        var output = layer.Forward(input, new Tensor<double>(1, 4));
        double expected = 1 / Math.Sqrt(1 + 1e-6) * 2 + 10;
        Assert.Equal(expected, output[0], 1e-12);
        Assert.Equal(20 - expected, output[1], 1e-12);
    }
}
