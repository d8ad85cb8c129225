using System.Text.Json;

namespace DiTNet.Data;

/// <summary>
/// A speech corpus of log-mel features with speaker labels and a fixed train / held-out split,
/// read from a safetensors file.
/// </summary>
/// <remarks>
/// <para>File format (<c>ditnet.speech-corpus.v1</c>): one tensor <c>mel.{id}</c> per utterance,
/// F16 or F32, shape [M, N], raw log-mel as <see cref="Audio.MelSpectrogram"/> computes it.
/// The safetensors <c>__metadata__</c> has <c>format</c> = <c>ditnet.speech-corpus.v1</c> and
/// <c>corpus</c>, a JSON object: <c>mel_dim</c>; <c>speakers</c>, an array of objects with at least
/// <c>name</c>; <c>utterances</c>, an array of objects with <c>id</c>, <c>text</c>, <c>speaker</c>
/// (index into <c>speakers</c>), <c>frames</c> and <c>split</c> (<c>train</c> or <c>heldout</c>).</para>
/// <para>The speaker vector <see cref="Utterance.Spks"/> is derived here, from the training
/// split only, so held-out audio never shapes anything a model trains on. It starts from the
/// speaker's mean log-mel over all frames of its training utterances and subtracts the average
/// of these means over all speakers, because the spectral tilt that every speaker shares would
/// otherwise dominate. The result is standardized across its M bands, so its entries have
/// mean 0 and RMS 1, and S equals M. A corpus of one speaker gives an all-zero vector.</para>
/// </remarks>
public sealed class SpeechCorpus
{
    /// <summary>The value of the <c>format</c> metadata key this reader accepts.</summary>
    public const string FormatName = "ditnet.speech-corpus.v1";

    /// <summary>The split name of training utterances.</summary>
    public const string TrainSplit = "train";

    /// <summary>The split name of held-out utterances.</summary>
    public const string HeldOutSplit = "heldout";

    private SpeechCorpus(IReadOnlyList<string> speakers, int melDim, IReadOnlyList<Utterance> train, IReadOnlyList<Utterance> heldOut)
    {
        Speakers = speakers;
        MelDim = melDim;
        SpkDim = melDim;
        Train = train;
        HeldOut = heldOut;
    }

    /// <summary>The training utterances, in file order.</summary>
    public IReadOnlyList<Utterance> Train { get; }

    /// <summary>The held-out utterances, in file order; never used to derive anything.</summary>
    public IReadOnlyList<Utterance> HeldOut { get; }

    /// <summary>The speaker names; <see cref="Utterance.Speaker"/> indexes this list.</summary>
    public IReadOnlyList<string> Speakers { get; }

    /// <summary>M, the number of mel bands (80 for the shipped corpus).</summary>
    public int MelDim { get; }

    /// <summary>S, the width of <see cref="Utterance.Spks"/>; equal to <see cref="MelDim"/>.</summary>
    public int SpkDim { get; }

    /// <summary>Loads a corpus file and derives each speaker's vector from its training utterances.</summary>
    /// <param name="path">A safetensors file in the format described on <see cref="SpeechCorpus"/>.</param>
    /// <exception cref="FileNotFoundException">No file exists at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">
    /// The file is not a valid safetensors file, or its metadata or tensors do not form a valid corpus.
    /// </exception>
    public static SpeechCorpus Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Speech corpus file '{path}' was not found.", path);
        }
        return CorpusFileReader.Read(path);
    }

    /// <summary>
    /// Builds a corpus from parsed entries: derives the speaker vectors from the training entries
    /// and splits the utterances.
    /// </summary>
    internal static SpeechCorpus Create(string source, IReadOnlyList<string> speakers, int melDim, IReadOnlyList<CorpusEntry> entries)
    {
        float[][] speakerVectors = ComputeSpeakerVectors(source, speakers, melDim, entries);

        var train = new List<Utterance>();
        var heldOut = new List<Utterance>();
        foreach (CorpusEntry entry in entries)
        {
            var utterance = new Utterance(
                entry.Id, entry.Text, entry.Speaker, entry.Frames, entry.Mel, (float[])speakerVectors[entry.Speaker].Clone());
            (entry.HeldOut ? heldOut : train).Add(utterance);
        }
        return new SpeechCorpus(speakers, melDim, train, heldOut);
    }

    // per speaker: mean log-mel over its training frames, minus the average of those means, standardized across bands
    private static float[][] ComputeSpeakerVectors(string source, IReadOnlyList<string> speakers, int melDim, IReadOnlyList<CorpusEntry> entries)
    {
        // 1. sum each speaker's training frames
        var means = new double[speakers.Count][];
        var frameCounts = new long[speakers.Count];
        for (int s = 0; s < speakers.Count; s++)
        {
            means[s] = new double[melDim];
        }
        foreach (CorpusEntry entry in entries)
        {
            if (entry.HeldOut)
            {
                continue;
            }
            double[] sum = means[entry.Speaker];
            for (int band = 0; band < melDim; band++)
            {
                ReadOnlySpan<float> row = entry.Mel.AsSpan(band * entry.Frames, entry.Frames);
                for (int frame = 0; frame < row.Length; frame++)
                {
                    sum[band] += row[frame];
                }
            }
            frameCounts[entry.Speaker] += entry.Frames;
        }

        // 2. divide into means, and average the means with every speaker weighted equally
        var average = new double[melDim];
        for (int s = 0; s < speakers.Count; s++)
        {
            if (frameCounts[s] == 0)
            {
                throw new InvalidDataException(
                    $"Speech corpus '{source}' is invalid: speaker '{speakers[s]}' has no training utterances, so its speaker vector cannot be derived.");
            }
            for (int band = 0; band < melDim; band++)
            {
                means[s][band] /= frameCounts[s];
                average[band] += means[s][band] / speakers.Count;
            }
        }

        // 3. standardize each speaker's deviation across bands; a flat deviation stays all zeros
        var vectors = new float[speakers.Count][];
        for (int s = 0; s < speakers.Count; s++)
        {
            double[] deviation = [.. means[s].Select((value, band) => value - average[band])];
            double center = deviation.Average();
            double variance = deviation.Sum(v => (v - center) * (v - center)) / melDim;
            double scale = variance > 0 ? 1 / Math.Sqrt(variance) : 0;
            vectors[s] = [.. deviation.Select(v => (float)((v - center) * scale))];
        }
        return vectors;
    }
}

/// <summary>One utterance as read from a corpus file, before the speaker vectors exist.</summary>
internal sealed record CorpusEntry(string Id, string Text, int Speaker, int Frames, float[] Mel, bool HeldOut);
