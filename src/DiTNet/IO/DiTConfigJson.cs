using System.Text;
using System.Text.Json;
using DiTNet.Models;

namespace DiTNet.IO;

/// <summary>
/// The <c>config</c> metadata of a DiT file: the hyper-parameters under CosyVoice's names, and
/// for a recorded PyTorch run also its kind, mask mode and per-item lengths.
/// </summary>
/// <param name="Config">The model's hyper-parameters.</param>
/// <param name="Kind">What a recorded run checks (<c>forward_backward</c>, <c>cfm_loss</c>, <c>euler_sample</c>), or null for a plain checkpoint.</param>
/// <param name="Streaming">Whether the recorded run used the streaming chunk mask.</param>
/// <param name="Lengths">The real frame count of each batch item, or null when not recorded.</param>
/// <param name="Extra">The other entries, such as <c>n_timesteps</c> or <c>inference_cfg_rate</c>.</param>
public sealed record DiTConfigDocument(
    DiTConfig Config, string? Kind, bool Streaming, int[]? Lengths, IReadOnlyDictionary<string, JsonElement> Extra)
{
    /// <summary>The metadata key the document is stored under.</summary>
    public const string MetadataKey = "config";

    /// <summary>Returns an extra entry as a double, or null when absent.</summary>
    /// <exception cref="InvalidDataException">The entry is not a number.</exception>
    public double? GetDouble(string key)
    {
        if (!Extra.TryGetValue(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number)
        {
            throw new InvalidDataException($"config entry '{key}' is {value.GetRawText()}, not a number.");
        }
        return value.GetDouble();
    }

    /// <summary>Returns an extra entry as a string, or null when absent.</summary>
    /// <exception cref="InvalidDataException">The entry is not a string.</exception>
    public string? GetString(string key)
    {
        if (!Extra.TryGetValue(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new InvalidDataException($"config entry '{key}' is {value.GetRawText()}, not a string.");
        }
        return value.GetString();
    }
}

/// <summary>Converts <see cref="DiTConfig"/> to and from the JSON stored in a file's <c>config</c> metadata.</summary>
/// <remarks>
/// The keys are CosyVoice's: <c>dim, depth, heads, dim_head, ff_mult, mel_dim, mu_dim, spk_dim,
/// long_skip_connection</c> (all required), <c>static_chunk_size</c> and <c>dropout</c> (0 when absent).
/// </remarks>
public static class DiTConfigJson
{
    private static readonly string[] KnownKeys =
    [
        "dim", "depth", "heads", "dim_head", "ff_mult", "mel_dim", "mu_dim", "spk_dim",
        "long_skip_connection", "static_chunk_size", "dropout", "kind", "streaming", "lengths",
    ];

    /// <summary>Writes a config as a JSON object, with extra string, number or boolean entries after it.</summary>
    public static string ToJson(DiTConfig config, IReadOnlyDictionary<string, object>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteNumber("dim", config.Dim);
            json.WriteNumber("depth", config.Depth);
            json.WriteNumber("heads", config.Heads);
            json.WriteNumber("dim_head", config.DimHead);
            json.WriteNumber("ff_mult", config.FFMult);
            json.WriteNumber("mel_dim", config.MelDim);
            json.WriteNumber("mu_dim", config.MuDim);
            json.WriteNumber("spk_dim", config.SpkDim);
            json.WriteBoolean("long_skip_connection", config.LongSkipConnection);
            json.WriteNumber("static_chunk_size", config.StaticChunkSize);
            json.WriteNumber("dropout", config.Dropout);
            foreach (var (key, value) in extra ?? new Dictionary<string, object>())
            {
                WriteValue(json, key, value);
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Parses just the config from a JSON object.</summary>
    /// <exception cref="InvalidDataException">The text is not a JSON object, a required key is missing or a value has the wrong type.</exception>
    public static DiTConfig Parse(string json) => ParseDocument(json).Config;

    /// <summary>Parses the config and the run description of a recorded PyTorch run.</summary>
    /// <exception cref="InvalidDataException">The text is not a JSON object, a required key is missing or a value has the wrong type.</exception>
    public static DiTConfigDocument ParseDocument(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException error)
        {
            throw new InvalidDataException($"the config metadata is not valid JSON: {error.Message}", error);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"the config metadata is a JSON {root.ValueKind}, not an object.");
            }

            var config = new DiTConfig(
                Dim: GetInt(root, "dim"),
                Depth: GetInt(root, "depth"),
                Heads: GetInt(root, "heads"),
                DimHead: GetInt(root, "dim_head"),
                FFMult: GetInt(root, "ff_mult"),
                MelDim: GetInt(root, "mel_dim"),
                MuDim: GetInt(root, "mu_dim"),
                SpkDim: GetInt(root, "spk_dim"),
                LongSkipConnection: GetBool(root, "long_skip_connection") ?? throw Missing("long_skip_connection"),
                StaticChunkSize: GetOptionalInt(root, "static_chunk_size") ?? 0,
                Dropout: GetOptionalDouble(root, "dropout") ?? 0.0);

            string? kind = root.TryGetProperty("kind", out var kindElement) && kindElement.ValueKind == JsonValueKind.String
                ? kindElement.GetString()
                : null;
            bool streaming = GetBool(root, "streaming") ?? false;
            int[]? lengths = GetLengths(root);

            var extra = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (Array.IndexOf(KnownKeys, property.Name) < 0)
                {
                    extra[property.Name] = property.Value.Clone();
                }
            }
            return new DiTConfigDocument(config, kind, streaming, lengths, extra);
        }
    }

    private static void WriteValue(Utf8JsonWriter json, string key, object value)
    {
        switch (value)
        {
            case string text:
                json.WriteString(key, text);
                break;
            case bool flag:
                json.WriteBoolean(key, flag);
                break;
            case int integer:
                json.WriteNumber(key, integer);
                break;
            case long integer:
                json.WriteNumber(key, integer);
                break;
            case double number:
                json.WriteNumber(key, number);
                break;
            case float number:
                json.WriteNumber(key, number);
                break;
            default:
                throw new ArgumentException($"Config entry '{key}' has type {value.GetType().Name}; only strings, numbers and booleans are stored.", nameof(value));
        }
    }

    private static int GetInt(JsonElement root, string key) => GetOptionalInt(root, key) ?? throw Missing(key);

    private static int? GetOptionalInt(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result))
        {
            throw new InvalidDataException($"config entry '{key}' is {value.GetRawText()}, not an integer.");
        }
        return result;
    }

    private static double? GetOptionalDouble(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number)
        {
            throw new InvalidDataException($"config entry '{key}' is {value.GetRawText()}, not a number.");
        }
        return value.GetDouble();
    }

    private static bool? GetBool(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidDataException($"config entry '{key}' is {value.GetRawText()}, not true or false."),
        };
    }

    private static int[]? GetLengths(JsonElement root)
    {
        if (!root.TryGetProperty("lengths", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"config entry 'lengths' is {value.GetRawText()}, not an array of integers.");
        }
        var lengths = new int[value.GetArrayLength()];
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out lengths[i++]))
            {
                throw new InvalidDataException($"config entry 'lengths' has {item.GetRawText()}, not an integer.");
            }
        }
        return lengths;
    }

    private static InvalidDataException Missing(string key) =>
        new($"config entry '{key}' is missing; the config needs dim, depth, heads, dim_head, ff_mult, mel_dim, mu_dim, spk_dim and long_skip_connection.");
}
