using System.Text.Json;
using DiTNet.Data;
using DiTNet.IO;
using DiTNet.Models;
using DiTNet.Tensors;
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

    /// <summary>Loads the corpus file and converts its utterances to the trainer's layout.</summary>
    public static CorpusData LoadCorpus(string path)
    {
        var corpus = SpeechCorpus.Load(path);
        var train = corpus.Train.Select(ToExample).ToArray();
        var heldOut = corpus.HeldOut.Select(ToExample).ToArray();
        if (train.Length == 0 || heldOut.Length == 0)
        {
            throw new InvalidDataException($"Corpus '{path}' has {train.Length} training and {heldOut.Length} held-out utterances; both must be non-empty.");
        }
        return new CorpusData(train, heldOut, train[0].MelDim, train[0].MuDim, train[0].SpkDim, corpus.Speakers.Count);
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
    public static void SaveModel(string path, DiT<float> model) => DiTCheckpoint.Save(model, path);

    /// <summary>Writes a training checkpoint atomically, with the run's settings in the metadata.</summary>
    public static void SaveTrainingState(string path, TrainingState<float> state, TrainSettings settings, DiTConfig config)
    {
        var metadata = new Dictionary<string, string> { [SettingsKey] = JsonSerializer.Serialize(settings, TrainSettings.Json) };
        TrainingCheckpoint.Save(path, state, config, metadata);
    }

    private static TrainingExample ToExample(Utterance utterance) =>
        new(utterance.Id, utterance.Mel, utterance.Mu, utterance.Spks, utterance.Frames);
}
