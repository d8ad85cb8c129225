using System.Numerics;
using System.Runtime.Intrinsics;
using DiTNet.Kernels;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests;

public class SoftmaxTests
{
    // Lengths 0 .. 3 vector widths + 1 of the widest vector in use, so every body and tail runs.
    public static TheoryData<int> FloatLengths() => Lengths(Vector512<float>.Count);

    public static TheoryData<int> DoubleLengths() => Lengths(Vector512<double>.Count);

    // The vectorized kernel and the scalar reference sum in different orders and use different
    // exp implementations (TensorPrimitives against MathF), so they differ by a few ulps.
    private const double FloatAtol = 1e-7, FloatRtol = 1e-5;
    private const double DoubleAtol = 1e-15, DoubleRtol = 1e-12;

    [Theory]
    [MemberData(nameof(FloatLengths))]
    public void Forward_FloatAllLengths_MatchesScalarReference(int length)
    {
        float[] scores = RandomRow<float>(length, seed: (ulong)length, magnitude: 20);
        float[] expected = (float[])scores.Clone();
        Softmax.ForwardReference<float>(expected, 0.125f);

        float[] actual = (float[])scores.Clone();
        Softmax.Forward<float>(actual, 0.125f);

        TensorAssert.AllClose("softmax", [length], TensorAssert.ToDouble<float>(actual), TensorAssert.ToDouble<float>(expected), FloatAtol, FloatRtol);
    }

    [Theory]
    [MemberData(nameof(DoubleLengths))]
    public void Forward_DoubleAllLengths_MatchesScalarReference(int length)
    {
        double[] scores = RandomRow<double>(length, seed: (ulong)length + 100, magnitude: 20);
        double[] expected = (double[])scores.Clone();
        Softmax.ForwardReference<double>(expected, 0.5);

        double[] actual = (double[])scores.Clone();
        Softmax.Forward<double>(actual, 0.5);

        TensorAssert.AllClose("softmax", [length], actual, expected, DoubleAtol, DoubleRtol);
    }

    [Theory]
    [MemberData(nameof(FloatLengths))]
    public void Backward_FloatAllLengths_MatchesScalarReference(int length)
    {
        float[] probabilities = RandomRow<float>(length, seed: (ulong)length + 200, magnitude: 3);
        Softmax.Forward<float>(probabilities, 1f);
        float[] gradient = RandomRow<float>(length, seed: (ulong)length + 300, magnitude: 1);
        float[] expected = (float[])gradient.Clone();
        Softmax.BackwardReference<float>(probabilities, expected, 0.25f);

        float[] actual = (float[])gradient.Clone();
        Softmax.Backward<float>(probabilities, actual, 0.25f);

        TensorAssert.AllClose("softmax gradient", [length], TensorAssert.ToDouble<float>(actual), TensorAssert.ToDouble<float>(expected), FloatAtol, FloatRtol);
    }

    [Theory]
    [MemberData(nameof(DoubleLengths))]
    public void Backward_DoubleAllLengths_MatchesScalarReference(int length)
    {
        double[] probabilities = RandomRow<double>(length, seed: (ulong)length + 400, magnitude: 3);
        Softmax.Forward<double>(probabilities, 1.0);
        double[] gradient = RandomRow<double>(length, seed: (ulong)length + 500, magnitude: 1);
        double[] expected = (double[])gradient.Clone();
        Softmax.BackwardReference<double>(probabilities, expected, 0.25);

        double[] actual = (double[])gradient.Clone();
        Softmax.Backward<double>(probabilities, actual, 0.25);

        TensorAssert.AllClose("softmax gradient", [length], actual, expected, DoubleAtol, DoubleRtol);
    }

    [Fact]
    public void Forward_LargeScores_StaysFiniteAndSumsToOne()
    {
        // exp(1e4) overflows float; subtracting the maximum keeps every exponent at most 0
        float[] row = [1e4f, 1e4f - 1, -1e4f, 3e4f, 3e4f - 2, -3e38f];
        Softmax.Forward<float>(row, 1f);

        foreach (float p in row)
        {
            Assert.True(float.IsFinite(p), $"probability {p} is not finite");
        }
        Assert.Equal(1.0, row.Sum(), 6);
        Assert.Equal(1 / (1 + Math.Exp(-2)), row[3], 6);
    }

    [Fact]
    public void Forward_NegativeInfinityScores_GetZeroProbability()
    {
        // lengths past one vector width so the vector body sees the infinities too
        float[] row = new float[40];
        for (int j = 0; j < row.Length; j++)
        {
            row[j] = j % 3 == 0 ? float.NegativeInfinity : j * 0.1f;
        }
        Softmax.Forward<float>(row, 1f);

        for (int j = 0; j < row.Length; j += 3)
        {
            Assert.Equal(0f, row[j]);
        }
        Assert.Equal(1.0, row.Sum(), 6);
    }

    [Fact]
    public void Forward_AllScoresEqual_GivesUniformRow()
    {
        float[] row = Enumerable.Repeat(7.5f, 37).ToArray();
        Softmax.Forward<float>(row, 0.125f);

        foreach (float p in row)
        {
            Assert.Equal(1f / 37, p, 7);
        }
    }

    [Fact]
    public void ForwardMasked_NonFiniteDisallowedScores_MatchesSoftmaxOfAllowedOnly()
    {
        double[] row = RandomRow<double>(23, seed: 7, magnitude: 5);
        bool[] allowed = new bool[row.Length];
        var compact = new List<double>();
        for (int j = 0; j < row.Length; j++)
        {
            allowed[j] = j % 4 != 1;
            if (allowed[j])
            {
                compact.Add(row[j]);
            }
            else
            {
                row[j] = j % 8 == 1 ? double.NaN : double.PositiveInfinity;
            }
        }
        double[] expected = compact.ToArray();
        Softmax.ForwardReference<double>(expected, 0.3);

        Softmax.ForwardMasked<double>(row, allowed, 0.3);

        int c = 0;
        for (int j = 0; j < row.Length; j++)
        {
            if (allowed[j])
            {
                Assert.Equal(expected[c++], row[j], 15);
            }
            else
            {
                Assert.Equal(0.0, row[j]);
            }
        }
    }

    [Fact]
    public void BackwardMasked_NonFiniteDisallowedGradients_MatchesBackwardOfAllowedOnly()
    {
        double[] scores = RandomRow<double>(19, seed: 8, magnitude: 2);
        bool[] allowed = scores.Select((_, j) => j % 3 != 2).ToArray();
        double[] probabilities = (double[])scores.Clone();
        Softmax.ForwardMasked<double>(probabilities, allowed, 0.7);
        double[] gradient = RandomRow<double>(19, seed: 9, magnitude: 1);
        for (int j = 0; j < gradient.Length; j++)
        {
            if (!allowed[j])
            {
                gradient[j] = double.NaN;
            }
        }
        double[] compactP = probabilities.Where((_, j) => allowed[j]).ToArray();
        double[] expected = gradient.Where((_, j) => allowed[j]).ToArray();
        Softmax.BackwardReference<double>(compactP, expected, 0.7);

        Softmax.BackwardMasked<double>(probabilities, allowed, gradient, 0.7);

        int c = 0;
        for (int j = 0; j < gradient.Length; j++)
        {
            Assert.Equal(allowed[j] ? expected[c++] : 0.0, gradient[j], 15);
        }
    }

    [Fact]
    public void Backward_RandomScores_MatchesFiniteDifferences()
    {
        const double scale = 0.4;
        var scores = GradientCheck.Random(11, 29);
        var weights = GradientCheck.Random(12, 29);
        double Loss()
        {
            double[] p = scores.ToArray();
            Softmax.Forward<double>(p, scale);
            return GradientCheck.Dot(p, weights.Span);
        }

        double[] probabilities = scores.ToArray();
        Softmax.Forward<double>(probabilities, scale);
        double[] dScores = weights.ToArray();
        Softmax.Backward<double>(probabilities, dScores, scale);

        GradientCheck.Check("dScores", scores, dScores, Loss);
    }

    [Fact]
    public void Forward_SameRowAtAnotherAddress_GivesSameBits()
    {
        float[] scores = RandomRow<float>(53, seed: 13, magnitude: 10);
        float[] aligned = (float[])scores.Clone();
        float[] shifted = new float[scores.Length + 3];
        scores.CopyTo(shifted, 3);

        Softmax.Forward<float>(aligned, 0.125f);
        Softmax.Forward(shifted.AsSpan(3), 0.125f);

        Assert.Equal(aligned, shifted.AsSpan(3).ToArray());
    }

    private static TheoryData<int> Lengths(int width)
    {
        var data = new TheoryData<int>();
        for (int length = 0; length <= 3 * width + 1; length++)
        {
            data.Add(length);
        }
        return data;
    }

    private static T[] RandomRow<T>(int length, ulong seed, double magnitude) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new RandomSource(seed);
        var row = new T[length];
        for (int j = 0; j < length; j++)
        {
            row[j] = T.CreateTruncating(random.NextGaussian() * magnitude);
        }
        return row;
    }
}
