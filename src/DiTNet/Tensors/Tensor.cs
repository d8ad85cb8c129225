using System.Numerics;
using System.Runtime.CompilerServices;

namespace DiTNet.Tensors;

/// <summary>
/// A dense row-major tensor: a shape over a contiguous buffer whose last axis is contiguous.
/// </summary>
/// <remarks>
/// The buffer may be larger than the shape needs, so that <see cref="Reshape"/> can reuse it:
/// a layer keeps one tensor per saved activation and reshapes it from step to step, and a
/// steady training loop allocates nothing after its first step.
/// </remarks>
public sealed class Tensor<T> where T : unmanaged
{
    private T[] _data;
    private int[] _shape;

    /// <summary>Creates a zero-filled tensor.</summary>
    /// <exception cref="ArgumentException">A dimension is negative or the element count overflows.</exception>
    public Tensor(params int[] shape)
    {
        _shape = (int[])shape.Clone();
        Length = CountElements(_shape, nameof(shape));
        _data = Length == 0 ? [] : new T[Length];
    }

    /// <summary>Wraps an existing array, without copying it, as a tensor of the given shape.</summary>
    /// <exception cref="ArgumentException">The array is shorter than the shape needs.</exception>
    public Tensor(T[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        _shape = (int[])shape.Clone();
        Length = CountElements(_shape, nameof(shape));
        if (data.Length < Length)
        {
            throw new ArgumentException(
                $"The array has {data.Length} elements but shape {FormatShape(_shape)} needs {Length}.", nameof(data));
        }
        _data = data;
    }

    /// <summary>The dimensions, outermost first.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>The number of elements, the product of <see cref="Shape"/>.</summary>
    public int Length { get; private set; }

    /// <summary>The elements in row-major order.</summary>
    public Span<T> Span => _data.AsSpan(0, Length);

    /// <summary>The backing array; it may be longer than <see cref="Length"/>.</summary>
    internal T[] Buffer => _data;

    /// <summary>Gets the size of dimension <paramref name="axis"/>; a negative axis counts from the end.</summary>
    public int Dim(int axis) => _shape[axis < 0 ? _shape.Length + axis : axis];

    /// <summary>Gets or sets one element by its flat row-major index.</summary>
    public ref T this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Length)
            {
                throw new IndexOutOfRangeException($"Index {index} is outside a tensor of {Length} elements.");
            }
            return ref _data[index];
        }
    }

    /// <summary>
    /// Returns row <paramref name="index"/> of the tensor seen as a matrix of shape
    /// <c>[Length / lastDim, lastDim]</c>.
    /// </summary>
    public Span<T> Row(int index)
    {
        int width = _shape.Length == 0 ? 1 : _shape[^1];
        return _data.AsSpan(index * width, width);
    }

    /// <summary>Returns the contiguous block of item <paramref name="index"/> along the first axis.</summary>
    public Span<T> Slice(int index)
    {
        int size = _shape[0] == 0 ? 0 : Length / _shape[0];
        return _data.AsSpan(index * size, size);
    }

    /// <summary>
    /// Changes the shape in place. A large enough buffer is reused with its contents; otherwise a
    /// new zeroed buffer replaces it.
    /// </summary>
    public Tensor<T> Reshape(params int[] shape)
    {
        int length = CountElements(shape, nameof(shape));
        if (length > _data.Length)
        {
            _data = new T[length];
        }
        if (!shape.AsSpan().SequenceEqual(_shape))
        {
            _shape = (int[])shape.Clone();
        }
        Length = length;
        return this;
    }

    /// <summary>Sets every element to zero.</summary>
    public void Clear() => Span.Clear();

    /// <summary>Copies the elements into a new tensor of the same shape.</summary>
    public Tensor<T> Clone()
    {
        var copy = new Tensor<T>(_shape);
        Span.CopyTo(copy.Span);
        return copy;
    }

    /// <summary>Copies the elements into a new array.</summary>
    public T[] ToArray() => Span.ToArray();

    /// <summary>Returns whether the shape equals <paramref name="shape"/>.</summary>
    public bool HasShape(params ReadOnlySpan<int> shape) => shape.SequenceEqual(_shape);

    /// <summary>Returns the shape in the bracket notation used by messages, e.g. <c>[2, 80, 100]</c>.</summary>
    public string ShapeString => FormatShape(_shape);

    /// <inheritdoc/>
    public override string ToString() => $"Tensor<{typeof(T).Name}>{ShapeString}";

    /// <summary>Formats a shape as <c>[2, 80, 100]</c>.</summary>
    public static string FormatShape(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    private static int CountElements(ReadOnlySpan<int> shape, string argumentName)
    {
        long count = 1;
        foreach (int dim in shape)
        {
            if (dim < 0)
            {
                throw new ArgumentException($"Shape {FormatShape(shape)} has a negative dimension.", argumentName);
            }
            count *= dim;
            if (count > Array.MaxLength)
            {
                throw new ArgumentException(
                    $"Shape {FormatShape(shape)} has more elements than one array can hold ({Array.MaxLength}).", argumentName);
            }
        }
        return (int)count;
    }
}

/// <summary>Conversions between numeric types used at the edges of the library.</summary>
public static class TensorConvert
{
    /// <summary>Converts a double to <typeparamref name="T"/> with round-to-nearest.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T From<T>(double value) where T : unmanaged, IFloatingPointIeee754<T> => T.CreateTruncating(value);

    /// <summary>Converts a value of <typeparamref name="T"/> to double exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double ToDouble<T>(T value) where T : unmanaged, IFloatingPointIeee754<T> => double.CreateTruncating(value);
}
