using System.Text.Json;
using DiTNet.IO;

namespace DiTNet.Data;

/// <summary>Reads and validates the safetensors file behind a <see cref="SpeechCorpus"/>.</summary>
internal static class CorpusFileReader
{
    public const string FormatKey = "format";
    public const string CorpusKey = "corpus";
    public const string MelTensorPrefix = "mel.";

    public static SpeechCorpus Read(string path)
    {
        using SafeTensorsFile file = OpenFile(path);
        var (speakers, melDim, headers) = ParseMetadata(path, file.Metadata);

        var entries = new List<CorpusEntry>(headers.Count);
        foreach (EntryHeader header in headers)
        {
            float[] mel = ReadMel(file, header, melDim);
            entries.Add(new CorpusEntry(header.Id, header.Text, header.Speaker, header.Frames, mel, header.HeldOut));
        }
        return SpeechCorpus.Create(path, speakers, melDim, entries);
    }

    private static SafeTensorsFile OpenFile(string path)
    {
        try
        {
            return SafeTensorsFile.Open(path);
        }
        catch (InvalidDataException error)
        {
            throw new InvalidDataException(
                $"Speech corpus '{path}' is not a valid safetensors file: {error.Message}", error);
        }
    }

    private sealed record EntryHeader(string Id, string Text, int Speaker, int Frames, bool HeldOut);

    private static (List<string> Speakers, int MelDim, List<EntryHeader> Entries) ParseMetadata(
        string path, IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(FormatKey, out string? format) || format != SpeechCorpus.FormatName)
        {
            throw Invalid(path, $"its metadata key '{FormatKey}' is '{format ?? "(missing)"}', expected '{SpeechCorpus.FormatName}'");
        }
        if (!metadata.TryGetValue(CorpusKey, out string? json))
        {
            throw Invalid(path, $"its metadata has no '{CorpusKey}' entry");
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(json);
            JsonElement root = document.RootElement;
            int melDim = GetInt(path, root, "mel_dim", "the corpus");
            if (melDim < 1)
            {
                throw Invalid(path, $"mel_dim is {melDim}, expected at least 1");
            }

            // speakers
            var speakers = new List<string>();
            foreach (JsonElement speaker in GetArray(path, root, "speakers", "the corpus").EnumerateArray())
            {
                speakers.Add(GetString(path, speaker, "name", $"speaker {speakers.Count}"));
            }
            if (speakers.Count == 0)
            {
                throw Invalid(path, "it lists no speakers");
            }

            // utterances
            var entries = new List<EntryHeader>();
            var ids = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonElement utterance in GetArray(path, root, "utterances", "the corpus").EnumerateArray())
            {
                string where = $"utterance {entries.Count}";
                string id = GetString(path, utterance, "id", where);
                where = $"utterance '{id}'";
                string text = GetString(path, utterance, "text", where);
                int speaker = GetInt(path, utterance, "speaker", where);
                int frames = GetInt(path, utterance, "frames", where);
                string split = GetString(path, utterance, "split", where);

                if (!ids.Add(id))
                {
                    throw Invalid(path, $"utterance id '{id}' appears twice");
                }
                if (speaker < 0 || speaker >= speakers.Count)
                {
                    throw Invalid(path, $"{where} has speaker {speaker}, outside the {speakers.Count} speakers listed");
                }
                if (frames < 1)
                {
                    throw Invalid(path, $"{where} has {frames} frames, expected at least 1");
                }
                if (split != SpeechCorpus.TrainSplit && split != SpeechCorpus.HeldOutSplit)
                {
                    throw Invalid(path, $"{where} has split '{split}', expected '{SpeechCorpus.TrainSplit}' or '{SpeechCorpus.HeldOutSplit}'");
                }
                entries.Add(new EntryHeader(id, text, speaker, frames, split == SpeechCorpus.HeldOutSplit));
            }
            return (speakers, melDim, entries);
        }
        catch (JsonException error)
        {
            throw new InvalidDataException($"Speech corpus '{path}': the '{CorpusKey}' metadata is not valid JSON: {error.Message}", error);
        }
    }

    private static float[] ReadMel(SafeTensorsFile file, EntryHeader header, int melDim)
    {
        string name = MelTensorPrefix + header.Id;
        if (!file.Contains(name))
        {
            throw Invalid(file.Path, $"utterance '{header.Id}' has no tensor '{name}'");
        }
        SafeTensorInfo info = file.Info(name);
        if (info.Shape.Length != 2 || info.Shape[0] != melDim || info.Shape[1] != header.Frames)
        {
            throw Invalid(file.Path, $"tensor '{name}' has shape {info.ShapeString}, expected [{melDim}, {header.Frames}]");
        }
        if (info.DType != SafeTensorsDType.F16 && info.DType != SafeTensorsDType.F32)
        {
            throw Invalid(file.Path, $"tensor '{name}' is {info.DType}, expected F16 or F32");
        }

        var mel = new float[melDim * header.Frames];
        file.Read<float>(name, mel);
        int bad = Array.FindIndex(mel, value => !float.IsFinite(value));
        if (bad >= 0)
        {
            throw Invalid(file.Path, $"tensor '{name}' has the non-finite value {mel[bad]} at [{bad / header.Frames}, {bad % header.Frames}]");
        }
        return mel;
    }

    private static InvalidDataException Invalid(string path, string problem) =>
        new($"Speech corpus '{path}' is invalid: {problem}.");

    private static JsonElement GetArray(string path, JsonElement parent, string key, string where)
    {
        if (parent.ValueKind != JsonValueKind.Object || !parent.TryGetProperty(key, out JsonElement value) || value.ValueKind != JsonValueKind.Array)
        {
            throw Invalid(path, $"{where} has no array '{key}'");
        }
        return value;
    }

    private static string GetString(string path, JsonElement parent, string key, string where)
    {
        if (parent.ValueKind != JsonValueKind.Object || !parent.TryGetProperty(key, out JsonElement value) || value.ValueKind != JsonValueKind.String)
        {
            throw Invalid(path, $"{where} has no string '{key}'");
        }
        return value.GetString()!;
    }

    private static int GetInt(string path, JsonElement parent, string key, string where)
    {
        if (parent.ValueKind != JsonValueKind.Object || !parent.TryGetProperty(key, out JsonElement value)
            || value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int number))
        {
            throw Invalid(path, $"{where} has no integer '{key}'");
        }
        return number;
    }
}
