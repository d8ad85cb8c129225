using DiTNet.Kernels;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Kernels;

public class ConvTests
{
    [Theory]
    [InlineData(1, 16, 16, 31)]
    [InlineData(7, 32, 16, 31)]
    [InlineData(40, 32, 16, 31)]
    [InlineData(9, 12, 4, 3)]
    public void CausalGrouped_Float_MatchesDirectLoop(int frames, int channels, int groups, int kernel)
    {
        // Both sum the same products in a different order, in float: a few ulps of the largest partial sum.
        int groupWidth = channels / groups;
        float[] x = GradientCheck.Random(1, frames, channels).Span.ToArray().Select(v => (float)v).ToArray();
        float[] weight = GradientCheck.Random(2, channels, groupWidth, kernel).Span.ToArray().Select(v => (float)v).ToArray();
        float[] bias = GradientCheck.Random(3, channels).Span.ToArray().Select(v => (float)v).ToArray();
        var packed = new float[weight.Length];
        Conv.PackWeight<float>(weight, channels, groups, kernel, packed);

        var actual = new float[frames * channels];
        var expected = new float[frames * channels];
        Conv.CausalGrouped<float>(x, frames, channels, groups, kernel, packed, bias, actual, threads: 1);
        Conv.CausalGroupedReference<float>(x, frames, channels, groups, kernel, weight, bias, expected);
        TensorAssert.AllClose("y", [frames, channels],
            TensorAssert.ToDouble<float>(actual), TensorAssert.ToDouble<float>(expected), atol: 1e-5, rtol: 1e-5);
    }

    [Theory]
    [InlineData(7, 32)]
    [InlineData(45, 64)]
    public void CausalGroupedBackward_Float_MatchesDouble(int frames, int channels)
    {
        // The float path runs the packed GEMM, the double path the GEMM's reference loop; both sum
        // up to 45 products per entry, so float agrees to a few ulps of the largest partial sum.
        const int Groups = 16, Kernel = 31;
        int groupWidth = channels / Groups;
        double[] x = GradientCheck.Random(5, frames, channels).ToArray();
        double[] dy = GradientCheck.Random(6, frames, channels).ToArray();
        double[] weight = GradientCheck.Random(7, channels, groupWidth, Kernel).ToArray();
        var packed = new double[weight.Length];
        Conv.PackWeight<double>(weight, channels, Groups, Kernel, packed);
        var dx = new double[x.Length];
        var dPacked = new double[weight.Length];
        var dBias = new double[channels];
        Conv.CausalGroupedBackward<double>(x, dy, frames, channels, Groups, Kernel, packed, dx, dPacked, dBias, threads: 2);

        float[] Single(double[] values) => values.Select(v => (float)v).ToArray();
        var dxSingle = new float[x.Length];
        var dPackedSingle = new float[weight.Length];
        var dBiasSingle = new float[channels];
        Conv.CausalGroupedBackward<float>(Single(x), Single(dy), frames, channels, Groups, Kernel, Single(packed),
            dxSingle, dPackedSingle, dBiasSingle, threads: 2);

        TensorAssert.RelativeL2Within("dx", [frames, channels], TensorAssert.ToDouble<float>(dxSingle), dx, 1e-6);
        TensorAssert.RelativeL2Within("dPackedWeight", [Kernel, Groups, groupWidth, groupWidth],
            TensorAssert.ToDouble<float>(dPackedSingle), dPacked, 1e-6);
        TensorAssert.RelativeL2Within("dBias", [channels], TensorAssert.ToDouble<float>(dBiasSingle), dBias, 1e-6);
    }

    [Fact]
    public void AddUnpackedWeight_AfterPack_RestoresLayout()
    {
        double[] weight = GradientCheck.Random(4, 32, 2, 31).Span.ToArray();
        var packed = new double[weight.Length];
        Conv.PackWeight<double>(weight, 32, 16, 31, packed);
        var unpacked = new double[weight.Length];
        Conv.AddUnpackedWeight<double>(packed, 32, 16, 31, unpacked);
        Assert.Equal(weight, unpacked);
    }
}
