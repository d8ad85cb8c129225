using System.Numerics;
using DiTNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DiTNet.IO;

/// <summary>Loads and saves a whole DiT as a safetensors state dict under PyTorch's parameter names.</summary>
public static partial class DiTCheckpoint
{
    /// <summary>The prefix of the DiT's tensors in a converted CosyVoice flow checkpoint.</summary>
    public const string CosyVoicePrefix = "decoder.estimator.";

    private const string AnchorName = "proj_out.weight";
    private const string SecondAnchorName = "input_embed.proj.weight";

    /// <summary>Opens a checkpoint and builds the model it holds.</summary>
    /// <param name="config">The hyper-parameters; when null, the file's <c>config</c> metadata is used if present, else
    /// they are inferred from the tensor shapes (see <see cref="DiTConfigInference"/>).</param>
    /// <param name="prefix">The prefix of the DiT's tensor names; when null it is detected, e.g. <c>decoder.estimator.</c>.</param>
    /// <param name="hints">What inference cannot read from the shapes; ignored when a config is given or stored.</param>
    /// <exception cref="InvalidDataException">The file is corrupt, contains no DiT, or its config cannot be inferred.</exception>
    /// <exception cref="StateDictMismatchException">The tensors do not match the config's parameters.</exception>
    public static DiT<T> Load<T>(string path, DiTConfig? config = null, string? prefix = null, ILogger? logger = null, DiTConfigHints? hints = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var file = SafeTensorsFile.Open(path);
        return Load<T>(file, config, prefix, logger, hints);
    }

    /// <summary>Builds the model held by an opened checkpoint.</summary>
    /// <inheritdoc cref="Load{T}(string, DiTConfig?, string?, ILogger?, DiTConfigHints?)"/>
    public static DiT<T> Load<T>(SafeTensorsFile file, DiTConfig? config = null, string? prefix = null, ILogger? logger = null, DiTConfigHints? hints = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(file);
        logger ??= NullLogger.Instance;
        prefix ??= DetectPrefix(file);
        config ??= ReadConfig(file, prefix, hints, logger);

        var model = new DiT<T>(config);
        var result = StateDict.Load(model, file, prefix);
        LogLoaded(logger, file.Path, result.Loaded, prefix, config.ToString());
        return model;
    }

    /// <summary>Returns the config stored in the file's <c>config</c> metadata, or else the one inferred from its shapes.</summary>
    /// <remarks>A <c>config</c> entry that is not a DiT config, e.g. one written by another tool, is logged as a warning and ignored.</remarks>
    /// <exception cref="InvalidDataException">Inference fails.</exception>
    public static DiTConfig ReadConfig(SafeTensorsFile file, string prefix = "", DiTConfigHints? hints = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        logger ??= NullLogger.Instance;
        if (file.Metadata.TryGetValue(DiTConfigDocument.MetadataKey, out string? json))
        {
            try
            {
                var config = DiTConfigJson.Parse(json);
                config.Validate();
                return config;
            }
            catch (Exception error) when (error is InvalidDataException or ArgumentException)
            {
                LogIgnoredConfig(logger, file.Path, error.Message);
            }
        }
        return DiTConfigInference.Infer(file, prefix, hints, logger);
    }

    /// <summary>
    /// Finds the prefix of the DiT's tensor names: empty when <c>proj_out.weight</c> is a top-level
    /// name, else the one prefix under which both <c>proj_out.weight</c> and <c>input_embed.proj.weight</c> exist.
    /// </summary>
    /// <exception cref="InvalidDataException">No prefix, or more than one, has both tensors.</exception>
    public static string DetectPrefix(SafeTensorsFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.Contains(AnchorName))
        {
            return "";
        }

        var candidates = new List<string>();
        foreach (string name in file.Names)
        {
            if (name.EndsWith("." + AnchorName, StringComparison.Ordinal))
            {
                string prefix = name[..^AnchorName.Length];
                if (file.Contains(prefix + SecondAnchorName))
                {
                    candidates.Add(prefix);
                }
            }
        }
        return candidates.Count switch
        {
            1 => candidates[0],
            0 => throw new InvalidDataException(
                $"{file.Path}: no DiT found: no prefix has both '{AnchorName}' and '{SecondAnchorName}' among its {file.Names.Count} tensors."),
            _ => throw new InvalidDataException(
                $"{file.Path}: several DiTs found, under prefixes {string.Join(", ", candidates.Select(c => $"'{c}'"))}; pass the prefix of the one to load."),
        };
    }

    /// <summary>Saves the parameters under their PyTorch names and the config as JSON in the <c>config</c> metadata.</summary>
    /// <param name="storeAs">The stored type: F32 (the default for float), F64, F16 or BF16.</param>
    /// <param name="metadata">More metadata entries to store; <c>config</c> and <c>format</c> are set here.</param>
    /// <param name="prefix">Prepended to every name, e.g. <see cref="CosyVoicePrefix"/>.</param>
    public static void Save<T>(DiT<T> model, string path, SafeTensorsDType? storeAs = null,
        IReadOnlyDictionary<string, string>? metadata = null, string prefix = "")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var writer = new SafeTensorsWriter();
        StateDict.AddTo(writer, model, prefix, storeAs);

        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            entries[key] = value;
        }

        // "format": "pt" is what safetensors' own PyTorch writer stores, and some loaders look for it
        entries["format"] = "pt";
        entries[DiTConfigDocument.MetadataKey] = DiTConfigJson.ToJson(model.Config);
        writer.Write(path, entries);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring the 'config' metadata of {Path}, which is not a DiT config ({Reason}); inferring the config from the tensor shapes")]
    private static partial void LogIgnoredConfig(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Loaded {Count} tensors from {Path} under prefix '{Prefix}': {Config}")]
    private static partial void LogLoaded(ILogger logger, string path, int count, string prefix, string config);
}
