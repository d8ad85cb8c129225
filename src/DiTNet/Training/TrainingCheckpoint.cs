using System.Numerics;
using DiTNet.IO;
using DiTNet.Models;

namespace DiTNet.Training;

/// <summary>
/// Reads and writes a <see cref="TrainingState{T}"/> as one safetensors file: the model's tensors under their
/// PyTorch names, the optimizer moments and the weight average under their prefixes, the state's metadata,
/// and the model's config under <c>config</c>.
/// </summary>
public static class TrainingCheckpoint
{
    /// <summary>Writes <paramref name="state"/> to <paramref name="path"/>, replacing it atomically.</summary>
    /// <remarks>The file is first written under a temporary name in the same folder and then renamed, so an
    /// interrupted save leaves the previous checkpoint as it was.</remarks>
    /// <param name="metadata">More metadata entries; <c>config</c> and <c>format</c> are set here.</param>
    public static void Save<T>(string path, TrainingState<T> state, DiTConfig config, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(config);
        var entries = new Dictionary<string, string>(state.Metadata, StringComparer.Ordinal);
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            entries[key] = value;
        }
        entries["format"] = "pt";
        entries[DiTConfigDocument.MetadataKey] = DiTConfigJson.ToJson(config);
        SafeTensors.Write(path, state.Tensors, entries);
    }

    /// <summary>Reads every tensor and metadata entry of a checkpoint written by <see cref="Save{T}"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file.</exception>
    public static TrainingState<T> Load<T>(string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var file = SafeTensorsFile.Open(path);
        var state = new TrainingState<T>();
        foreach (string name in file.Names)
        {
            state.Tensors[name] = file.ReadTensor<T>(name);
        }
        foreach (var (key, value) in file.Metadata)
        {
            state.Metadata[key] = value;
        }
        return state;
    }

    /// <summary>Returns the model config stored in a checkpoint's metadata.</summary>
    /// <exception cref="ArgumentException">The state has no <c>config</c> entry.</exception>
    /// <exception cref="InvalidDataException">The entry is not a valid config.</exception>
    public static DiTConfig ReadConfig<T>(TrainingState<T> state) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(state);
        return DiTConfigJson.Parse(state.Require(DiTConfigDocument.MetadataKey));
    }
}
