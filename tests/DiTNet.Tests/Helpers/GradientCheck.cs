using DiTNet.Tensors;

namespace DiTNet.Tests.Helpers;

/// <summary>Central-difference gradient checks in double precision.</summary>
public static class GradientCheck
{
    /// <summary>The largest relative error the project accepts between analytic and numeric gradients.</summary>
    public const double Tolerance = 1e-6;

    /// <summary>
    /// Compares an analytic gradient with central differences of a scalar loss:
    /// <c>‖analytic − numeric‖₂ / max(‖analytic‖₂ + ‖numeric‖₂, 1e-12)</c> must be at most <paramref name="tolerance"/>.
    /// </summary>
    /// <param name="name">The tensor's name, for the failure message.</param>
    /// <param name="values">The tensor being perturbed; it is restored afterwards.</param>
    /// <param name="analytic">The gradient the backward pass computed, same length as <paramref name="values"/>.</param>
    /// <param name="loss">Recomputes the scalar loss from the current values.</param>
    /// <param name="step">The perturbation; 1e-6 keeps truncation and rounding error near 1e-10 for smooth losses in double.</param>
    public static void Check(string name, Tensor<double> values, ReadOnlySpan<double> analytic, Func<double> loss,
        double step = 1e-6, double tolerance = Tolerance)
    {
        Assert.True(values.Length == analytic.Length,
            $"{name}: the analytic gradient has {analytic.Length} elements but the tensor {values.ShapeString} has {values.Length}.");
        var numeric = new double[values.Length];
        Span<double> data = values.Span;
        for (int i = 0; i < data.Length; i++)
        {
            double saved = data[i];
            data[i] = saved + step;
            double plus = loss();
            data[i] = saved - step;
            double minus = loss();
            data[i] = saved;
            numeric[i] = (plus - minus) / (2 * step);
        }

        double diff = 0, sumNorms;
        double analyticNorm = 0, numericNorm = 0;
        for (int i = 0; i < numeric.Length; i++)
        {
            diff += (analytic[i] - numeric[i]) * (analytic[i] - numeric[i]);
            analyticNorm += analytic[i] * analytic[i];
            numericNorm += numeric[i] * numeric[i];
        }
        sumNorms = Math.Sqrt(analyticNorm) + Math.Sqrt(numericNorm);
        double error = Math.Sqrt(diff) / Math.Max(sumNorms, 1e-12);
        if (error <= tolerance)
        {
            return;
        }
        TensorAssert.RelativeL2Within(name + " (analytic against numeric)", values.Shape, analytic, numeric, 0);
    }

    /// <summary>A seeded tensor of standard normal values.</summary>
    public static Tensor<double> Random(ulong seed, params int[] shape)
    {
        var tensor = new Tensor<double>(shape);
        new RandomSource(seed).FillGaussian(tensor.Span);
        return tensor;
    }

    /// <summary>The dot product of two tensors' elements, the scalar loss <c>sum(output · weights)</c>.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }
        return sum;
    }
}
