using System.Numerics;
using System.Runtime.Intrinsics;
using DiTNet.Kernels;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Kernels;

public class ActivationsTests
{
    private delegate void Unary<T>(ReadOnlySpan<T> x, Span<T> y);

    private delegate void Derivative<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx);

    // Vector and scalar exponentials may differ by an ulp or two, and the formulas divide once more:
    // a few float ulps (1.2e-7 each) or double ulps (2.2e-16 each) of the result.
    private const double FloatRtol = 2e-6, FloatAtol = 1e-7;
    private const double DoubleRtol = 1e-14, DoubleAtol = 1e-15;

    public static TheoryData<string> Kernels => ["SiLU", "GeluTanh", "Mish"];

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Forward_AllLengthsFloat_MatchesScalarReference(string kernel)
        => CompareForward<float>(kernel, FloatAtol, FloatRtol);

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Forward_AllLengthsDouble_MatchesScalarReference(string kernel)
        => CompareForward<double>(kernel, DoubleAtol, DoubleRtol);

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Backward_AllLengthsFloat_MatchesScalarReference(string kernel)
        => CompareBackward<float>(kernel, FloatAtol, FloatRtol);

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Backward_AllLengthsDouble_MatchesScalarReference(string kernel)
        => CompareBackward<double>(kernel, DoubleAtol, DoubleRtol);

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Forward_InPlace_MatchesOutOfPlace(string kernel)
    {
        var (forward, _) = Pick<float>(kernel, vectorized: true);
        var (backward, _) = PickDerivative<float>(kernel, vectorized: true);
        float[] x = Inputs<float>(53, seed: 7);
        float[] dy = Inputs<float>(53, seed: 8);
        var expected = new float[x.Length];
        forward(x, expected);
        float[] inPlace = (float[])x.Clone();
        forward(inPlace, inPlace);
        Assert.Equal(expected, inPlace);

        backward(x, dy, expected);
        float[] dInPlace = (float[])dy.Clone();
        backward(x, dInPlace, dInPlace);
        Assert.Equal(expected, dInPlace);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Forward_Double_MatchesDefinition(string kernel)
    {
        // The references use algebraically rewritten forms; check them against the textbook ones.
        double[] x = Inputs<double>(200, seed: 3);
        var actual = new double[x.Length];
        Pick<double>(kernel, vectorized: true).Forward(x, actual);
        var expected = x.Select(v => kernel switch
        {
            "SiLU" => v / (1 + Math.Exp(-v)),
            "GeluTanh" => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))),
            _ => v * Math.Tanh(Math.Log(1 + Math.Exp(v))),
        }).ToArray();
        TensorAssert.AllClose(kernel, [x.Length], actual, expected, atol: 1e-14, rtol: 1e-12);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Backward_Double_MatchesFiniteDifferences(string kernel)
    {
        // Central differences with step 1e-6 on functions of curvature O(1) are exact to about 1e-9.
        double[] x = Inputs<double>(200, seed: 4);
        var (forward, _) = Pick<double>(kernel, vectorized: true);
        var (backward, _) = PickDerivative<double>(kernel, vectorized: true);
        var ones = Enumerable.Repeat(1.0, x.Length).ToArray();
        var actual = new double[x.Length];
        backward(x, ones, actual);
        var expected = new double[x.Length];
        var plus = new double[1];
        var minus = new double[1];
        for (int i = 0; i < x.Length; i++)
        {
            forward([x[i] + 1e-6], plus);
            forward([x[i] - 1e-6], minus);
            expected[i] = (plus[0] - minus[0]) / 2e-6;
        }
        TensorAssert.AllClose(kernel + " derivative", [x.Length], actual, expected, atol: 1e-8, rtol: 1e-7);
    }

    private static void CompareForward<T>(string kernel, double atol, double rtol) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (vectorized, _) = Pick<T>(kernel, vectorized: true);
        var (reference, _) = Pick<T>(kernel, vectorized: false);
        for (int length = 0; length <= 3 * Vector512<T>.Count + 1; length++)
        {
            T[] x = Inputs<T>(length, seed: (ulong)length);
            var actual = new T[length];
            var expected = new T[length];
            vectorized(x, actual);
            reference(x, expected);
            TensorAssert.AllClose($"{kernel} length {length}", [length],
                TensorAssert.ToDouble<T>(actual), TensorAssert.ToDouble<T>(expected), atol, rtol);
        }
    }

    private static void CompareBackward<T>(string kernel, double atol, double rtol) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (vectorized, _) = PickDerivative<T>(kernel, vectorized: true);
        var (reference, _) = PickDerivative<T>(kernel, vectorized: false);
        for (int length = 0; length <= 3 * Vector512<T>.Count + 1; length++)
        {
            T[] x = Inputs<T>(length, seed: (ulong)length);
            T[] dy = Inputs<T>(length, seed: 1000 + (ulong)length);
            var actual = new T[length];
            var expected = new T[length];
            vectorized(x, dy, actual);
            reference(x, dy, expected);
            TensorAssert.AllClose($"d{kernel} length {length}", [length],
                TensorAssert.ToDouble<T>(actual), TensorAssert.ToDouble<T>(expected), atol, rtol);
        }
    }

    // Standard normal values times 4, with the saturating regions and zero mixed in.
    private static T[] Inputs<T>(int length, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double[] special = [0.0, -0.0, 30.0, -30.0, 100.0, -100.0, 19.99, 20.01, 1e-8];
        var random = new RandomSource(seed);
        var values = new T[length];
        for (int i = 0; i < length; i++)
        {
            double value = i % 5 == 4 ? special[(i / 5) % special.Length] : 4 * random.NextGaussian();
            values[i] = T.CreateTruncating(value);
        }
        return values;
    }

    private static (Unary<T> Forward, string Name) Pick<T>(string kernel, bool vectorized) where T : unmanaged, IFloatingPointIeee754<T>
        => (kernel, vectorized) switch
        {
            ("SiLU", true) => (Activations.SiLU, kernel),
            ("SiLU", false) => (Activations.SiLUReference, kernel),
            ("GeluTanh", true) => (Activations.GeluTanh, kernel),
            ("GeluTanh", false) => (Activations.GeluTanhReference, kernel),
            ("Mish", true) => (Activations.Mish, kernel),
            _ => (Activations.MishReference, kernel),
        };

    private static (Derivative<T> Backward, string Name) PickDerivative<T>(string kernel, bool vectorized) where T : unmanaged, IFloatingPointIeee754<T>
        => (kernel, vectorized) switch
        {
            ("SiLU", true) => (Activations.SiLUBackward, kernel),
            ("SiLU", false) => (Activations.SiLUBackwardReference, kernel),
            ("GeluTanh", true) => (Activations.GeluTanhBackward, kernel),
            ("GeluTanh", false) => (Activations.GeluTanhBackwardReference, kernel),
            ("Mish", true) => (Activations.MishBackward, kernel),
            _ => (Activations.MishBackwardReference, kernel),
        };
}
