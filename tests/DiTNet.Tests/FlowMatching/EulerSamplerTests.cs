using DiTNet.FlowMatching;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.FlowMatching;

public class EulerSamplerTests
{
    private const int Batch = 2, MelDim = 3, MuDim = 2, SpkDim = 2, Frames = 5;

    [Fact]
    public void TimeGrid_Cosine_MatchesFormula()
    {
        var ts = EulerSampler<double>.TimeGrid(4, TimeSchedule.Cosine);

        double[] expected = [0, 1 - Math.Cos(Math.PI / 8), 1 - Math.Cos(Math.PI / 4), 1 - Math.Cos(3 * Math.PI / 8), 1];
        TensorAssert.AllClose("cosine grid", [5], ts, expected, 1e-15, 0);
    }

    [Theory]
    [InlineData(TimeSchedule.Linear)]
    [InlineData(TimeSchedule.Cosine)]
    public void Sample_VelocityWithoutState_AddsGuidedVelocity(TimeSchedule schedule)
    {
        // With v = Wmu·mu + Ws·spks + bias (no dependence on x or t), Euler integrates exactly because the steps sum to 1.
        // The unguided rows see zero conditions, so the guided combination is bias + (1 + w)·(Wmu·mu + Ws·spks).
        var model = new LinearVelocityModel<double>(MelDim, MuDim, SpkDim);
        model.Initialize(7, 1.0);
        model.WeightX.Value.Clear();
        model.WeightCond.Value.Clear();
        model.WeightTime.Value.Clear();
        var noise = GradientCheck.Random(1, Batch, MelDim, Frames);
        var mu = GradientCheck.Random(2, Batch, MuDim, Frames);
        var spks = GradientCheck.Random(3, Batch, SpkDim);
        var cond = GradientCheck.Random(4, Batch, MelDim, Frames);
        var mask = new Tensor<double>(Batch, 1, Frames);
        mask.Span.Fill(1.0);
        const double w = 0.7, temperature = 0.5;
        var sampler = new EulerSampler<double> { Steps = 7, GuidanceWeight = w, Schedule = schedule, Temperature = temperature };

        var sample = sampler.Sample(model, noise, mask, mu, spks, cond);

        var expected = new double[sample.Length];
        for (int b = 0; b < Batch; b++)
        {
            for (int m = 0; m < MelDim; m++)
            {
                for (int n = 0; n < Frames; n++)
                {
                    double conditioned = 0;
                    for (int u = 0; u < MuDim; u++)
                    {
                        conditioned += model.WeightMu.Value[m * MuDim + u] * mu[(b * MuDim + u) * Frames + n];
                    }
                    for (int s = 0; s < SpkDim; s++)
                    {
                        conditioned += model.WeightSpks.Value[m * SpkDim + s] * spks[b * SpkDim + s];
                    }
                    int j = (b * MelDim + m) * Frames + n;
                    expected[j] = temperature * noise[j] + model.Bias.Value[m] + (1 + w) * conditioned;
                }
            }
        }
        TensorAssert.AllClose("sample", sample.Shape, sample.ToArray(), expected, 1e-12, 1e-12);
        Assert.Equal(2 * Batch, model.LastBatch);
    }

    [Fact]
    public void Sample_LinearInTime_MatchesHandIntegration()
    {
        // v = wt·t only: x_n = z + Σ_k wt·t_k·dt_k over the grid, computed here step by step.
        var model = new LinearVelocityModel<double>(MelDim, MuDim, SpkDim);
        model.Initialize(8, 1.0);
        model.WeightX.Value.Clear();
        model.WeightCond.Value.Clear();
        model.WeightMu.Value.Clear();
        model.WeightSpks.Value.Clear();
        model.Bias.Value.Clear();
        var noise = GradientCheck.Random(5, Batch, MelDim, Frames);
        var mask = new Tensor<double>(Batch, 1, Frames);
        mask.Span.Fill(1.0);
        var sampler = new EulerSampler<double> { Steps = 4, GuidanceWeight = 0.7, Schedule = TimeSchedule.Cosine };

        var sample = sampler.Sample(model, noise, mask, new Tensor<double>(Batch, MuDim, Frames), new Tensor<double>(Batch, SpkDim),
            new Tensor<double>(Batch, MelDim, Frames));

        var ts = EulerSampler<double>.TimeGrid(4, TimeSchedule.Cosine);
        double integral = 0;
        for (int k = 0; k < 4; k++)
        {
            integral += ts[k] * (ts[k + 1] - ts[k]);
        }
        var expected = new double[sample.Length];
        for (int j = 0; j < expected.Length; j++)
        {
            int m = j / Frames % MelDim;
            expected[j] = noise[j] + model.WeightTime.Value[m] * integral;
        }
        TensorAssert.AllClose("sample", sample.Shape, sample.ToArray(), expected, 1e-12, 1e-12);
        Assert.Equal(ts[3], model.LastTime[0], 15);
    }
}
