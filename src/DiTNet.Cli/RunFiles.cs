using DiTNet.Models;
using DiTNet.Training;

namespace DiTNet.Cli;

/// <summary>A corpus split into training and held-out utterances, in the trainer's layout.</summary>
internal sealed record CorpusData(IReadOnlyList<TrainingExample> Train, IReadOnlyList<TrainingExample> HeldOut, int MelDim, int MuDim, int SpkDim, int Speakers);

/// <summary>Reading the corpus and reading and writing training checkpoints for the CLI verbs.</summary>
internal static class RunFiles
{
    /// <summary>The checkpoint metadata key of the run's <see cref="TrainSettings"/> as JSON.</summary>
    public const string SettingsKey = "ditnet.train_settings";

    /// <summary>Returns the corpus path: the given one, else data/corpus.safetensors next to the program, else under the working directory.</summary>
    /// <exception cref="FileNotFoundException">No corpus file exists at the candidates.</exception>
    public static string ResolveCorpus(string? path)
    {
        if (path is not null)
        {
            return File.Exists(path) ? path : throw new FileNotFoundException($"Corpus file '{path}' not found.", path);
        }
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, "data", "corpus.safetensors"),
            Path.Combine("data", "corpus.safetensors"),
        ];
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                $"No corpus found at {string.Join(" or ", candidates)}; pass --corpus PATH.", candidates[^1]);
    }

    /// <summary>Loads the corpus file.</summary>
    public static CorpusData LoadCorpus(string path) =>
        throw new NotSupportedException($"Reading the corpus '{path}' needs DiTNet.Data.SpeechCorpus, which this build does not include yet.");

    /// <summary>Reads a training checkpoint.</summary>
    public static TrainingState<float> LoadTrainingState(string path) =>
        throw new NotSupportedException($"Reading checkpoint '{path}' needs the safetensors reader, which this build does not include yet.");

    /// <summary>Loads a DiT from a training checkpoint or model weights, with the weight average when asked and present.</summary>
    public static DiT<float> LoadModel(string path, bool useAverage) =>
        throw new NotSupportedException($"Reading checkpoint '{path}' (average {useAverage}) needs the safetensors reader, which this build does not include yet.");

    /// <summary>Writes generated mels, one <c>[M, N]</c> tensor per utterance id.</summary>
    public static void SaveSamples(string path, IReadOnlyList<TrainingExample> examples, float[][] samples) =>
        throw new NotSupportedException($"Writing '{path}' ({examples.Count} of {samples.Length}) needs the safetensors writer, which this build does not include yet.");

    /// <summary>Writes a training checkpoint atomically.</summary>
    public static void SaveTrainingState(string path, TrainingState<float> state, TrainSettings settings, DiTConfig config) =>
        throw new NotSupportedException($"Writing checkpoint '{path}' needs the safetensors writer, which this build does not include yet.");
}
