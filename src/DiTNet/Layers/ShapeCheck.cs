using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>Argument checks shared by the layers; messages name the tensor and both shapes.</summary>
internal static class ShapeCheck
{
    /// <summary>Throws unless <paramref name="tensor"/> has exactly the shape <paramref name="expected"/>.</summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public static void Require<T>(Tensor<T> tensor, string name, params ReadOnlySpan<int> expected) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (!tensor.HasShape(expected))
        {
            throw new ArgumentException(
                $"{name} must have shape {Tensor<T>.FormatShape(expected)} but has shape {tensor.ShapeString}.", name);
        }
    }

    /// <summary>Reshapes <paramref name="tensor"/> unless it already has <paramref name="shape"/>, so that a steady loop allocates no shape array.</summary>
    public static Tensor<T> EnsureShape<T>(this Tensor<T> tensor, params ReadOnlySpan<int> shape) where T : unmanaged
    {
        if (!tensor.HasShape(shape))
        {
            tensor.Reshape(shape.ToArray());
        }
        return tensor;
    }

    /// <summary>Throws unless <paramref name="tensor"/> has rank <paramref name="rank"/> and last dimension <paramref name="width"/>.</summary>
    /// <exception cref="ArgumentException">The rank or the last dimension differs.</exception>
    public static void RequireWidth<T>(Tensor<T> tensor, string name, int rank, int width) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (tensor.Rank != rank || tensor.Dim(-1) != width)
        {
            string expected = "[" + string.Join(", ", Enumerable.Repeat("*", rank - 1).Append(width.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";
            throw new ArgumentException($"{name} must have shape {expected} but has shape {tensor.ShapeString}.", name);
        }
    }
}
