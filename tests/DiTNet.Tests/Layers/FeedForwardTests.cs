using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Layers;

public class FeedForwardTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Backward_RandomInput_MatchesFiniteDifferences(bool training)
    {
        // Each loss evaluation restores the random stream, so every forward pass drops the same elements.
        var layer = new FeedForward<double>("transformer_blocks.0.ff", 9, 23, dropout: 0.3);
        layer.In.Initialize(new Random(1));
        layer.Out.Initialize(new Random(2));
        var input = GradientCheck.Random(3, 2, 5, 9);
        var weights = GradientCheck.Random(4, 2, 5, 9);
        var random = new RandomSource(5);
        double Loss()
        {
            random.State = 5;
            return GradientCheck.Dot(layer.Forward(input, training, random).Span, weights.Span);
        }

        Loss();
        var dInput = new Tensor<double>(2, 5, 9);
        layer.Backward(weights, dInput);

        GradientCheck.Check("dInput", input, dInput.Span, Loss);
        foreach (var parameter in layer.Parameters)
        {
            GradientCheck.Check(parameter.Name, parameter.Value, parameter.Gradient.Span, Loss);
        }
    }

    [Fact]
    public void Forward_Training_KeepsAboutOneMinusRateScaled()
    {
        // Every activation is GELU(1); the output sums the kept ones, each scaled by 1 / (1 - rate).
        var layer = new FeedForward<double>("ff", 4, 4000, dropout: 0.25);
        layer.In.Bias!.Value.Span.Fill(1);
        layer.Out.Weight.Value.Row(0).Fill(1);
        double geluOfOne = 0.5 * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * 1.044715));

        double output = layer.Forward(new Tensor<double>(1, 1, 4), training: true, new RandomSource(1))[0];
        double kept = output / (geluOfOne / 0.75);

        Assert.Equal(Math.Round(kept), kept, 1e-9);

        // 4000 draws kept with probability 0.75: 3000 ± 27 (one standard deviation)
        Assert.InRange(kept, 2850, 3150);
        Assert.Equal(4000 * geluOfOne, layer.Forward(new Tensor<double>(1, 1, 4), training: false, new RandomSource(1))[0], 1e-9);
    }

    [Fact]
    public void Parameters_Always_UsePyTorchNames()
    {
        var layer = new FeedForward<float>("transformer_blocks.1.ff", 8, 16, 0);
        Assert.Equal(
            ["transformer_blocks.1.ff.ff.0.0.weight", "transformer_blocks.1.ff.ff.0.0.bias",
             "transformer_blocks.1.ff.ff.2.weight", "transformer_blocks.1.ff.ff.2.bias"],
            layer.Parameters.Select(p => p.Name));
    }
}
