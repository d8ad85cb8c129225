using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Training;

/// <summary>
/// An exponential moving average of the trainable weights, <c>ema ← d·ema + (1 − d)·p</c> after each update,
/// which usually samples better than the last weights.
/// </summary>
public sealed class ExponentialMovingAverage<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Parameter<T>[] _parameters;
    private readonly Tensor<T>[] _averages;

    /// <summary>Starts the average at the current weights of the trainable members of <paramref name="parameters"/>.</summary>
    public ExponentialMovingAverage(IEnumerable<Parameter<T>> parameters, double decay)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(decay > 0 && decay < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(decay), decay, "The EMA decay must be in (0, 1).");
        }
        Decay = decay;
        _parameters = parameters.Where(p => p.Trainable).ToArray();
        _averages = _parameters.Select(p => p.Value.Clone()).ToArray();
    }

    /// <summary>d, the weight of the previous average.</summary>
    public double Decay { get; }

    /// <summary>The averaged parameters, in the order given.</summary>
    public IReadOnlyList<Parameter<T>> Parameters => _parameters;

    /// <summary>Returns the average of parameter <paramref name="index"/>.</summary>
    public Tensor<T> Average(int index) => _averages[index];

    /// <summary>Moves the average towards the current weights.</summary>
    public void Update()
    {
        T decay = T.CreateTruncating(Decay);
        T rest = T.CreateTruncating(1.0 - Decay);
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i].Value.Span;
            var a = _averages[i].Span;
            for (int j = 0; j < a.Length; j++)
            {
                a[j] = decay * a[j] + rest * p[j];
            }
        }
    }

    /// <summary>Exchanges the live weights and the averages; calling it twice restores both.</summary>
    public void Swap()
    {
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i].Value.Span;
            var a = _averages[i].Span;
            for (int j = 0; j < a.Length; j++)
            {
                (p[j], a[j]) = (a[j], p[j]);
            }
        }
    }
}
