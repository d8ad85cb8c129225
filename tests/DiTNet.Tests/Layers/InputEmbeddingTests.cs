using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Layers;

public class InputEmbeddingTests
{
    private const int Batch = 2, Mel = 3, Mu = 5, Spk = 4, Frames = 7, Dim = 16;

    [Fact]
    public void Backward_RandomInput_MatchesFiniteDifferences()
    {
        var layer = new InputEmbedding<double>(Mel, Mu, Spk, Dim);
        layer.Proj.Initialize(new Random(1));
        layer.ConvPositionEmbedding.Initialize(new Random(2));
        var x = GradientCheck.Random(3, Batch, Mel, Frames);
        var cond = GradientCheck.Random(4, Batch, Mel, Frames);
        var mu = GradientCheck.Random(5, Batch, Mu, Frames);
        var spks = GradientCheck.Random(6, Batch, Spk);
        var weights = GradientCheck.Random(7, Batch, Frames, Dim);
        double Loss() => GradientCheck.Dot(layer.Forward(x, cond, mu, spks).Span, weights.Span);

        Loss();
        var dX = new Tensor<double>(Batch, Mel, Frames);
        var dCond = new Tensor<double>(Batch, Mel, Frames);
        var dMu = new Tensor<double>(Batch, Mu, Frames);
        var dSpks = new Tensor<double>(Batch, Spk);
        layer.Backward(weights, dX, dCond, dMu, dSpks);

        GradientCheck.Check("dX", x, dX.Span, Loss);
        GradientCheck.Check("dCond", cond, dCond.Span, Loss);
        GradientCheck.Check("dMu", mu, dMu.Span, Loss);
        GradientCheck.Check("dSpks", spks, dSpks.Span, Loss);
        GradientCheck.Check("dProjWeight", layer.Proj.Weight.Value, layer.Proj.Weight.Gradient.Span, Loss);
        GradientCheck.Check("dProjBias", layer.Proj.Bias!.Value, layer.Proj.Bias.Gradient.Span, Loss);
    }

    [Fact]
    public void Forward_ConcatOrder_XCondMuSpks()
    {
        // A projection that copies input channel c to output channel c shows where each input lands.
        var layer = new InputEmbedding<double>(1, 1, 1, 16);
        for (int c = 0; c < 4; c++)
        {
            layer.Proj.Weight.Value[c * 4 + c] = 1;
        }
        var output = layer.Forward(
            new Tensor<double>([1.0], 1, 1, 1), new Tensor<double>([2.0], 1, 1, 1),
            new Tensor<double>([3.0], 1, 1, 1), new Tensor<double>([4.0], 1, 1));

        // zero conv parameters give Mish(0) = 0, so the output is the projection alone
        Assert.Equal([1.0, 2.0, 3.0, 4.0], output.Span[..4].ToArray());
    }

    [Fact]
    public void Forward_MismatchedMu_ThrowsNamingShapes()
    {
        var layer = new InputEmbedding<float>(Mel, Mu, Spk, Dim);
        var error = Assert.Throws<ArgumentException>(() => layer.Forward(
            new Tensor<float>(Batch, Mel, Frames), new Tensor<float>(Batch, Mel, Frames),
            new Tensor<float>(Batch, Mu, Frames + 1), new Tensor<float>(Batch, Spk)));
        Assert.Equal("mu", error.ParamName);
        Assert.Contains($"[{Batch}, {Mu}, {Frames + 1}]", error.Message);
        Assert.Contains($"[{Batch}, {Mu}, {Frames}]", error.Message);
    }
}
