using DiTNet.Tensors;

namespace DiTNet.IO;

/// <summary>The header entry of one tensor in a safetensors file.</summary>
/// <param name="Name">The tensor's key, e.g. <c>proj_out.weight</c>.</param>
/// <param name="DType">The stored element type.</param>
/// <param name="Shape">The dimensions, outermost first; empty for a scalar.</param>
/// <param name="DataBegin">The first byte, counted from the start of the data section (after the header).</param>
/// <param name="DataEnd">One past the last byte, counted from the start of the data section.</param>
public sealed record SafeTensorInfo(string Name, SafeTensorsDType DType, int[] Shape, long DataBegin, long DataEnd)
{
    /// <summary>The number of elements, the product of <see cref="Shape"/>.</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (int dim in Shape)
            {
                count *= dim;
            }
            return count;
        }
    }

    /// <summary>The size of the stored data in bytes.</summary>
    public long ByteLength => DataEnd - DataBegin;

    /// <summary>The shape in bracket notation, e.g. <c>[8, 64]</c>.</summary>
    public string ShapeString => Tensor<float>.FormatShape(Shape);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {DType} {ShapeString}";
}
