using System.Globalization;
using System.Numerics;
using DiTNet.FlowMatching;
using DiTNet.Tensors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DiTNet.Training;

/// <summary>The outcome of one training step.</summary>
/// <param name="Step">The step just taken, counting from 1.</param>
/// <param name="Loss">The flow-matching loss of the batch before the update.</param>
/// <param name="GradientNorm">The global gradient norm before clipping.</param>
/// <param name="LearningRate">The learning rate of the update.</param>
/// <param name="Streaming">Whether the batch used the streaming mask.</param>
/// <param name="Skipped">True when the loss or gradient was not finite and no update was made.</param>
public readonly record struct TrainingStepResult(long Step, double Loss, double GradientNorm, double LearningRate, bool Streaming, bool Skipped);

/// <summary>
/// Trains a velocity model with the flow-matching loss, AdamW, global-norm clipping, a learning-rate
/// schedule and an optional weight average. Every random choice comes from seeded streams that a
/// checkpoint stores, so a resumed run reproduces the losses of an uninterrupted one bit for bit.
/// </summary>
public sealed partial class Trainer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly IVelocityModel<T> _model;
    private readonly Parameter<T>[] _trainable;
    private readonly ConditionalFlowMatching<T> _loss;
    private readonly TrainingBatch<T> _batch = new();
    private readonly ILogger _logger;
    private FlowMatchingDraws<T>? _draws;

    /// <summary>Creates a trainer; the model's current weights are the starting point.</summary>
    public Trainer(IVelocityModel<T> model, IReadOnlyList<TrainingExample> examples, TrainingOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(options);
        _model = model;
        Options = options;
        _logger = logger ?? NullLogger.Instance;
        _trainable = model.Parameters.Where(p => p.Trainable).ToArray();
        _loss = new ConditionalFlowMatching<T>(options.SigmaMin);
        Optimizer = new AdamW<T>(_trainable, options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay);
        Ema = options.EmaDecay > 0 ? new ExponentialMovingAverage<T>(_trainable, options.EmaDecay) : null;
        Sampler = new BatchSampler(examples, options.BatchSize, options.SegmentFrames, options.PadMultiple,
            options.PromptShare, options.MaxPromptFraction, options.StreamingShare, options.Seed);

        // separate streams so that changing one kind of draw leaves the others as they were
        NoiseRandom = new RandomSource(options.Seed ^ 0x6E6F697365UL);
        ConditionRandom = new RandomSource(options.Seed ^ 0x636F6E64UL);
        model.DropoutRandom.State = options.Seed ^ 0x64726F70UL;
    }

    /// <summary>The run's options.</summary>
    public TrainingOptions Options { get; private set; }

    /// <summary>Steps taken, including skipped ones.</summary>
    public long Step { get; private set; }

    /// <summary>The optimizer with its moments.</summary>
    public AdamW<T> Optimizer { get; }

    /// <summary>The weight average, or null when <see cref="TrainingOptions.EmaDecay"/> is 0.</summary>
    public ExponentialMovingAverage<T>? Ema { get; }

    /// <summary>The data order, crops, prompts and streaming choices.</summary>
    public BatchSampler Sampler { get; }

    /// <summary>The stream of flow times and noise.</summary>
    public RandomSource NoiseRandom { get; }

    /// <summary>The stream of condition-dropout decisions.</summary>
    public RandomSource ConditionRandom { get; }

    /// <summary>Replaces the learning-rate schedule, for example to end the decay earlier when a time budget runs short.</summary>
    /// <remarks>Updates already taken keep their rates; the new schedule applies from the next update on.</remarks>
    public void SetLearningRateSchedule(LearningRateSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        Options = Options with { LearningRate = schedule };
    }

    /// <summary>Draws a batch, computes the loss and its gradient, clips, and updates the weights.</summary>
    public TrainingStepResult TrainStep()
    {
        Step++;
        Sampler.Next(_batch);
        var x1 = _batch.X1;
        var draws = _draws ??= new FlowMatchingDraws<T>(x1.Dim(0), x1.Dim(1), x1.Dim(2));
        draws.Resize(x1.Dim(0), x1.Dim(1), x1.Dim(2));
        draws.Draw(NoiseRandom, ConditionRandom, Options.ConditionDropRate);

        foreach (var parameter in _trainable)
        {
            parameter.Gradient.Clear();
        }
        _model.Training = true;
        double loss = _loss.LossAndBackward(_model, x1, _batch.Mask, _batch.Mu, _batch.Spks, _batch.Cond, draws, _batch.Streaming);
        _model.Training = false;

        double norm = GradientClipping.ClipByGlobalNorm(_trainable, Options.MaxGradientNorm);
        double learningRate = Options.LearningRate.At(Optimizer.StepCount + 1);
        if (!double.IsFinite(loss) || !double.IsFinite(norm))
        {
            LogSkippedStep(_logger, Step, loss, norm);
            return new TrainingStepResult(Step, loss, norm, learningRate, _batch.Streaming, Skipped: true);
        }
        Optimizer.Update(learningRate);
        Ema?.Update();
        LogStep(_logger, Step, loss, norm, learningRate);
        return new TrainingStepResult(Step, loss, norm, learningRate, _batch.Streaming, Skipped: false);
    }

    /// <summary>
    /// Copies the whole training state: the model's tensors under their own names, the optimizer moments under
    /// <c>optimizer.exp_avg.</c> and <c>optimizer.exp_avg_sq.</c>, the average under <c>ema.</c>, and in the metadata
    /// the step counters, the data order and position and every random stream's state.
    /// </summary>
    public TrainingState<T> CaptureState()
    {
        var state = new TrainingState<T>();
        foreach (var parameter in _model.Parameters)
        {
            state.Tensors[parameter.Name] = parameter.Value.Clone();
        }
        for (int i = 0; i < Optimizer.Parameters.Count; i++)
        {
            string name = Optimizer.Parameters[i].Name;
            state.Tensors[TrainingState<T>.FirstMomentPrefix + name] = Optimizer.FirstMoment(i).Clone();
            state.Tensors[TrainingState<T>.SecondMomentPrefix + name] = Optimizer.SecondMoment(i).Clone();
        }
        if (Ema is not null)
        {
            for (int i = 0; i < Ema.Parameters.Count; i++)
            {
                state.Tensors[TrainingState<T>.EmaPrefix + Ema.Parameters[i].Name] = Ema.Average(i).Clone();
            }
        }
        var metadata = state.Metadata;
        metadata["training.step"] = Format(Step);
        metadata["training.optimizer_step"] = Format(Optimizer.StepCount);
        metadata["random.data"] = Format(Sampler.Random.State);
        metadata["random.noise"] = Format(NoiseRandom.State);
        metadata["random.condition"] = Format(ConditionRandom.State);
        metadata["random.dropout"] = Format(_model.DropoutRandom.State);
        metadata["data.order"] = Sampler.SaveOrder();
        metadata["data.position"] = Format(Sampler.Position);
        metadata["data.epoch"] = Format(Sampler.Epoch);
        return state;
    }

    /// <summary>Restores a state from <see cref="CaptureState"/> (or a checkpoint of it) into the model, optimizer and streams.</summary>
    /// <exception cref="ArgumentException">A tensor or metadata entry is missing or has the wrong shape.</exception>
    public void RestoreState(TrainingState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        foreach (var parameter in _model.Parameters)
        {
            CopyInto(state, parameter.Name, parameter.Value);
        }
        for (int i = 0; i < Optimizer.Parameters.Count; i++)
        {
            string name = Optimizer.Parameters[i].Name;
            CopyInto(state, TrainingState<T>.FirstMomentPrefix + name, Optimizer.FirstMoment(i));
            CopyInto(state, TrainingState<T>.SecondMomentPrefix + name, Optimizer.SecondMoment(i));
        }
        if (Ema is not null)
        {
            for (int i = 0; i < Ema.Parameters.Count; i++)
            {
                CopyInto(state, TrainingState<T>.EmaPrefix + Ema.Parameters[i].Name, Ema.Average(i));
            }
        }
        Step = long.Parse(state.Require("training.step"), CultureInfo.InvariantCulture);
        Optimizer.StepCount = long.Parse(state.Require("training.optimizer_step"), CultureInfo.InvariantCulture);
        NoiseRandom.State = ulong.Parse(state.Require("random.noise"), CultureInfo.InvariantCulture);
        ConditionRandom.State = ulong.Parse(state.Require("random.condition"), CultureInfo.InvariantCulture);
        _model.DropoutRandom.State = ulong.Parse(state.Require("random.dropout"), CultureInfo.InvariantCulture);
        Sampler.Restore(state.Require("data.order"),
            int.Parse(state.Require("data.position"), CultureInfo.InvariantCulture),
            int.Parse(state.Require("data.epoch"), CultureInfo.InvariantCulture),
            ulong.Parse(state.Require("random.data"), CultureInfo.InvariantCulture));
    }

    private static void CopyInto(TrainingState<T> state, string name, Tensor<T> destination)
    {
        if (!state.Tensors.TryGetValue(name, out var source))
        {
            throw new ArgumentException($"The training state has no tensor '{name}'; it was saved by a different model or without that part.", nameof(state));
        }
        if (!source.HasShape(destination.Shape))
        {
            throw new ArgumentException($"Tensor '{name}' is {source.ShapeString} in the training state but {destination.ShapeString} in the model.", nameof(state));
        }
        source.Span.CopyTo(destination.Span);
    }

    private static string Format<TValue>(TValue value) where TValue : IFormattable => value.ToString(null, CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Step {Step}: loss {Loss}, gradient norm {GradientNorm}, learning rate {LearningRate}")]
    private static partial void LogStep(ILogger logger, long step, double loss, double gradientNorm, double learningRate);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Step {Step} skipped: loss {Loss} or gradient norm {GradientNorm} is not finite")]
    private static partial void LogSkippedStep(ILogger logger, long step, double loss, double gradientNorm);
}
