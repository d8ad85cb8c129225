using DiTNet.Kernels;
using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Layers;

public class ConvPositionEmbeddingTests
{
    [Theory]
    [InlineData(5)]
    [InlineData(33)]
    public void Backward_RandomInput_MatchesFiniteDifferences(int frames)
    {
        // 33 frames exceed the kernel width 31, so every tap sees real frames; 5 frames leave most taps on padding.
        var layer = new ConvPositionEmbedding<double>("input_embed.conv_pos_embed", 16);
        layer.Initialize(new Random(1));
        var input = GradientCheck.Random(2, 2, frames, 16);
        var weights = GradientCheck.Random(3, 2, frames, 16);
        double Loss() => GradientCheck.Dot(layer.Forward(input).Span, weights.Span);

        Loss();
        var dInput = new Tensor<double>(2, frames, 16);
        layer.Backward(weights, dInput);

        GradientCheck.Check("dInput", input, dInput.Span, Loss);
        foreach (var parameter in layer.Parameters)
        {
            GradientCheck.Check(parameter.Name, parameter.Value, parameter.Gradient.Span, Loss);
        }
    }

    [Fact]
    public void Forward_LaterFrameChanged_EarlierFramesUnchanged()
    {
        var layer = new ConvPositionEmbedding<float>("c", 32);
        layer.Initialize(new Random(1));
        var input = new Tensor<float>(1, 40, 32);
        new RandomSource(2).FillGaussian(input.Span);
        float[] before = layer.Forward(input).ToArray();
        input[25 * 32 + 7] += 1;
        float[] after = layer.Forward(input).ToArray();
        Assert.Equal(before.AsSpan(0, 25 * 32).ToArray(), after.AsSpan(0, 25 * 32).ToArray());
        Assert.NotEqual(before[25 * 32 + 7], after[25 * 32 + 7]);
    }

    [Fact]
    public void Forward_Float_MatchesDirectConvolutionAndMish()
    {
        // The reference composes the direct-loop convolution and scalar Mish; they sum in another order.
        const int Frames = 37, Dim = 32;
        var layer = new ConvPositionEmbedding<float>("c", Dim);
        layer.Initialize(new Random(3));
        var input = new Tensor<float>(1, Frames, Dim);
        new RandomSource(4).FillGaussian(input.Span);
        float[] actual = layer.Forward(input).ToArray();

        var hidden = new float[Frames * Dim];
        var expected = new float[Frames * Dim];
        Conv.CausalGroupedReference<float>(input.Span, Frames, Dim, 16, 31, layer.Conv1Weight.Value.Span, layer.Conv1Bias.Value.Span, hidden);
        Activations.MishReference<float>(hidden, hidden);
        Conv.CausalGroupedReference<float>(hidden, Frames, Dim, 16, 31, layer.Conv2Weight.Value.Span, layer.Conv2Bias.Value.Span, expected);
        Activations.MishReference<float>(expected, expected);
        TensorAssert.AllClose("conv output", [Frames, Dim],
            TensorAssert.ToDouble<float>(actual), TensorAssert.ToDouble<float>(expected), atol: 1e-5, rtol: 1e-5);
    }

    [Fact]
    public void Parameters_Always_UsePyTorchNamesAndShapes()
    {
        var layer = new ConvPositionEmbedding<float>("input_embed.conv_pos_embed", 64);
        Assert.Equal(
            ["input_embed.conv_pos_embed.conv1.0.weight", "input_embed.conv_pos_embed.conv1.0.bias",
             "input_embed.conv_pos_embed.conv2.0.weight", "input_embed.conv_pos_embed.conv2.0.bias"],
            layer.Parameters.Select(p => p.Name));
        Assert.True(layer.Conv1Weight.Value.HasShape(64, 4, 31));
    }
}
