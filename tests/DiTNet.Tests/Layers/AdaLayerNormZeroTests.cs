using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Layers;

public class AdaLayerNormZeroTests
{
    private const int Batch = 2, Frames = 3, Dim = 11;

    [Fact]
    public void Backward_RandomInput_MatchesFiniteDifferences()
    {
        // The loss also weighs the four chunks the block uses, whose gradients arrive through dE.
        var layer = new AdaLayerNormZero<double>("transformer_blocks.0.attn_norm", Dim);
        layer.Linear.Initialize(new Random(1));
        var input = GradientCheck.Random(2, Batch, Frames, Dim);
        var temb = GradientCheck.Random(3, Batch, Dim);
        var weights = GradientCheck.Random(4, Batch, Frames, Dim);
        var chunkWeights = GradientCheck.Random(5, Batch, 6 * Dim);
        for (int b = 0; b < Batch; b++)
        {
            layer.Chunk(chunkWeights, b, AdaLayerNormZero<double>.ShiftMsa).Clear();
            layer.Chunk(chunkWeights, b, AdaLayerNormZero<double>.ScaleMsa).Clear();
        }
        double Loss()
        {
            double loss = GradientCheck.Dot(layer.Forward(input, temb).Span, weights.Span);
            return loss + GradientCheck.Dot(layer.Modulation.Span, chunkWeights.Span);
        }

        Loss();
        var dInput = new Tensor<double>(Batch, Frames, Dim);
        var dTemb = new Tensor<double>(Batch, Dim);
        var dModulation = chunkWeights.Clone();
        layer.Backward(weights, dModulation, dInput, dTemb);

        GradientCheck.Check("dInput", input, dInput.Span, Loss);
        GradientCheck.Check("dTemb", temb, dTemb.Span, Loss);
        GradientCheck.Check("dWeight", layer.Linear.Weight.Value, layer.Linear.Weight.Gradient.Span, Loss);
        GradientCheck.Check("dBias", layer.Linear.Bias!.Value, layer.Linear.Bias.Gradient.Span, Loss);
    }

    [Fact]
    public void Parameters_Always_UsePyTorchNames()
    {
        var layer = new AdaLayerNormZero<float>("transformer_blocks.4.attn_norm", 16);
        Assert.Equal(["transformer_blocks.4.attn_norm.linear.weight", "transformer_blocks.4.attn_norm.linear.bias"],
            layer.Parameters.Select(p => p.Name));
        Assert.True(layer.Linear.Weight.Value.HasShape(96, 16));
    }

    [Fact]
    public void Forward_ChunkOrder_ShiftThenScaleForAttention()
    {
        // With zero weight, e equals the bias; shift_msa is chunk 0 and scale_msa chunk 1.
        var layer = new AdaLayerNormZero<double>("n", 4);
        Span<double> bias = layer.Linear.Bias!.Value.Span;
        for (int i = 0; i < 4; i++)
        {
            bias[i] = 10;
            bias[4 + i] = 1;
        }
        var input = new Tensor<double>([1.0, -1.0, 1.0, -1.0], 1, 1, 4);
        var output = layer.Forward(input, new Tensor<double>(1, 4));
        double expected = 1 / Math.Sqrt(1 + 1e-6) * 2 + 10;
        Assert.Equal(expected, output[0], 1e-12);
        Assert.Equal(20 - expected, output[1], 1e-12);
    }

    [Fact]
    public void Forward_MismatchedTemb_ThrowsNamingShapes()
    {
        var layer = new AdaLayerNormZero<float>("n", 8);
        var error = Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor<float>(2, 5, 8), new Tensor<float>(3, 8)));
        Assert.Equal("temb", error.ParamName);
        Assert.Contains("[3, 8]", error.Message);
        Assert.Contains("[2, 8]", error.Message);
    }
}
