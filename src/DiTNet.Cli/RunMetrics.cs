using System.Globalization;
using System.Text;
using DiTNet.Models;
using DiTNet.Training;

namespace DiTNet.Cli;

/// <summary>The figures of one model on the held-out utterances, as metrics.json stores them.</summary>
internal sealed record ModelFigures(
    double FlowMatchingLoss, double SampleL1, double MuL1, int DetailBandsInRange, double[] DetailRatio)
{
    public static ModelFigures From(EvaluationResult result) =>
        new(result.Loss, result.SampleL1, result.MuL1, result.BandsInRange, result.DetailRatio);
}

/// <summary>The contents of metrics.json.</summary>
internal sealed record RunMetrics(
    string Notes,
    TrainSettings Settings,
    DiTConfig ModelConfig,
    long ParameterCount,
    int TrainUtterances,
    int HeldOutUtterances,
    long HeldOutFramesScored,
    long StepsThisRun,
    long FinalStep,
    int RequestedSteps,
    double TimeBudgetMinutes,
    double TrainSeconds,
    double WallSeconds,
    bool StoppedByTimeBudget,
    EvaluationOptions Evaluation,
    ModelFigures Untrained,
    ModelFigures Trained,
    double LossRatioTrainedToUntrained,
    bool AcceptLossHalved,
    bool AcceptSampleL1Lower,
    bool AcceptDetailBands,
    double[][] TrainingLoss,
    double[][] HeldOutLoss)
{
    private const string Explanation =
        "Held-out utterances, real frames only. flow_matching_loss: the training loss at fixed draws " +
        "(t and z seeded per utterance, the same for both models; every condition kept; cond = the true first " +
        "20% of frames), over all real frames. sample_l1: mean |sample - truth| of Euler samples (evaluation.sample_steps " +
        "steps, guidance evaluation.guidance_weight, cosine schedule, temperature 1, fixed seed, the true first 20% of " +
        "frames given as cond), EXCLUDING the prompt frames. mu_l1: mean |mu - truth| over the same frames. " +
        "detail_ratio: per mel band, std over those frames of (sample - mu) divided by std of (truth - mu); " +
        "detail_bands_in_range counts bands in [0.5, 2]. requested_steps is --steps; settings.steps is lower when the " +
        "time budget (--minutes, time_budget_minutes, 0 for none) shortened the run. training_loss and held_out_loss are [step, loss] pairs.";

    public static RunMetrics Create(TrainSettings settings, DiTConfig config, long parameterCount, CorpusData corpus, int heldOutCount,
        long stepsThisRun, long finalStep, int requestedSteps, double timeBudgetMinutes, double trainSeconds, double wallSeconds, bool stoppedByBudget, EvaluationOptions evaluation,
        EvaluationResult untrained, EvaluationResult trained,
        IReadOnlyList<(long Step, double Loss)> trainingCurve, IReadOnlyList<(long Step, double Loss)> heldOutCurve)
    {
        double ratio = trained.Loss / untrained.Loss;
        return new RunMetrics(
            Explanation, settings, config, parameterCount, corpus.Train.Count, heldOutCount, trained.Frames,
            stepsThisRun, finalStep, requestedSteps, timeBudgetMinutes, trainSeconds, wallSeconds, stoppedByBudget, evaluation,
            ModelFigures.From(untrained), ModelFigures.From(trained), ratio,
            AcceptLossHalved: ratio <= 0.5,
            AcceptSampleL1Lower: trained.SampleL1 < untrained.SampleL1,
            AcceptDetailBands: trained.BandsInRange >= (int)Math.Ceiling(0.875 * config.MelDim),
            trainingCurve.Select(p => new[] { p.Step, p.Loss }).ToArray(),
            heldOutCurve.Select(p => new[] { p.Step, p.Loss }).ToArray());
    }

    /// <summary>A few lines for the terminal.</summary>
    public static string Summary(RunMetrics m)
    {
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(c, $"steps {m.FinalStep} ({m.StepsThisRun} this run) in {m.TrainSeconds:F0} s of training, {m.WallSeconds:F0} s in all; {m.ParameterCount:N0} parameters");
        if (m.StoppedByTimeBudget)
        {
            text.AppendLine(c, $"stopped by the --minutes time budget at step {m.FinalStep} of {m.RequestedSteps}, before the learning-rate decay ended");
        }
        text.AppendLine(c, $"held-out ({m.HeldOutUtterances} utterances, {m.HeldOutFramesScored} frames scored)     untrained    trained");
        text.AppendLine(c, $"  flow-matching loss (fixed draws)        {m.Untrained.FlowMatchingLoss,9:F4}  {m.Trained.FlowMatchingLoss,9:F4}   ratio {m.LossRatioTrainedToUntrained:F3} (accept <= 0.5: {Verdict(m.AcceptLossHalved)})");
        text.AppendLine(c, $"  sample L1, prompt frames excluded       {m.Untrained.SampleL1,9:F4}  {m.Trained.SampleL1,9:F4}   (accept trained lower: {Verdict(m.AcceptSampleL1Lower)})");
        text.AppendLine(c, $"  bands with detail ratio in [0.5, 2]     {m.Untrained.DetailBandsInRange,9}  {m.Trained.DetailBandsInRange,9}   of {m.ModelConfig.MelDim} (accept >= 70: {Verdict(m.AcceptDetailBands)})");
        text.Append(c, $"  mu L1 against the truth, for context    {m.Trained.MuL1,9:F4}");
        return text.ToString();
    }

    private static string Verdict(bool passed) => passed ? "yes" : "NO";
}
