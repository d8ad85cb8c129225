using System.Globalization;
using System.Text.Json;
using DiTNet.FlowMatching;
using DiTNet.Models;
using DiTNet.Training;
using Microsoft.Extensions.Logging;

namespace DiTNet.Cli;

/// <summary>The <c>ditnet train</c> verb: trains a DiT on the speech corpus and writes a run folder.</summary>
public static partial class TrainCommand
{
    // no time budget by default, so a seeded run takes the same steps and learning-rate schedule on any machine
    private const double DefaultMinutes = 0.0;
    private const int CalibrationStart = 5;

    // the speed is re-measured at these steps of the run, both inside the default warm-up, so the
    // learning rate never jumps when the planned length changes
    private static readonly int[] CalibrationPoints = [20, 45];

    // the options stored in the checkpoint as TrainSettings, besides --steps
    private static readonly string[] SettingOptions =
    [
        "dim", "depth", "heads", "dim-head", "ff-mult", "long-skip", "chunk-size", "dropout", "batch-size", "segment-frames",
        "lr", "warmup", "min-lr", "decay", "weight-decay", "clip", "ema", "streaming-share", "prompt-share", "cfg-rate", "seed",
    ];

    private const string Help = """
        usage: ditnet train [options]

        Trains a flow-matching DiT on the speech corpus and writes a run folder with the training
        checkpoint (checkpoint.safetensors: weights, optimizer moments, weight average, step and random
        states), the weights alone (model.safetensors, the average when --ema is on), metrics.json,
        loss.png (training and held-out loss) and mels.png (generated against true mels of held-out
        utterances). The defaults run 1000 steps with no time limit, so a run with a given --seed takes
        the same steps on any machine. On two AVX-512 cores that is about five minutes of training
        and a quarter of a minute of held-out evaluation. Progress goes to stderr, one line per update; Ctrl-C saves the
        checkpoint of the current step and stops.

        data and output:
          --corpus PATH            corpus safetensors (default: data/corpus.safetensors next to the
                                   program, else ./data/corpus.safetensors)
          --out DIR                run folder (default: runs/train-<UTC time>); a folder that contains
                                   an earlier run's files is rejected unless --overwrite is given
          --overwrite              replace the run files in --out
          --resume CHECKPOINT      continue a run from its checkpoint.safetensors; the model and
                                   training options come from the checkpoint, so only --steps,
                                   --minutes, --out, --overwrite, --corpus, --threads and the
                                   evaluation options apply. Writing into the checkpoint's own folder
                                   continues that run there.

        length of the run:
          --steps N                optimizer steps, also the length of the learning-rate schedule (default 1000)
          --minutes M              time budget for the training steps, in minutes of wall time
                                   (evaluation not included), 0 for none (default 0). The speed is
                                   measured at steps 20 and 45 and, if --steps would not fit, the run
                                   and its learning-rate decay are shortened to fit; training also
                                   stops when the budget is spent. The result then depends on the
                                   machine's speed.

        model (a DiT; mel, mu and speaker widths come from the corpus):
          --dim D                  model width, a multiple of 16 (default 256)
          --depth L                transformer blocks (default 6)
          --heads H                attention heads (default 4)
          --dim-head DH            width of one head (default 64)
          --ff-mult K              feed-forward width is K * D (default 2)
          --long-skip true|false   concatenate the block stack's input to its output (default true)
          --chunk-size FRAMES      chunk of the streaming attention mask, 0 for none (default 50)
          --dropout P              dropout rate in training (default 0)

        training:
          --batch-size B           utterances per step (default 8)
          --segment-frames N       longest random crop per utterance, in frames of 20 ms (default 256)
          --lr RATE                peak learning rate (default 1e-3)
          --warmup STEPS           linear warm-up steps (default 50)
          --min-lr RATE            learning rate at the end of the decay (default 5e-5)
          --decay cosine|linear|constant   learning-rate decay after the warm-up (default cosine)
          --weight-decay L         AdamW decoupled weight decay on weight matrices (default 0.01)
          --clip NORM              clip the global gradient norm to NORM (default 1)
          --ema DECAY              keep an exponential moving average of the weights and evaluate it;
                                   0 turns it off (default 0)
          --streaming-share P      share of batches trained with the streaming mask (default 0.25)
          --prompt-share P         share of utterances whose random prefix (up to 30%) is given as
                                   the prompt (default 0.5)
          --cfg-rate P             probability of dropping an utterance's conditions (default 0.2)
          --seed N                 seeds the weights, data order, noise and dropout (default 1)
          --threads N              threads for matrix products, 0 for all cores (default 0)

        evaluation and logging:
          --eval-every STEPS       held-out loss of the first 8 held-out utterances for loss.png,
                                   every STEPS steps and at the last step (default 25)
          --checkpoint-every STEPS save the checkpoint every STEPS steps, 0 only at the end (default 200)
          --log-every STEPS        progress line every STEPS steps (default 10)
          --held-out K             held-out utterances for the final metrics, 0 for all (default 0)
          --sample-steps N         Euler steps of the final samples (default 10)
          --guidance W             classifier-free guidance weight of the samples (default 0.7)
          --plot-count K           held-out utterances shown in mels.png, one per speaker while
                                   speakers last (default 4)
        """;

    /// <summary>The files of a run folder; <c>--out</c> rejects a folder containing any of them unless <c>--overwrite</c> is given.</summary>
    internal static readonly string[] RunFileNames = ["checkpoint.safetensors", "model.safetensors", "metrics.json", "loss.png", "mels.png"];

    /// <summary>Held-out utterances of the loss curve in loss.png, evaluated every <c>--eval-every</c> steps.</summary>
    internal const int CurveUtterances = 8;

    /// <summary>Runs the verb with progress lines on stderr; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, ILoggerFactory loggerFactory) =>
        Run(args, output, loggerFactory, Console.Error, CancellationToken.None);

    /// <summary>Runs the verb; returns 0, or <see cref="Program.InterruptedExitCode"/> when <paramref name="cancellation"/> stopped the training.</summary>
    /// <param name="progressWriter">Receives one progress line per update.</param>
    /// <param name="cancellation">Checked between steps: when set, the checkpoint of the current step is saved and the run ends.</param>
    public static int Run(string[] args, TextWriter output, ILoggerFactory loggerFactory, TextWriter progressWriter, CancellationToken cancellation)
    {
        var options = new CommandOptions(args);
        if (options.Help)
        {
            output.WriteLine(Help);
            return 0;
        }
        var logger = loggerFactory.CreateLogger("ditnet.train");

        // 1. options
        string corpusPath = RunFiles.ResolveCorpus(options.String("corpus"));
        string outDir = options.String("out") ?? Path.Combine("runs", "train-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
        bool overwrite = options.Bool("overwrite", false);
        string? resume = options.String("resume");
        double minutes = options.Double("minutes", DefaultMinutes, 0);
        int threads = options.Int("threads", 0, 0);
        int evalEvery = options.Int("eval-every", 25, 1);
        int checkpointEvery = options.Int("checkpoint-every", 200, 0);
        int logEvery = options.Int("log-every", 10, 1);
        int heldOutCount = options.Int("held-out", 0, 0);
        int sampleSteps = options.Int("sample-steps", 10, 1);
        double guidance = options.Double("guidance", 0.7, 0);
        int plotCount = options.Int("plot-count", 4, 0);
        TrainingState<float>? resumeState = null;
        TrainSettings settings;
        if (resume is not null)
        {
            string? fixedOption = SettingOptions.FirstOrDefault(options.Has);
            if (fixedOption is not null)
            {
                throw new ArgumentException(
                    $"Option --{fixedOption} cannot be changed on --resume: the model and training options come from the checkpoint, " +
                    "so that the run continues as it started. Only --steps, --minutes, --out, --overwrite, --corpus, --threads and " +
                    "the evaluation options apply; start a new run to change the others.");
            }
            resumeState = RunFiles.LoadTrainingState(RunFiles.RequireFile(resume, "--resume"));
            if (!resumeState.Metadata.TryGetValue(RunFiles.SettingsKey, out string? settingsJson))
            {
                throw new ArgumentException(
                    $"--resume: '{resume}' has no '{RunFiles.SettingsKey}' metadata entry, so it is not a DiTNet training checkpoint. " +
                    "Pass the checkpoint.safetensors of a 'ditnet train' run folder; model.safetensors contains only the weights.");
            }
            settings = JsonSerializer.Deserialize<TrainSettings>(settingsJson, TrainSettings.Json)
                ?? throw new InvalidDataException($"Checkpoint '{resume}' has empty training settings.");
            settings = settings with { Steps = options.Int("steps", settings.Steps, 1) };
        }
        else
        {
            settings = ReadSettings(options);
        }
        options.RejectUnknown("train");
        CheckOutputFolder(outDir, resume, overwrite);

        // 2. data and models
        var corpus = RunFiles.LoadCorpus(corpusPath);
        var heldOut = heldOutCount > 0 ? corpus.HeldOut.Take(heldOutCount).ToArray() : corpus.HeldOut;
        var config = settings.ModelConfig(corpus.MelDim, corpus.MuDim, corpus.SpkDim);
        var model = new DiT<float>(config) { Threads = threads };
        model.Initialize((int)settings.Seed);
        var trainer = new Trainer<float>(model, corpus.Train, settings.TrainingOptions(), loggerFactory.CreateLogger<Trainer<float>>());
        if (resumeState is not null)
        {
            trainer.RestoreState(resumeState);
        }
        long parameterCount = model.Parameters.Where(p => p.Trainable).Sum(p => (long)p.Value.Length);
        Directory.CreateDirectory(outDir);
        string checkpointPath = Path.Combine(outDir, "checkpoint.safetensors");
        RunFiles.DeleteStaleTemporaries(checkpointPath);
        LogStart(logger, corpus.Train.Count, heldOut.Count, parameterCount, RunPlots.Plural(settings.Steps, "step"), outDir);

        var evaluation = new EvaluationOptions { SampleSteps = sampleSteps, GuidanceWeight = guidance };
        var curveSet = heldOut.Take(Math.Min(heldOut.Count, CurveUtterances)).ToArray();
        var curveOptions = evaluation with { Sample = false };

        // 3. the untrained model: the same initialization, evaluated before training
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var initial = new DiT<float>(config) { Threads = threads };
        initial.Initialize((int)settings.Seed);
        var untrained = HeldOutEvaluation.Evaluate(initial, heldOut, evaluation);
        LogEvaluation(logger, "untrained", untrained.Loss, untrained.SampleL1, untrained.BandsInRange, untrained.MuL1);
        var heldOutCurve = new List<(long Step, double Loss)>();
        var trainingCurve = new List<(long Step, double Loss)>();
        if (trainer.Step == 0)
        {
            heldOutCurve.Add((0, HeldOutEvaluation.Evaluate(initial, curveSet, curveOptions).Loss));
        }
        initial = null;

        // 4. training
        var progress = new TrainingProgress(progressWriter, trainer.Step, settings.Steps, minutes * 60, logEvery);
        long firstStep = trainer.Step;
        bool stoppedByBudget = false;
        int requestedSteps = settings.Steps;
        double calibrationStart = 0;
        // the rate of the latest update, reported when the time budget stops the run
        double learningRate = trainer.Options.LearningRate.At(Math.Max(trainer.Optimizer.StepCount, 1));
        while (trainer.Step < settings.Steps)
        {
            // checked only between steps, so an interrupted run saves a state that resumes exactly
            if (cancellation.IsCancellationRequested)
            {
                RunFiles.SaveTrainingState(checkpointPath, trainer.CaptureState(), settings, config);
                LogInterrupted(logger, trainer.Step, checkpointPath);
                return Program.InterruptedExitCode;
            }
            if (trainer.Step - firstStep == CalibrationStart)
            {
                calibrationStart = progress.ElapsedSeconds;
            }
            if (minutes > 0 && CalibrationPoints.Contains((int)(trainer.Step - firstStep)))
            {
                settings = FitToBudget(settings, requestedSteps, trainer, progress, calibrationStart, firstStep, minutes, logger);
            }
            if (minutes > 0 && progress.ElapsedSeconds >= minutes * 60)
            {
                stoppedByBudget = true;
                LogBudgetReached(logger, trainer.Step, settings.Steps, minutes, learningRate, settings.MinLearningRate);
                break;
            }
            var result = trainer.TrainStep();
            learningRate = result.LearningRate;
            trainingCurve.Add((result.Step, result.Loss));
            progress.Report(result);
            if (result.Step % evalEvery == 0 || result.Step == settings.Steps)
            {
                heldOutCurve.Add((result.Step, EvaluateWithAverage(trainer, model, curveSet, curveOptions).Loss));
            }
            if (checkpointEvery > 0 && result.Step % checkpointEvery == 0)
            {
                RunFiles.SaveTrainingState(checkpointPath, trainer.CaptureState(), settings, config);
            }
        }
        if (heldOutCurve.Count == 0 || heldOutCurve[^1].Step != trainer.Step)
        {
            heldOutCurve.Add((trainer.Step, EvaluateWithAverage(trainer, model, curveSet, curveOptions).Loss));
        }
        double trainSeconds = progress.ElapsedSeconds;
        RunFiles.SaveTrainingState(checkpointPath, trainer.CaptureState(), settings, config);
        LogCheckpoint(logger, checkpointPath, trainer.Step);
        trainer.Ema?.Swap();
        try
        {
            RunFiles.SaveModel(Path.Combine(outDir, "model.safetensors"), model);
        }
        finally
        {
            trainer.Ema?.Swap();
        }
        if (cancellation.IsCancellationRequested)
        {
            LogInterrupted(logger, trainer.Step, checkpointPath);
            return Program.InterruptedExitCode;
        }

        // 5. the trained model, then the run folder's figures and metrics
        // NOTE: the final evaluation does not check the cancellation token, so Ctrl-C during it takes effect only when it ends.
        var trained = EvaluateWithAverage(trainer, model, heldOut, evaluation);
        LogEvaluation(logger, "trained", trained.Loss, trained.SampleL1, trained.BandsInRange, trained.MuL1);
        RunPlots.SaveLossCurves(Path.Combine(outDir, "loss.png"), trainingCurve, heldOutCurve, curveSet.Length, heldOut.Count);
        var rows = PickPlotRows(corpus.HeldOutSpeakers.Take(heldOut.Count).ToArray(), plotCount)
            .Select(i => (heldOut[i].Id, heldOut[i].Mel, trained.Samples[i], heldOut[i].MelDim, heldOut[i].Frames)).ToArray();
        if (rows.Length > 0)
        {
            RunPlots.SaveMelComparison(Path.Combine(outDir, "mels.png"), rows, evaluation.PromptFraction);
        }
        var metrics = RunMetrics.Create(settings, config, parameterCount, corpus, heldOut.Count, trainer.Step - firstStep, trainer.Step,
            requestedSteps, minutes, trainSeconds, clock.Elapsed.TotalSeconds, stoppedByBudget, evaluation, untrained, trained, trainingCurve, heldOutCurve);
        File.WriteAllText(Path.Combine(outDir, "metrics.json"), JsonSerializer.Serialize(metrics, TrainSettings.Json));
        LogFinished(logger, RunPlots.Plural(trainer.Step, "step"), clock.Elapsed.TotalSeconds, trained.Loss / untrained.Loss, outDir);
        output.WriteLine(RunMetrics.Summary(metrics));
        return 0;
    }

    /// <summary>
    /// Returns the indices of the utterances to show in mels.png: the first utterance of each speaker in order of
    /// appearance, then, when there are fewer speakers than <paramref name="count"/>, the remaining utterances in order.
    /// </summary>
    internal static int[] PickPlotRows(IReadOnlyList<int> speakers, int count)
    {
        var firstOfSpeaker = Enumerable.Range(0, speakers.Count).GroupBy(i => speakers[i]).Select(group => group.First());
        return firstOfSpeaker.Concat(Enumerable.Range(0, speakers.Count)).Distinct().Take(count).ToArray();
    }

    /// <summary>Rejects an <c>--out</c> that is a file, or a folder that contains an earlier run's files, unless <c>--overwrite</c> is given
    /// or the run resumes from a checkpoint in that same folder.</summary>
    private static void CheckOutputFolder(string outDir, string? resume, bool overwrite)
    {
        if (File.Exists(outDir))
        {
            throw new ArgumentException($"--out: '{outDir}' is a file; the run needs a folder.");
        }
        if (overwrite || !Directory.Exists(outDir))
        {
            return;
        }
        string folder = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        if (resume is not null && Path.GetDirectoryName(Path.GetFullPath(resume)) == folder)
        {
            return;
        }
        string? existing = RunFileNames.FirstOrDefault(name => File.Exists(Path.Combine(outDir, name)));
        if (existing is not null)
        {
            throw new ArgumentException(
                $"--out: folder '{outDir}' already contains {existing} of an earlier run. Pass another --out, or --overwrite to replace that run's files.");
        }
    }

    private static TrainSettings FitToBudget(TrainSettings settings, int requestedSteps, Trainer<float> trainer, TrainingProgress progress,
        double calibrationStart, long firstStep, double minutes, ILogger logger)
    {
        // the first steps include the JIT and first-touch costs, so the speed is taken from step 5 of the run on
        double elapsed = progress.ElapsedSeconds;
        double secondsPerStep = (elapsed - calibrationStart) / (trainer.Step - firstStep - CalibrationStart);
        long fitting = trainer.Step + (long)((minutes * 60 - elapsed) / secondsPerStep);
        int steps = (int)Math.Clamp(fitting, trainer.Step + 1, requestedSteps);
        if (steps == settings.Steps)
        {
            return settings;
        }
        LogShortened(logger, requestedSteps, steps, minutes, secondsPerStep);
        var shortened = settings with { Steps = steps };
        trainer.SetLearningRateSchedule(shortened.TrainingOptions().LearningRate);
        progress.TotalSteps = steps;
        return shortened;
    }

    private static EvaluationResult EvaluateWithAverage(Trainer<float> trainer, DiT<float> model, IReadOnlyList<TrainingExample> examples, EvaluationOptions options)
    {
        // the weight average, when kept, is what a user would sample with
        trainer.Ema?.Swap();
        try
        {
            return HeldOutEvaluation.Evaluate(model, examples, options);
        }
        finally
        {
            trainer.Ema?.Swap();
        }
    }

    private static TrainSettings ReadSettings(CommandOptions options)
    {
        var d = new TrainSettings();
        var settings = new TrainSettings
        {
            Dim = options.Int("dim", d.Dim, 16),
            Depth = options.Int("depth", d.Depth, 0),
            Heads = options.Int("heads", d.Heads, 1),
            DimHead = options.Int("dim-head", d.DimHead, 2),
            FFMult = options.Int("ff-mult", d.FFMult, 1),
            LongSkip = options.Bool("long-skip", d.LongSkip),
            ChunkSize = options.Int("chunk-size", d.ChunkSize, 0),
            Dropout = options.Double("dropout", d.Dropout, 0, 0.99),
            BatchSize = options.Int("batch-size", d.BatchSize, 1),
            SegmentFrames = options.Int("segment-frames", d.SegmentFrames, 1),
            Steps = options.Int("steps", d.Steps, 1),
            LearningRate = options.Double("lr", d.LearningRate, 0),
            WarmupSteps = options.Int("warmup", d.WarmupSteps, 0),
            MinLearningRate = options.Double("min-lr", d.MinLearningRate, 0),
            Decay = options.Enum("decay", d.Decay),
            WeightDecay = options.Double("weight-decay", d.WeightDecay, 0),
            MaxGradientNorm = options.Double("clip", d.MaxGradientNorm, 1e-12),
            EmaDecay = options.Double("ema", d.EmaDecay, 0, 0.999999),
            StreamingShare = options.Double("streaming-share", d.StreamingShare, 0, 1),
            PromptShare = options.Double("prompt-share", d.PromptShare, 0, 1),
            ConditionDropRate = options.Double("cfg-rate", d.ConditionDropRate, 0, 1),
            Seed = (ulong)options.Int("seed", (int)d.Seed, 0),
        };

        // the model checks these too, but its message names the config property rather than the option
        if (settings.Dim % 16 != 0)
        {
            throw new ArgumentException($"Option --dim must be a positive multiple of 16 (the convolution groups), got {settings.Dim}.");
        }
        if (settings.DimHead % 2 != 0)
        {
            throw new ArgumentException($"Option --dim-head must be an even number (rotary pairs), got {settings.DimHead}.");
        }
        return settings;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Training on {Train} utterances ({HeldOut} held out), {Parameters} parameters, {Steps}, writing to {Folder}")]
    private static partial void LogStart(ILogger logger, int train, int heldOut, long parameters, string steps, string folder);

    [LoggerMessage(Level = LogLevel.Information, Message = "Held-out {Model} model: loss {Loss:F4}, sample L1 {SampleL1:F4}, bands with detail ratio in [0.5, 2]: {Bands}, mu L1 {MuL1:F4}")]
    private static partial void LogEvaluation(ILogger logger, string model, double loss, double sampleL1, int bands, double muL1);

    [LoggerMessage(Level = LogLevel.Warning, Message = "At {SecondsPerStep:F2} s per step, {Requested} steps do not fit in {Minutes} minutes; training {Steps} steps with the learning-rate decay ending there")]
    private static partial void LogShortened(ILogger logger, int requested, int steps, double minutes, double secondsPerStep);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stopped at step {Step} of {Steps}: the time budget of --minutes {Minutes} ran out. The learning rate is {LearningRate:0.00e+0}, the decay would have ended at {MinLearningRate:0.00e+0}, and the result depends on this machine's speed; leave out --minutes for a reproducible run")]
    private static partial void LogBudgetReached(ILogger logger, long step, int steps, double minutes, double learningRate, double minLearningRate);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Interrupted: checkpoint of step {Step} saved to {Path}; continue with 'ditnet train --resume {Path}'")]
    private static partial void LogInterrupted(ILogger logger, long step, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Checkpoint {Path} written at step {Step}")]
    private static partial void LogCheckpoint(ILogger logger, string path, long step);

    [LoggerMessage(Level = LogLevel.Information, Message = "Finished {Steps} in {Seconds:F0} s; held-out loss is {Ratio:F3} of the untrained model's; results in {Folder}")]
    private static partial void LogFinished(ILogger logger, string steps, double seconds, double ratio, string folder);
}
