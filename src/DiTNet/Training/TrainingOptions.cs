namespace DiTNet.Training;

/// <summary>Everything that shapes a training run besides the model and the data.</summary>
public sealed record TrainingOptions
{
    /// <summary>Items per batch.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>The longest random crop of an utterance, in frames (50 per second).</summary>
    public int SegmentFrames { get; init; } = 256;

    /// <summary>Batches are padded to a multiple of this many frames.</summary>
    public int PadMultiple { get; init; } = 16;

    /// <summary>The share of items whose cond contains a random prefix of their mel (CosyVoice 3: 0.5).</summary>
    public double PromptShare { get; init; } = 0.5;

    /// <summary>The longest prompt prefix as a fraction of the item's frames (CosyVoice 3: 0.3).</summary>
    public double MaxPromptFraction { get; init; } = 0.3;

    /// <summary>The share of batches trained with the streaming attention mask (CosyVoice 3: 0.5).</summary>
    public double StreamingShare { get; init; } = 0.5;

    /// <summary>The probability of zeroing an item's mu, spks and cond, <c>training_cfg_rate</c> (CosyVoice 3: 0.2).</summary>
    public double ConditionDropRate { get; init; } = 0.2;

    /// <summary>σ of the flow path (CosyVoice 3: 1e-6).</summary>
    public double SigmaMin { get; init; } = 1e-6;

    /// <summary>The learning rate per update.</summary>
    public LearningRateSchedule LearningRate { get; init; } = new(1e-3, 50, 1000);

    /// <summary>AdamW β1.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β2.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>AdamW ε.</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>AdamW decoupled weight decay λ, applied to weights of rank 2 or more.</summary>
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>The global gradient norm is clipped to this value.</summary>
    public double MaxGradientNorm { get; init; } = 1.0;

    /// <summary>The decay of the weight average; 0 keeps no average.</summary>
    public double EmaDecay { get; init; }

    /// <summary>Seeds the data order, the noise, the condition dropout and the model's dropout.</summary>
    public ulong Seed { get; init; } = 1;
}
