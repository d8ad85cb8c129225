using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests;

public class RotaryEmbeddingTests
{
    [Fact]
    public void Initialize_Default_SetsInverseFrequencies()
    {
        var rotary = new RotaryEmbedding<double>(8);
        rotary.Initialize();

        double[] expected = [1.0, 1.0 / Math.Sqrt(100), 1.0 / 100, 1.0 / Math.Pow(10000, 0.75)];
        TensorAssert.AllClose("inv_freq", [4], rotary.InvFreq.Value.ToArray(), expected, 0, 1e-15);
        Assert.Equal("rotary_embed.inv_freq", rotary.InvFreq.Name);
        Assert.False(rotary.InvFreq.Trainable);
    }

    [Fact]
    public void Forward_RandomInput_MatchesDirectFormula()
    {
        const int batch = 2, frames = 9, width = 10, dimHead = 6;
        var rotary = new RotaryEmbedding<double>(dimHead);
        rotary.Initialize();
        var x = GradientCheck.Random(1, batch, frames, width);
        var expected = new double[x.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int p = 0; p < frames; p++)
            {
                for (int c = 0; c < width; c++)
                {
                    int at = (b * frames + p) * width + c;
                    if (c >= dimHead)
                    {
                        expected[at] = x[at];
                        continue;
                    }
                    int pair = c / 2;
                    double theta = p / Math.Pow(10000, 2.0 * pair / dimHead);
                    expected[at] = c % 2 == 0
                        ? x[at] * Math.Cos(theta) - x[at + 1] * Math.Sin(theta)
                        : x[at] * Math.Cos(theta) + x[at - 1] * Math.Sin(theta);
                }
            }
        }

        rotary.Forward(x);

        TensorAssert.AllClose("rotated", x.Shape, x.Span, expected, 1e-15, 1e-13);
    }

    [Fact]
    public void Forward_LoadedInverseFrequencies_UsesStoredValues()
    {
        var rotary = new RotaryEmbedding<double>(4);
        rotary.Initialize();
        var first = GradientCheck.Random(2, 1, 5, 4);
        var second = first.Clone();
        rotary.Forward(first);

        // a checkpoint's values replace the defining ones; the cached angle table must follow
        rotary.InvFreq.Value[0] = 0.5;
        rotary.InvFreq.Value[1] = 0.25;
        rotary.Forward(second);

        double theta = 4 * 0.25;
        int at = 4 * 4 + 2;
        var original = GradientCheck.Random(2, 1, 5, 4);
        double expected = original[at] * Math.Cos(theta) - original[at + 1] * Math.Sin(theta);
        Assert.Equal(expected, second[at], 14);
        Assert.NotEqual(first[at], second[at]);
    }

    [Fact]
    public void Backward_RandomInput_MatchesFiniteDifferences()
    {
        var rotary = new RotaryEmbedding<double>(8);
        rotary.Initialize();
        var x = GradientCheck.Random(3, 2, 7, 12);
        var weights = GradientCheck.Random(4, 2, 7, 12);
        double Loss()
        {
            var rotated = x.Clone();
            rotary.Forward(rotated);
            return GradientCheck.Dot(rotated.Span, weights.Span);
        }

        var dx = weights.Clone();
        rotary.Backward(dx);

        GradientCheck.Check("dx", x, dx.Span, Loss);
    }

    [Fact]
    public void Backward_AfterForward_RestoresInput()
    {
        var rotary = new RotaryEmbedding<float>(16);
        rotary.Initialize();
        var x = new Tensor<float>(2, 40, 48);
        new RandomSource(5).FillGaussian(x.Span);
        var original = x.Clone();

        rotary.Forward(x);
        rotary.Backward(x);

        TensorAssert.AllClose("x", x.Shape, TensorAssert.ToDouble<float>(x.Span), TensorAssert.ToDouble<float>(original.Span), 1e-6, 1e-5);
    }

    [Fact]
    public void Forward_NarrowerThanHead_ThrowsNamingShape()
    {
        var rotary = new RotaryEmbedding<float>(8);
        var error = Assert.Throws<ArgumentException>(() => rotary.Forward(new Tensor<float>(2, 3, 6)));
        Assert.Contains("[2, 3, 6]", error.Message);
        Assert.Equal("x", error.ParamName);
    }

    [Fact]
    public void Constructor_OddHeadWidth_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RotaryEmbedding<float>(5));
    }
}
