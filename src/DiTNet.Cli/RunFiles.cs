using System.Text.Json;
using DiTNet.Data;
using DiTNet.IO;
using DiTNet.Models;
using DiTNet.Tensors;
using DiTNet.Training;

namespace DiTNet.Cli;

/// <summary>A corpus split into training and held-out utterances, in the trainer's layout.</summary>
/// <param name="HeldOutSpeakers">The speaker index of each held-out utterance, in the order of <paramref name="HeldOut"/>.</param>
internal sealed record CorpusData(
    IReadOnlyList<TrainingExample> Train, IReadOnlyList<TrainingExample> HeldOut, IReadOnlyList<int> HeldOutSpeakers,
    int MelDim, int MuDim, int SpkDim, int Speakers);

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
            return RequireFile(path, "--corpus");
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

    /// <summary>Returns <paramref name="path"/> when it names an existing file; otherwise throws a message naming <paramref name="label"/>.</summary>
    /// <param name="label">The option or argument that gave the path, such as <c>--resume</c> or <c>WEIGHTS</c>.</param>
    /// <exception cref="ArgumentException">The path is a directory.</exception>
    /// <exception cref="FileNotFoundException">Nothing exists at the path.</exception>
    public static string RequireFile(string path, string label)
    {
        if (Directory.Exists(path))
        {
            throw new ArgumentException($"{label}: '{path}' is a directory, not a safetensors file.");
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{label}: file '{path}' not found.", path);
        }
        return path;
    }

    /// <summary>Loads the corpus file and converts its utterances to the trainer's layout.</summary>
    public static CorpusData LoadCorpus(string path)
    {
        var corpus = SpeechCorpus.Load(path);
        var train = corpus.Train.Select(ToExample).ToArray();
        var heldOutSpeakers = corpus.HeldOut.Select(utterance => utterance.Speaker).ToArray();
        var heldOut = corpus.HeldOut.Select(ToExample).ToArray();
        if (train.Length == 0 || heldOut.Length == 0)
        {
            throw new InvalidDataException($"Corpus '{path}' has {train.Length} training and {heldOut.Length} held-out utterances; both must be non-empty.");
        }
        return new CorpusData(train, heldOut, heldOutSpeakers, train[0].MelDim, train[0].MuDim, train[0].SpkDim, corpus.Speakers.Count);
    }

    /// <summary>Reads a training checkpoint.</summary>
    public static TrainingState<float> LoadTrainingState(string path) => TrainingCheckpoint.Load<float>(path);

    /// <summary>Loads a DiT from a training checkpoint or model weights, with the weight average when asked and present.</summary>
    /// <remarks>The average covers only trainable tensors, so buffers such as the rotary frequencies come from the plain names.</remarks>
    public static DiT<float> LoadModel(string path, bool useAverage)
    {
        using var file = SafeTensorsFile.Open(path);
        var config = DiTCheckpoint.ReadConfig(file);
        var model = new DiT<float>(config);
        bool training = file.Contains(TrainingState<float>.FirstMomentPrefix + "proj_out.weight");
        StateDict.Load(model, file, "", strict: !training);
        if (useAverage && file.Contains(TrainingState<float>.EmaPrefix + "proj_out.weight"))
        {
            StateDict.Load(model, file, TrainingState<float>.EmaPrefix, strict: false);
        }
        return model;
    }

    /// <summary>Writes generated mels, one <c>[M, N]</c> tensor per utterance id.</summary>
    public static void SaveSamples(string path, IReadOnlyList<TrainingExample> examples, float[][] samples)
    {
        var tensors = examples.Select((example, i) =>
            KeyValuePair.Create(example.Id, new Tensor<float>(samples[i], example.MelDim, example.Frames)));
        SafeTensors.Write(path, tensors, new Dictionary<string, string> { ["content"] = "generated mel [M, N] per utterance id" });
    }

    /// <summary>Writes the model's weights and config, as <c>ditnet info</c>, <c>check</c> and <c>sample</c> read them.</summary>
    /// <exception cref="IOException">The file cannot be written; the message names it and says the previous file is intact.</exception>
    public static void SaveModel(string path, DiT<float> model) => WriteReplacing(path, () => DiTCheckpoint.Save(model, path));

    /// <summary>Writes a training checkpoint atomically, with the run's settings in the metadata.</summary>
    /// <exception cref="IOException">The file cannot be written; the message names it and says the previous file is intact.</exception>
    public static void SaveTrainingState(string path, TrainingState<float> state, TrainSettings settings, DiTConfig config)
    {
        var metadata = new Dictionary<string, string> { [SettingsKey] = JsonSerializer.Serialize(settings, TrainSettings.Json) };
        WriteReplacing(path, () => TrainingCheckpoint.Save(path, state, config, metadata));
    }

    /// <summary>
    /// Deletes the temporary files that an interrupted atomic save of <paramref name="path"/> left in its folder,
    /// named <c>.NAME.GUID.tmp</c> by the safetensors writer.
    /// </summary>
    public static void DeleteStaleTemporaries(string path)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder))
        {
            return;
        }
        foreach (string stale in Directory.EnumerateFiles(folder, $".{Path.GetFileName(path)}.*.tmp"))
        {
            File.Delete(stale);
        }
    }

    private static void WriteReplacing(string path, Action write)
    {
        try
        {
            write();
        }
        catch (IOException error)
        {
            // the writer renames a finished temporary file over the target, so a failed write never touches the old file
            string previous = File.Exists(path) ? "the previous file there is intact" : "no earlier version of it existed";
            throw new IOException($"Could not write '{path}' ({error.Message}); {previous}.", error);
        }
        DeleteStaleTemporaries(path);
    }

    private static TrainingExample ToExample(Utterance utterance) =>
        new(utterance.Id, utterance.Mel, utterance.Mu, utterance.Spks, utterance.Frames);
}
