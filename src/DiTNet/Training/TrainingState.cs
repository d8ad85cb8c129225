using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Training;

/// <summary>
/// A snapshot of a training run: named tensors (model, optimizer moments, weight average) and text metadata
/// (step counters, data order, random stream states), laid out as a safetensors file stores them.
/// </summary>
public sealed class TrainingState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The name prefix of AdamW's first moments.</summary>
    public const string FirstMomentPrefix = "optimizer.exp_avg.";

    /// <summary>The name prefix of AdamW's second moments.</summary>
    public const string SecondMomentPrefix = "optimizer.exp_avg_sq.";

    /// <summary>The name prefix of the weight average.</summary>
    public const string EmaPrefix = "ema.";

    /// <summary>Tensors by name; the model's own tensors carry their PyTorch names without a prefix.</summary>
    public Dictionary<string, Tensor<T>> Tensors { get; } = new(StringComparer.Ordinal);

    /// <summary>Metadata entries by key.</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Returns the metadata entry <paramref name="key"/>.</summary>
    /// <exception cref="ArgumentException">The entry is missing.</exception>
    public string Require(string key) => Metadata.TryGetValue(key, out var value)
        ? value
        : throw new ArgumentException($"The training state has no metadata entry '{key}'; it is not a DiTNet training checkpoint.", nameof(key));
}
