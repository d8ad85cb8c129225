using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Training;

/// <summary>Gradient clipping by the global L2 norm over all parameters, as PyTorch's <c>clip_grad_norm_</c>.</summary>
public static class GradientClipping
{
    /// <summary>Returns the L2 norm of all trainable gradients taken together, accumulated in double.</summary>
    public static double GlobalNorm<T>(IEnumerable<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double squares = 0;
        foreach (var parameter in parameters)
        {
            if (!parameter.Trainable)
            {
                continue;
            }
            foreach (var g in parameter.Gradient.Span)
            {
                double value = double.CreateTruncating(g);
                squares += value * value;
            }
        }
        return Math.Sqrt(squares);
    }

    /// <summary>
    /// Scales every trainable gradient by <c>min(1, maxNorm / (norm + 1e-6))</c> and returns the norm before clipping.
    /// </summary>
    /// <remarks>A non-finite norm leaves the gradients untouched and is returned as is, so the caller can skip the step.</remarks>
    public static double ClipByGlobalNorm<T>(IEnumerable<Parameter<T>> parameters, double maxNorm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxNorm);
        var list = parameters as IReadOnlyCollection<Parameter<T>> ?? parameters.ToArray();
        double norm = GlobalNorm(list);
        double coefficient = maxNorm / (norm + 1e-6);
        if (!double.IsFinite(norm) || coefficient >= 1.0)
        {
            return norm;
        }
        T scale = T.CreateTruncating(coefficient);
        foreach (var parameter in list)
        {
            if (!parameter.Trainable)
            {
                continue;
            }
            var g = parameter.Gradient.Span;
            for (int i = 0; i < g.Length; i++)
            {
                g[i] *= scale;
            }
        }
        return norm;
    }
}
