using System.Numerics;

namespace DiTNet.Tensors;

/// <summary>
/// A named model tensor with its gradient, named as in PyTorch's state_dict
/// (for example <c>transformer_blocks.3.attn.to_q.weight</c>).
/// </summary>
/// <remarks>
/// Backward passes add into <see cref="Gradient"/>; the caller zeroes it between steps.
/// A buffer such as <c>rotary_embed.inv_freq</c> is a parameter with <see cref="Trainable"/> false:
/// it is saved and loaded but never updated and gets no gradient.
/// </remarks>
public sealed class Parameter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a zero-filled parameter and its zero gradient.</summary>
    public Parameter(string name, int[] shape, bool trainable = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        Value = new Tensor<T>(shape);
        Gradient = trainable ? new Tensor<T>(shape) : new Tensor<T>(0);
        Trainable = trainable;
    }

    /// <summary>The PyTorch state_dict key.</summary>
    public string Name { get; }

    /// <summary>The current value.</summary>
    public Tensor<T> Value { get; }

    /// <summary>The accumulated gradient, same shape as <see cref="Value"/>; empty when not trainable.</summary>
    public Tensor<T> Gradient { get; }

    /// <summary>Whether optimizers update this tensor.</summary>
    public bool Trainable { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {Value.ShapeString}";
}

/// <summary>Something that owns parameters: a layer or a whole model.</summary>
public interface IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Every parameter and buffer, in a fixed order.</summary>
    IEnumerable<Parameter<T>> Parameters { get; }
}
