using System.Text.Json;
using System.Text.Json.Serialization;
using DiTNet.Models;
using DiTNet.Training;

namespace DiTNet.Cli;

/// <summary>
/// The options of <c>ditnet train</c> that define a run (model shape and training recipe); stored in the
/// checkpoint and in metrics.json, and taken from the checkpoint when a run resumes.
/// </summary>
internal sealed record TrainSettings
{
    public int Dim { get; init; } = 256;
    public int Depth { get; init; } = 6;
    public int Heads { get; init; } = 4;
    public int DimHead { get; init; } = 64;
    public int FFMult { get; init; } = 2;
    public bool LongSkip { get; init; } = true;
    public int ChunkSize { get; init; } = 50;
    public double Dropout { get; init; }
    public int BatchSize { get; init; } = 8;
    public int SegmentFrames { get; init; } = 256;
    public int Steps { get; init; } = 1000;
    public double LearningRate { get; init; } = 1e-3;
    public int WarmupSteps { get; init; } = 50;
    public double MinLearningRate { get; init; } = 5e-5;
    public LearningRateDecay Decay { get; init; } = LearningRateDecay.Cosine;
    public double WeightDecay { get; init; } = 0.01;
    public double MaxGradientNorm { get; init; } = 1.0;
    public double EmaDecay { get; init; }
    public double StreamingShare { get; init; } = 0.25;
    public double PromptShare { get; init; } = 0.5;
    public double ConditionDropRate { get; init; } = 0.2;
    public ulong Seed { get; init; } = 1;

    /// <summary>JSON options shared by the checkpoint metadata and metrics.json.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The DiT shape for a corpus of the given widths.</summary>
    public DiTConfig ModelConfig(int melDim, int muDim, int spkDim) => new(
        Dim, Depth, Heads, DimHead, FFMult, melDim, muDim, spkDim, LongSkip, ChunkSize, Dropout);

    /// <summary>The trainer's options.</summary>
    public TrainingOptions TrainingOptions() => new()
    {
        BatchSize = BatchSize,
        SegmentFrames = SegmentFrames,
        PromptShare = PromptShare,
        StreamingShare = ChunkSize > 0 ? StreamingShare : 0.0,
        ConditionDropRate = ConditionDropRate,
        LearningRate = new LearningRateSchedule(LearningRate, WarmupSteps, Steps, MinLearningRate, Decay),
        WeightDecay = WeightDecay,
        MaxGradientNorm = MaxGradientNorm,
        EmaDecay = EmaDecay,
        Seed = Seed,
    };
}
