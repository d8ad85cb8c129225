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
        // Each entry sums up to 45 products, so float agrees with double to a few ulps of the
        // largest partial sum.
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
        TensorAssert.RelativeL2Within("dPackedWeight", [Groups, Kernel, groupWidth, groupWidth],
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

    [Theory]
    [InlineData(45, 256)]
    [InlineData(13, 1024)]
    [InlineData(50, 48 * 16)]
    public void CausalGrouped_FloatWideGroups_MatchesDoubleDirectLoop(int frames, int channels)
    {
        // Group widths of 16 to 64 run every vector kernel. Each output sums 31·C/16 products, so
        // float is compared with the double loop as a whole tensor rather than element by element.
        const int Groups = 16, Kernel = 31;
        int groupWidth = channels / Groups;
        double[] x = GradientCheck.Random(31, frames, channels).ToArray();
        double[] weight = GradientCheck.Random(32, channels, groupWidth, Kernel).ToArray();
        double[] bias = GradientCheck.Random(33, channels).ToArray();
        float[] Single(double[] values) => values.Select(v => (float)v).ToArray();
        var packed = new float[weight.Length];
        Conv.PackWeight<float>(Single(weight), channels, Groups, Kernel, packed);

        var actual = new float[frames * channels];
        var expected = new double[frames * channels];
        Conv.CausalGrouped<float>(Single(x), frames, channels, Groups, Kernel, packed, Single(bias), actual, threads: 2);
        Conv.CausalGroupedReference<double>(x, frames, channels, Groups, Kernel, weight, bias, expected);
        TensorAssert.RelativeL2Within("y", [frames, channels], TensorAssert.ToDouble<float>(actual), expected, 1e-6);
    }

    [Theory]
    [InlineData(45, 256)]
    [InlineData(37, 512)]
    [InlineData(20, 1024)]
    public void CausalGrouped_Double_MatchesTapProducts(int frames, int channels)
    {
        // Kernels and tap-by-tap GEMMs sum the same products in another order: double rounding only.
        const int Groups = 16, Kernel = 31;
        int groupWidth = channels / Groups;
        double[] x = GradientCheck.Random(11, frames, channels).ToArray();
        double[] dy = GradientCheck.Random(12, frames, channels).ToArray();
        double[] weight = GradientCheck.Random(13, channels, groupWidth, Kernel).ToArray();
        double[] bias = GradientCheck.Random(14, channels).ToArray();
        var packed = new double[weight.Length];
        Conv.PackWeight<double>(weight, channels, Groups, Kernel, packed);

        (double[] Y, double[] Dx, double[] DPacked, double[] DBias) Run(bool taps)
        {
            var y = new double[x.Length];
            var dx = new double[x.Length];
            var dPacked = new double[weight.Length];
            var dBias = new double[channels];
            Conv.ForceTapProducts = taps;
            try
            {
                Conv.CausalGrouped<double>(x, frames, channels, Groups, Kernel, packed, bias, y, threads: 2);
                Conv.CausalGroupedBackward<double>(x, dy, frames, channels, Groups, Kernel, packed, dx, dPacked, dBias, threads: 2);
            }
            finally
            {
                Conv.ForceTapProducts = false;
            }
            return (y, dx, dPacked, dBias);
        }

        var kernels = Run(taps: false);
        var taps = Run(taps: true);
        TensorAssert.RelativeL2Within("y", [frames, channels], kernels.Y, taps.Y, 1e-13);
        TensorAssert.RelativeL2Within("dx", [frames, channels], kernels.Dx, taps.Dx, 1e-13);
        TensorAssert.RelativeL2Within("dPackedWeight", [Groups, Kernel, groupWidth, groupWidth], kernels.DPacked, taps.DPacked, 1e-13);
        TensorAssert.RelativeL2Within("dBias", [channels], kernels.DBias, taps.DBias, 1e-13);
    }

    [Theory]
    [InlineData(45, 256)]
    [InlineData(130, 1024)]
    public void CausalGrouped_ThreadCounts_GiveIdenticalBits(int frames, int channels)
    {
        const int Groups = 16, Kernel = 31;
        int groupWidth = channels / Groups;
        float[] Single(ulong seed, params int[] shape) => GradientCheck.Random(seed, shape).Span.ToArray().Select(v => (float)v).ToArray();
        float[] x = Single(21, frames, channels), dy = Single(22, frames, channels);
        float[] weight = Single(23, channels, groupWidth, Kernel), bias = Single(24, channels);
        var packed = new float[weight.Length];
        Conv.PackWeight<float>(weight, channels, Groups, Kernel, packed);

        float[][] Run(int threads)
        {
            var y = new float[x.Length];
            var dx = new float[x.Length];
            var dPacked = new float[weight.Length];
            var dBias = new float[channels];
            Conv.CausalGrouped<float>(x, frames, channels, Groups, Kernel, packed, bias, y, threads);
            Conv.CausalGroupedBackward<float>(x, dy, frames, channels, Groups, Kernel, packed, dx, dPacked, dBias, threads);
            return [y, dx, dPacked, dBias];
        }

        float[][] one = Run(1), two = Run(2), three = Run(3);
        for (int i = 0; i < one.Length; i++)
        {
            Assert.Equal(one[i], two[i]);
            Assert.Equal(one[i], three[i]);
        }
    }
}
