using DiTNet.Tensors;

namespace DiTNet.Tests;

public class TensorTests
{
    [Fact]
    public void Reshape_SmallerShape_ReusesBuffer()
    {
        var tensor = new Tensor<float>(4, 5);
        float[] before = tensor.Buffer;

        tensor.Reshape(2, 3);

        Assert.Same(before, tensor.Buffer);
        Assert.Equal(6, tensor.Length);
        Assert.Equal("[2, 3]", tensor.ShapeString);
    }

    [Fact]
    public void Constructor_ShortArray_ThrowsNamingShape()
    {
        var error = Assert.Throws<ArgumentException>(() => new Tensor<float>(new float[5], 2, 3));
        Assert.Contains("[2, 3]", error.Message);
    }
}
