using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.IO;

/// <summary>How far one computed tensor is from its expected value.</summary>
/// <param name="Name">The tensor's name, e.g. <c>grad.proj_out.weight</c>.</param>
/// <param name="Shape">The tensor's shape.</param>
/// <param name="RelativeError">
/// <c>‖actual − expected‖₂ / max(‖expected‖₂, 1e-7·√numel)</c>; the floor lets an all-zero
/// expectation be judged too. NaN when either tensor has a NaN.
/// </param>
/// <param name="MaxAbsError">The largest <c>|actual − expected|</c>, infinite for a NaN element.</param>
/// <param name="MaxAbsIndex">The flat row-major index of that element, or -1 for an empty tensor.</param>
/// <param name="Expected">The expected value there.</param>
/// <param name="Actual">The computed value there.</param>
/// <param name="Tolerance">The largest relative error that passes.</param>
public sealed record TensorComparison(
    string Name, int[] Shape, double RelativeError, double MaxAbsError, int MaxAbsIndex, double Expected, double Actual, double Tolerance)
{
    /// <summary>Whether the relative error is within the tolerance; a NaN error fails.</summary>
    public bool Passed => RelativeError <= Tolerance;

    /// <summary>The coordinates of <see cref="MaxAbsIndex"/> in <see cref="Shape"/>, e.g. <c>[1, 3, 17]</c>.</summary>
    public string MaxAbsCoordinates
    {
        get
        {
            if (MaxAbsIndex < 0)
            {
                return "-";
            }
            var coordinates = new int[Shape.Length];
            int rest = MaxAbsIndex;
            for (int axis = Shape.Length - 1; axis >= 0; axis--)
            {
                coordinates[axis] = rest % Shape[axis];
                rest /= Shape[axis];
            }
            return Tensor<double>.FormatShape(coordinates);
        }
    }

    /// <summary>Compares two tensors of the same length.</summary>
    /// <param name="shape">The shape both share, for the coordinates of the worst element.</param>
    /// <exception cref="ArgumentException">The lengths differ from each other or from the shape's element count.</exception>
    public static TensorComparison Compare<T>(string name, ReadOnlySpan<int> shape, ReadOnlySpan<T> actual, ReadOnlySpan<T> expected, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long count = 1;
        foreach (int dim in shape)
        {
            count *= dim;
        }
        if (actual.Length != expected.Length || expected.Length != count)
        {
            throw new ArgumentException(
                $"{name}: {actual.Length} actual and {expected.Length} expected elements for shape {Tensor<double>.FormatShape(shape)}.",
                nameof(actual));
        }

        double differenceSquares = 0, expectedSquares = 0, maxAbs = 0;
        int worst = expected.Length == 0 ? -1 : 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = double.CreateTruncating(expected[i]);
            double difference = double.CreateTruncating(actual[i]) - e;
            differenceSquares += difference * difference;
            expectedSquares += e * e;
            double abs = double.IsNaN(difference) ? double.PositiveInfinity : Math.Abs(difference);
            if (abs > maxAbs)
            {
                maxAbs = abs;
                worst = i;
            }
        }

        double floor = 1e-7 * Math.Sqrt(expected.Length);
        double relative = expected.Length == 0 ? 0 : Math.Sqrt(differenceSquares) / Math.Max(Math.Sqrt(expectedSquares), floor);
        return new TensorComparison(name, shape.ToArray(), relative, maxAbs, worst,
            worst < 0 ? 0 : double.CreateTruncating(expected[worst]),
            worst < 0 ? 0 : double.CreateTruncating(actual[worst]),
            tolerance);
    }
}
