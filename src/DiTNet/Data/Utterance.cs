namespace DiTNet.Data;

/// <summary>
/// One utterance of a <see cref="SpeechCorpus"/>: its log-mel target and the conditioning the DiT takes with it.
/// </summary>
/// <remarks>
/// Log-mels are raw, as CosyVoice trains on them: natural log of the Slaney mel energy floored at
/// 1e-5, so silence sits at ln 1e-5 ≈ −11.5 and loud speech reaches about +2 (the shipped
/// corpus spans −11.52 to 1.92, mean −4.4, standard deviation 2.6).
/// </remarks>
public sealed class Utterance
{
    /// <summary>Frames per block of the <see cref="Mu"/> average.</summary>
    public const int MuBlockFrames = 4;

    /// <summary>Mel bands per block of the <see cref="Mu"/> average.</summary>
    public const int MuBlockBands = 8;

    /// <summary>Creates an utterance and computes its <see cref="Mu"/>.</summary>
    /// <param name="id">A name unique within the corpus.</param>
    /// <param name="text">The sentence spoken.</param>
    /// <param name="speaker">Index into <see cref="SpeechCorpus.Speakers"/>.</param>
    /// <param name="frames">N, the number of frames (50 per second).</param>
    /// <param name="mel">The log-mel: [M, N], channels-first, row-major; kept, not copied.</param>
    /// <param name="spks">The speaker vector: [S]; kept, not copied.</param>
    /// <exception cref="ArgumentException">
    /// <paramref name="frames"/> is below 1, <paramref name="mel"/> is not a whole number of rows of N,
    /// <paramref name="spks"/> is empty, or <paramref name="speaker"/> is negative.
    /// </exception>
    public Utterance(string id, string text, int speaker, int frames, float[] mel, float[] spks)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(mel);
        ArgumentNullException.ThrowIfNull(spks);
        if (frames < 1)
        {
            throw new ArgumentException($"Utterance '{id}' must have at least one frame, got {frames}.", nameof(frames));
        }
        if (mel.Length == 0 || mel.Length % frames != 0)
        {
            throw new ArgumentException(
                $"The log-mel of utterance '{id}' must be [M, {frames}], but its {mel.Length} values are not a whole number of rows.",
                nameof(mel));
        }
        if (spks.Length == 0)
        {
            throw new ArgumentException($"The speaker vector of utterance '{id}' is empty.", nameof(spks));
        }
        if (speaker < 0)
        {
            throw new ArgumentException($"The speaker index of utterance '{id}' must be non-negative, got {speaker}.", nameof(speaker));
        }

        Id = id;
        Text = text;
        Speaker = speaker;
        Frames = frames;
        Mel = mel;
        Spks = spks;
        Mu = ComputeMu(mel, mel.Length / frames, frames);
    }

    /// <summary>The utterance's name, unique within its corpus.</summary>
    public string Id { get; }

    /// <summary>The sentence spoken.</summary>
    public string Text { get; }

    /// <summary>The speaker's index into <see cref="SpeechCorpus.Speakers"/>.</summary>
    public int Speaker { get; }

    /// <summary>N, the number of frames (50 per second).</summary>
    public int Frames { get; }

    /// <summary>The raw log-mel: [M, N], channels-first, row-major.</summary>
    public float[] Mel { get; }

    /// <summary>
    /// The content condition, a stand-in for CosyVoice's upsampled speech tokens: [U, N] with U = M,
    /// the log-mel averaged over blocks of 4 frames × 8 bands and expanded back, see <see cref="ComputeMu"/>.
    /// </summary>
    public float[] Mu { get; }

    /// <summary>The speaker vector: [S]; the same values for every utterance of a speaker.</summary>
    public float[] Spks { get; }

    /// <summary>
    /// Computes the block-averaged log-mel: each block of <see cref="MuBlockBands"/> bands ×
    /// <see cref="MuBlockFrames"/> frames is replaced by its mean.
    /// </summary>
    /// <remarks>
    /// Blocks start at band 0 and frame 0. A last, partial block in either direction is averaged
    /// over the values it has, so no padding enters the mean.
    /// </remarks>
    /// <param name="mel">The log-mel: [M, N], row-major.</param>
    /// <param name="bands">M, the number of rows.</param>
    /// <param name="frames">N, the number of columns.</param>
    /// <returns>mu: [M, N], row-major.</returns>
    /// <exception cref="ArgumentException"><paramref name="mel"/> does not hold M·N values, or a size is below 1.</exception>
    public static float[] ComputeMu(ReadOnlySpan<float> mel, int bands, int frames)
    {
        if (bands < 1 || frames < 1 || mel.Length != (long)bands * frames)
        {
            throw new ArgumentException(
                $"The log-mel must hold [{bands}, {frames}] values with both sizes at least 1, got {mel.Length} values.", nameof(mel));
        }

        var mu = new float[mel.Length];
        for (int bandStart = 0; bandStart < bands; bandStart += MuBlockBands)
        {
            int bandEnd = Math.Min(bandStart + MuBlockBands, bands);
            for (int frameStart = 0; frameStart < frames; frameStart += MuBlockFrames)
            {
                int frameEnd = Math.Min(frameStart + MuBlockFrames, frames);

                // mean of the block, summed in double
                double sum = 0;
                for (int band = bandStart; band < bandEnd; band++)
                {
                    for (int frame = frameStart; frame < frameEnd; frame++)
                    {
                        sum += mel[band * frames + frame];
                    }
                }
                float mean = (float)(sum / ((bandEnd - bandStart) * (frameEnd - frameStart)));

                // expand it back over the block
                for (int band = bandStart; band < bandEnd; band++)
                {
                    mu.AsSpan(band * frames + frameStart, frameEnd - frameStart).Fill(mean);
                }
            }
        }
        return mu;
    }
}
