using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Training;

/// <summary>
/// Adam with decoupled weight decay, computed as PyTorch's <c>torch.optim.AdamW</c> (single-tensor path):
/// <c>p ← p·(1 − lr·λ)</c>, <c>m ← m + (g − m)·(1 − β1)</c>, <c>v ← β2·v + (1 − β2)·g²</c>,
/// <c>p ← p − (lr / (1 − β1^k)) · m / (√v / √(1 − β2^k) + ε)</c> at update k (counting from 1).
/// </summary>
/// <remarks>
/// Weight decay applies only to parameters of rank 2 or more (weight matrices and convolution kernels).
/// Biases and other 1-D tensors are not decayed, a common choice that keeps the decay from pulling offsets to zero.
/// Parameters that are not trainable (buffers) are skipped. Scalars are formed in double and rounded to T once.
/// </remarks>
public sealed class AdamW<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Parameter<T>[] _parameters;
    private readonly Tensor<T>[] _firstMoments;
    private readonly Tensor<T>[] _secondMoments;

    /// <summary>Creates the optimizer over the trainable members of <paramref name="parameters"/>, with zero moments.</summary>
    public AdamW(IEnumerable<Parameter<T>> parameters, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0.01)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
        {
            throw new ArgumentException($"beta1 and beta2 must be in [0, 1), got {beta1} and {beta2}.", nameof(beta1));
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(epsilon);
        ArgumentOutOfRangeException.ThrowIfNegative(weightDecay);
        _parameters = parameters.Where(p => p.Trainable).ToArray();
        _firstMoments = _parameters.Select(p => new Tensor<T>(p.Value.Shape.ToArray())).ToArray();
        _secondMoments = _parameters.Select(p => new Tensor<T>(p.Value.Shape.ToArray())).ToArray();
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
    }

    /// <summary>β1, the decay of the first moment.</summary>
    public double Beta1 { get; }

    /// <summary>β2, the decay of the second moment.</summary>
    public double Beta2 { get; }

    /// <summary>ε, added to the bias-corrected root of the second moment.</summary>
    public double Epsilon { get; }

    /// <summary>λ, the decoupled weight decay per unit learning rate.</summary>
    public double WeightDecay { get; }

    /// <summary>Updates taken so far; the next update is number <c>StepCount + 1</c>. Settable to resume.</summary>
    public long StepCount { get; set; }

    /// <summary>The trainable parameters, in the order given.</summary>
    public IReadOnlyList<Parameter<T>> Parameters => _parameters;

    /// <summary>Returns the first moment m of parameter <paramref name="index"/>.</summary>
    public Tensor<T> FirstMoment(int index) => _firstMoments[index];

    /// <summary>Returns the second moment v of parameter <paramref name="index"/>.</summary>
    public Tensor<T> SecondMoment(int index) => _secondMoments[index];

    /// <summary>Returns whether weight decay applies to <paramref name="parameter"/>.</summary>
    public static bool IsDecayed(Parameter<T> parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        return parameter.Value.Rank >= 2;
    }

    /// <summary>Takes one step with the gradients currently in the parameters.</summary>
    public void Update(double learningRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(learningRate);
        StepCount++;
        double biasCorrection1 = 1.0 - Math.Pow(Beta1, StepCount);
        double biasCorrection2 = 1.0 - Math.Pow(Beta2, StepCount);
        T stepSize = T.CreateTruncating(learningRate / biasCorrection1);
        T biasCorrection2Sqrt = T.CreateTruncating(Math.Sqrt(biasCorrection2));
        T oneMinusBeta1 = T.CreateTruncating(1.0 - Beta1);
        T beta2 = T.CreateTruncating(Beta2);
        T oneMinusBeta2 = T.CreateTruncating(1.0 - Beta2);
        T epsilon = T.CreateTruncating(Epsilon);
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i].Value.Span;
            var g = _parameters[i].Gradient.Span;
            var m = _firstMoments[i].Span;
            var v = _secondMoments[i].Span;
            T decay = T.CreateTruncating(1.0 - learningRate * (IsDecayed(_parameters[i]) ? WeightDecay : 0.0));
            for (int j = 0; j < p.Length; j++)
            {
                p[j] *= decay;
                m[j] += (g[j] - m[j]) * oneMinusBeta1;
                v[j] = beta2 * v[j] + oneMinusBeta2 * g[j] * g[j];
                T denominator = T.Sqrt(v[j]) / biasCorrection2Sqrt + epsilon;
                p[j] -= stepSize * m[j] / denominator;
            }
        }
    }
}
