using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// Inverted dropout applied in place: in training each element is zeroed with probability
/// <c>rate</c> and the rest are scaled by <c>1 / (1 - rate)</c>; outside training it is the identity.
/// </summary>
public sealed class Dropout<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T> _scale = new(0);
    private bool _active;

    /// <summary>Creates a dropout with the given rate.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The rate is outside [0, 1).</exception>
    public Dropout(double rate)
    {
        if (rate < 0 || rate >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "The dropout rate must be in [0, 1).");
        }
        Rate = rate;
    }

    /// <summary>The probability of zeroing an element.</summary>
    public double Rate { get; }

    /// <summary>Drops elements of <paramref name="values"/> in place and remembers which, for the backward pass.</summary>
    /// <param name="values">Any shape; changed in place.</param>
    /// <param name="training">Whether dropout is active; when false nothing changes.</param>
    /// <param name="random">The stream the keep decisions are drawn from, one draw per element in order.</param>
    public void Forward(Span<T> values, bool training, RandomSource random)
    {
        _active = training && Rate > 0;
        if (!_active)
        {
            return;
        }

        _scale.Reshape(values.Length);
        Span<T> scale = _scale.Span;
        T keepScale = T.CreateTruncating(1.0 / (1.0 - Rate));
        for (int i = 0; i < values.Length; i++)
        {
            scale[i] = random.NextDouble() < Rate ? T.Zero : keepScale;
        }
        System.Numerics.Tensors.TensorPrimitives.Multiply(values, scale, values);
    }

    /// <summary>Applies the last forward pass's mask and scale to a gradient in place.</summary>
    /// <param name="gradient">Shaped like the last forward input; changed in place.</param>
    public void Backward(Span<T> gradient)
    {
        if (!_active)
        {
            return;
        }
        if (gradient.Length != _scale.Length)
        {
            throw new ArgumentException(
                $"The gradient has {gradient.Length} elements but the last forward pass had {_scale.Length}.", nameof(gradient));
        }
        System.Numerics.Tensors.TensorPrimitives.Multiply(gradient, _scale.Span, gradient);
    }
}
