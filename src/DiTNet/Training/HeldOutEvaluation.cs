using System.Numerics;
using DiTNet.FlowMatching;
using DiTNet.Tensors;

namespace DiTNet.Training;

/// <summary>Settings of <see cref="HeldOutEvaluation"/>.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Seeds the flow times and noise; the same seed gives two models the same draws.</summary>
    public ulong Seed { get; init; } = 1234;

    /// <summary>Utterances evaluated in one model call.</summary>
    public int BatchSize { get; init; } = 4;

    /// <summary>The share of each utterance's frames given as the prompt (cond) and left out of the sample metrics.</summary>
    public double PromptFraction { get; init; } = 0.2;

    /// <summary>σ of the flow path for the loss.</summary>
    public double SigmaMin { get; init; } = 1e-6;

    /// <summary>Whether to sample and compute the mel metrics; false computes only the loss.</summary>
    public bool Sample { get; init; } = true;

    /// <summary>Euler steps of the sampler.</summary>
    public int SampleSteps { get; init; } = 10;

    /// <summary>Guidance weight w of the sampler.</summary>
    public double GuidanceWeight { get; init; } = 0.7;

    /// <summary>Time-step spacing of the sampler.</summary>
    public TimeSchedule Schedule { get; init; } = TimeSchedule.Cosine;

    /// <summary>Factor on the sampler's initial noise.</summary>
    public double Temperature { get; init; } = 1.0;
}

/// <summary>Held-out figures of one model.</summary>
/// <param name="Loss">Flow-matching loss over real frames at fixed draws (t and z from the seed, every condition kept, cond = the prompt).</param>
/// <param name="SampleL1">Mean |sample − truth| over real frames after the prompt and all M bands.</param>
/// <param name="MuL1">Mean |mu − truth| over the same frames (NaN when U ≠ M).</param>
/// <param name="DetailRatio">Per mel band: std of (sample − mu) over those frames divided by std of (truth − mu); NaN when U ≠ M.</param>
/// <param name="BandsInRange">Bands whose detail ratio lies in [0.5, 2].</param>
/// <param name="Frames">Frames the sample metrics cover.</param>
/// <param name="Samples">The generated mel of each utterance, <c>[M, N]</c>; empty when sampling was off.</param>
public sealed record EvaluationResult(double Loss, double SampleL1, double MuL1, double[] DetailRatio, int BandsInRange, long Frames, float[][] Samples);

/// <summary>
/// Judges a model on held-out utterances with draws that depend only on the seed and the utterance's
/// position, so that two models (or one model before and after training) see the same t and z.
/// </summary>
public static class HeldOutEvaluation
{
    /// <summary>The detail-ratio range counted in <see cref="EvaluationResult.BandsInRange"/>.</summary>
    public const double DetailLow = 0.5, DetailHigh = 2.0;

    /// <summary>Computes the loss and, if asked, samples and their metrics for every example.</summary>
    public static EvaluationResult Evaluate<T>(IVelocityModel<T> model, IReadOnlyList<TrainingExample> examples, EvaluationOptions options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(options);
        if (examples.Count == 0)
        {
            throw new ArgumentException("No held-out utterances to evaluate.", nameof(examples));
        }
        int melDim = examples[0].MelDim, muDim = examples[0].MuDim, spkDim = examples[0].SpkDim;
        bool compareMu = muDim == melDim;
        var sampler = new EulerSampler<T>
        {
            Steps = options.SampleSteps, GuidanceWeight = options.GuidanceWeight, Schedule = options.Schedule, Temperature = options.Temperature,
        };
        var flow = new ConditionalFlowMatching<T>(options.SigmaMin);
        var batch = new TrainingBatch<T>();
        var samples = new float[options.Sample ? examples.Count : 0][];
        bool wasTraining = model.Training;
        model.Training = false;

        double lossSum = 0, lossWeight = 0, sampleL1 = 0, muL1 = 0;
        long frameCount = 0;
        var sampleSum = new double[melDim];
        var sampleSquares = new double[melDim];
        var truthSum = new double[melDim];
        var truthSquares = new double[melDim];
        for (int first = 0; first < examples.Count; first += options.BatchSize)
        {
            int count = Math.Min(options.BatchSize, examples.Count - first);
            int frames = 0;
            for (int i = 0; i < count; i++)
            {
                frames = Math.Max(frames, examples[first + i].Frames);
            }

            // the batch with its prompts, and per-utterance draws placed into padded tensors
            batch.Resize(count, melDim, muDim, spkDim, frames);
            var draws = new FlowMatchingDraws<T>(count, melDim, frames);
            var sampleNoise = new Tensor<T>(count, melDim, frames);
            for (int i = 0; i < count; i++)
            {
                var example = examples[first + i];
                batch.SetItem(i, example, 0, example.Frames, PromptLength(example.Frames, options.PromptFraction));
                var random = new RandomSource(options.Seed + (ulong)(first + i) * 0x9E3779B97F4A7C15UL);
                draws.Time[i] = T.CreateTruncating(random.NextDouble());
                FillPadded(random, draws.Noise.Slice(i), melDim, example.Frames, frames);
                FillPadded(random, sampleNoise.Slice(i), melDim, example.Frames, frames);
                draws.KeepCondition[i] = true;
            }

            double weight = 0;
            foreach (var value in batch.Mask.Span)
            {
                weight += double.CreateTruncating(value);
            }
            weight *= melDim;
            lossSum += flow.Loss(model, batch.X1, batch.Mask, batch.Mu, batch.Spks, batch.Cond, draws) * weight;
            lossWeight += weight;
            if (!options.Sample)
            {
                continue;
            }

            var sample = sampler.Sample(model, sampleNoise, batch.Mask, batch.Mu, batch.Spks, batch.Cond);
            for (int i = 0; i < count; i++)
            {
                var example = examples[first + i];
                int n0 = batch.PromptLengths[i], length = example.Frames;
                var generated = new float[melDim * length];
                var item = sample.Slice(i);
                for (int m = 0; m < melDim; m++)
                {
                    for (int n = 0; n < length; n++)
                    {
                        generated[m * length + n] = float.CreateTruncating(item[m * frames + n]);
                    }
                    for (int n = n0; n < length; n++)
                    {
                        double s = generated[m * length + n];
                        double truth = example.Mel[m * length + n];
                        sampleL1 += Math.Abs(s - truth);
                        if (compareMu)
                        {
                            double mu = example.Mu[m * length + n];
                            muL1 += Math.Abs(mu - truth);
                            sampleSum[m] += s - mu;
                            sampleSquares[m] += (s - mu) * (s - mu);
                            truthSum[m] += truth - mu;
                            truthSquares[m] += (truth - mu) * (truth - mu);
                        }
                    }
                }
                frameCount += length - n0;
                samples[first + i] = generated;
            }
        }
        model.Training = wasTraining;

        var ratio = new double[melDim];
        int inRange = 0;
        for (int m = 0; m < melDim; m++)
        {
            ratio[m] = compareMu && frameCount > 1
                ? StandardDeviation(sampleSum[m], sampleSquares[m], frameCount) / StandardDeviation(truthSum[m], truthSquares[m], frameCount)
                : double.NaN;
            if (ratio[m] >= DetailLow && ratio[m] <= DetailHigh)
            {
                inRange++;
            }
        }
        double cells = (double)frameCount * melDim;
        return new EvaluationResult(
            lossSum / lossWeight,
            options.Sample ? sampleL1 / cells : double.NaN,
            options.Sample && compareMu ? muL1 / cells : double.NaN,
            ratio, inRange, frameCount, samples);
    }

    /// <summary>Returns the prompt length of an utterance of <paramref name="frames"/> frames: the fraction, rounded down.</summary>
    public static int PromptLength(int frames, double fraction) => (int)(frames * fraction);

    private static void FillPadded<T>(RandomSource random, Span<T> item, int melDim, int length, int frames)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int m = 0; m < melDim; m++)
        {
            random.FillGaussian(item.Slice(m * frames, length));
        }
    }

    private static double StandardDeviation(double sum, double squares, long count)
    {
        double mean = sum / count;
        return Math.Sqrt(Math.Max(squares / count - mean * mean, 0.0));
    }
}
