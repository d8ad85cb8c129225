using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Layers;

public class TimestepEmbeddingTests
{
    [Fact]
    public void Backward_RandomInput_MatchesFiniteDifferences()
    {
        // Angles reach 1000·t, so the truncation error of central differences with step 1e-6 is
        // about (1000·1e-6)²/6 ≈ 2e-7 relative: inside the 1e-6 tolerance.
        var layer = new TimestepEmbedding<double>(13);
        layer.In.Initialize(new Random(1));
        layer.Out.Initialize(new Random(2));
        var time = new Tensor<double>([0.05, 0.61, 0.97], 3);
        var weights = GradientCheck.Random(4, 3, 13);
        double Loss() => GradientCheck.Dot(layer.Forward(time).Span, weights.Span);

        Loss();
        var dTime = new Tensor<double>(3);
        layer.Backward(weights, dTime);

        GradientCheck.Check("dTime", time, dTime.Span, Loss);
        foreach (var parameter in layer.Parameters)
        {
            GradientCheck.Check(parameter.Name, parameter.Value, parameter.Gradient.Span, Loss);
        }
    }

    [Fact]
    public void Frequencies_Always_RoundedThroughFloat32()
    {
        // w_k = float32(exp(float32(k) · float32(−ln(10000)/127))): each value is a float32 and
        // the sequence runs from 1 down to 1e-4.
        ReadOnlySpan<double> frequencies = TimestepEmbedding<double>.FrequencyValues;
        Assert.Equal(128, frequencies.Length);
        Assert.Equal(1.0, frequencies[0]);
        Assert.Equal(1e-4, frequencies[127], 1e-9);
        float negativeC = (float)(-Math.Log(10000) / 127);
        for (int k = 0; k < 128; k++)
        {
            Assert.Equal((double)(float)frequencies[k], frequencies[k]);
            Assert.Equal(Math.Exp((double)(k * negativeC)), frequencies[k], 1e-7 * frequencies[k]);
        }
    }

    [Fact]
    public void Forward_ZeroWeights_FeaturesAreSinesThenCosines()
    {
        // With an identity-like first layer the features can be read back through the biases: use
        // zero weights except one column and check that the output moves with sin, then cos.
        var layer = new TimestepEmbedding<double>(2);
        layer.In.Weight.Value[0 * 256 + 3] = 1;   // hidden 0 reads sin(a_3)
        layer.In.Weight.Value[1 * 256 + 128 + 3] = 1;   // hidden 1 reads cos(a_3)
        layer.Out.Weight.Value[0] = 1;
        layer.Out.Weight.Value[3] = 1;
        double t = 0.3;
        var output = layer.Forward(new Tensor<double>([t], 1));
        double angle = 1000 * t * TimestepEmbedding<double>.FrequencyValues[3];
        static double SiLU(double v) => v / (1 + Math.Exp(-v));
        Assert.Equal(SiLU(Math.Sin(angle)), output[0], 1e-12);
        Assert.Equal(SiLU(Math.Cos(angle)), output[1], 1e-12);
    }
}
