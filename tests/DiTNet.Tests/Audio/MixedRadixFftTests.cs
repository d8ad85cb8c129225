using System.Numerics;
using DiTNet.Audio;

namespace DiTNet.Tests.Audio;

public class MixedRadixFftTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(12)]
    [InlineData(60)]
    [InlineData(105)]
    [InlineData(1920)]
    public void Forward_RandomInput_MatchesDirectDft(int length)
    {
        var random = new Random(length);
        var input = new Complex[length];
        for (int i = 0; i < length; i++)
        {
            input[i] = new Complex(random.NextDouble() * 2 - 1, random.NextDouble() * 2 - 1);
        }
        var output = new Complex[length];

        new MixedRadixFft(length).Forward(input, output);

        // The reference is the direct O(L²) sum in double. Its terms and the FFT's round at about
        // 1e-16 each and |X[k]| is about √L, so 1e-12·L·√L is far above rounding yet catches a wrong twiddle.
        double scale = Math.Sqrt(length);
        for (int k = 0; k < length; k++)
        {
            Complex expected = Complex.Zero;
            for (int n = 0; n < length; n++)
            {
                double angle = -2.0 * Math.PI * ((long)n * k % length) / length;
                expected += input[n] * new Complex(Math.Cos(angle), Math.Sin(angle));
            }
            double error = Complex.Abs(output[k] - expected);
            Assert.True(error <= 1e-12 * scale * length,
                $"bin {k} of {length}: expected {expected}, got {output[k]}, error {error:E3}");
        }
    }

    [Fact]
    public void Constructor_PrimeFactor11_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => new MixedRadixFft(22));
        Assert.Equal("length", error.ParamName);
        Assert.Contains("11", error.Message);
    }
}
