using DiTNet.Tests.FlowMatching;
using DiTNet.Training;

namespace DiTNet.Tests.Training;

public class HeldOutEvaluationTests
{
    private const int MelDim = 5, SpkDim = 3;

    [Fact]
    public void Evaluate_ZeroVelocityZeroTemperature_ScoresZeroSampleAfterPrompt()
    {
        // a model with all weights zero predicts v = 0, and temperature 0 starts from x = 0, so every sample is 0
        var examples = SyntheticCorpus.Make(5, MelDim, MelDim, SpkDim, 12, 30, 8);
        var model = new LinearVelocityModel<double>(MelDim, MelDim, SpkDim);
        var options = new EvaluationOptions { Temperature = 0, BatchSize = 2, PromptFraction = 0.25 };

        var result = HeldOutEvaluation.Evaluate(model, examples, options);

        double l1 = 0, muL1 = 0;
        long frames = 0;
        var sampleDeviation = new List<double>[MelDim];
        var truthDeviation = new List<double>[MelDim];
        for (int m = 0; m < MelDim; m++)
        {
            sampleDeviation[m] = [];
            truthDeviation[m] = [];
        }
        foreach (var example in examples)
        {
            int prompt = (int)(example.Frames * 0.25);
            frames += example.Frames - prompt;
            for (int m = 0; m < MelDim; m++)
            {
                for (int n = prompt; n < example.Frames; n++)
                {
                    double truth = example.Mel[m * example.Frames + n], mu = example.Mu[m * example.Frames + n];
                    l1 += Math.Abs(truth);
                    muL1 += Math.Abs(mu - truth);
                    sampleDeviation[m].Add(-mu);
                    truthDeviation[m].Add(truth - mu);
                }
            }
        }
        static double Std(List<double> values)
        {
            double mean = values.Average();
            return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Count);
        }

        Assert.Equal(frames, result.Frames);
        Assert.Equal(l1 / (frames * MelDim), result.SampleL1, 12);
        Assert.Equal(muL1 / (frames * MelDim), result.MuL1, 12);
        for (int m = 0; m < MelDim; m++)
        {
            Assert.Equal(Std(sampleDeviation[m]) / Std(truthDeviation[m]), result.DetailRatio[m], 9);
        }
        Assert.All(result.Samples, sample => Assert.All(sample, value => Assert.Equal(0f, value)));
    }

    [Fact]
    public void Evaluate_BatchSizeChanged_GivesSameFigures()
    {
        // the draws depend on the utterance's position only, so batching must not change any figure
        var examples = SyntheticCorpus.Make(5, MelDim, MelDim, SpkDim, 12, 30, 9);
        var model = new LinearVelocityModel<double>(MelDim, MelDim, SpkDim);
        model.Initialize(4, 0.2);

        var one = HeldOutEvaluation.Evaluate(model, examples, new EvaluationOptions { BatchSize = 1 });
        var three = HeldOutEvaluation.Evaluate(model, examples, new EvaluationOptions { BatchSize = 3 });

        Assert.Equal(one.Loss, three.Loss, 12);
        Assert.Equal(one.SampleL1, three.SampleL1, 12);
        Assert.Equal(one.DetailRatio, three.DetailRatio, new Tolerance(1e-12));
    }

    private sealed class Tolerance(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance * Math.Max(1, Math.Abs(y));

        public int GetHashCode(double value) => 0;
    }
}
