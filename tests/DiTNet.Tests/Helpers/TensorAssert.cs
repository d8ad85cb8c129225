using System.Globalization;
using DiTNet.Tensors;

namespace DiTNet.Tests.Helpers;

/// <summary>Assertions over whole tensors, with failure messages that point at the worst element.</summary>
public static class TensorAssert
{
    /// <summary>
    /// Relative L2 error <c>‖actual − expected‖₂ / max(‖expected‖₂, 1e-7·√numel)</c>; the floor lets an
    /// all-zero expectation be judged too.
    /// </summary>
    public static double RelativeL2(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = actual[i] - expected[i];
            diff += d * d;
            norm += expected[i] * expected[i];
        }
        double floor = 1e-7 * Math.Sqrt(expected.Length);
        return Math.Sqrt(diff) / Math.Max(Math.Sqrt(norm), floor);
    }

    /// <summary>Asserts the relative L2 error is at most <paramref name="tolerance"/>.</summary>
    /// <param name="name">The tensor's name, for the failure message.</param>
    /// <param name="shape">The tensor's shape, for the failure message's coordinates.</param>
    public static void RelativeL2Within(string name, ReadOnlySpan<int> shape, ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double tolerance)
    {
        Assert.True(actual.Length == expected.Length,
            $"{name}: {actual.Length} actual elements against {expected.Length} expected.");
        double error = RelativeL2(actual, expected);
        if (error <= tolerance && !double.IsNaN(error))
        {
            return;
        }
        Assert.Fail($"{name} {Tensor<double>.FormatShape(shape)}: relative L2 error {error:E3} exceeds {tolerance:E1}; " + Worst(shape, actual, expected));
    }

    /// <summary>Asserts the relative L2 error of two float or double tensors is at most <paramref name="tolerance"/>.</summary>
    public static void RelativeL2Within<T>(string name, Tensor<T> actual, Tensor<T> expected, double tolerance)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Assert.True(actual.HasShape(expected.Shape),
            $"{name}: actual shape {actual.ShapeString} differs from expected {expected.ShapeString}.");
        RelativeL2Within(name, expected.Shape, ToDouble(actual.Span), ToDouble(expected.Span), tolerance);
    }

    /// <summary>
    /// Asserts elementwise <c>|actual − expected| ≤ atol + rtol·|expected|</c>, naming the worst element on failure.
    /// </summary>
    public static void AllClose(string name, ReadOnlySpan<int> shape, ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double atol, double rtol)
    {
        Assert.True(actual.Length == expected.Length,
            $"{name}: {actual.Length} actual elements against {expected.Length} expected.");
        for (int i = 0; i < expected.Length; i++)
        {
            double allowed = atol + rtol * Math.Abs(expected[i]);
            if (!(Math.Abs(actual[i] - expected[i]) <= allowed))
            {
                Assert.Fail($"{name} {Tensor<double>.FormatShape(shape)} (atol {atol:E1}, rtol {rtol:E1}): " + Worst(shape, actual, expected));
            }
        }
    }

    /// <summary>Converts a float or double span to a new double array.</summary>
    public static double[] ToDouble<T>(ReadOnlySpan<T> values)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            result[i] = double.CreateTruncating(values[i]);
        }
        return result;
    }

    private static string Worst(ReadOnlySpan<int> shape, ReadOnlySpan<double> actual, ReadOnlySpan<double> expected)
    {
        int worst = 0;
        double maxAbs = -1, maxRel = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double abs = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(abs))
            {
                abs = double.PositiveInfinity;
            }
            if (abs > maxAbs)
            {
                maxAbs = abs;
                worst = i;
            }
            maxRel = Math.Max(maxRel, abs / Math.Max(Math.Abs(expected[i]), 1e-30));
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"max abs error {maxAbs:E3}, max rel error {maxRel:E3}, worst at flat index {worst} {Coordinates(shape, worst)}: expected {(expected.Length > 0 ? expected[worst] : double.NaN):R}, actual {(actual.Length > 0 ? actual[worst] : double.NaN):R}.");
    }

    private static string Coordinates(ReadOnlySpan<int> shape, int flat)
    {
        var coordinates = new int[shape.Length];
        for (int axis = shape.Length - 1; axis >= 0; axis--)
        {
            int dim = Math.Max(shape[axis], 1);
            coordinates[axis] = flat % dim;
            flat /= dim;
        }
        return "[" + string.Join(", ", coordinates) + "]";
    }
}
