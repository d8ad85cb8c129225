using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.FlowMatching;

/// <summary>
/// The random draws of one flow-matching loss evaluation: the flow time per item, the noise and
/// whether each item keeps its condition. Separate from the loss so that a recorded set can be replayed.
/// </summary>
public sealed class FlowMatchingDraws<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates zeroed draws for <paramref name="batch"/> items of <paramref name="melDim"/> × <paramref name="frames"/>.</summary>
    public FlowMatchingDraws(int batch, int melDim, int frames)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(melDim);
        ArgumentOutOfRangeException.ThrowIfNegative(frames);
        Time = new Tensor<T>(batch);
        Noise = new Tensor<T>(batch, melDim, frames);
        KeepCondition = new bool[batch];
    }

    /// <summary>Flow time t per item, uniform in [0, 1): <c>[B]</c>.</summary>
    public Tensor<T> Time { get; }

    /// <summary>Standard normal noise z: <c>[B, M, N]</c>.</summary>
    public Tensor<T> Noise { get; }

    /// <summary>Per item, true keeps mu, spks and cond; false zeroes them (classifier-free guidance dropout).</summary>
    public bool[] KeepCondition { get; private set; }

    /// <summary>The batch size B.</summary>
    public int Batch => Time.Length;

    /// <summary>Changes the batch shape, keeping the buffers when they are large enough; the values are then stale until the next draw.</summary>
    public void Resize(int batch, int melDim, int frames)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(melDim);
        ArgumentOutOfRangeException.ThrowIfNegative(frames);
        if (!Noise.HasShape([batch, melDim, frames]))
        {
            Time.Reshape(batch);
            Noise.Reshape(batch, melDim, frames);
        }
        if (KeepCondition.Length != batch)
        {
            KeepCondition = new bool[batch];
        }
    }

    /// <summary>
    /// Draws every value: t from <paramref name="noise"/>, then z from <paramref name="noise"/>, then the keep
    /// decisions from <paramref name="condition"/> (kept when a uniform draw exceeds <paramref name="conditionDropRate"/>).
    /// </summary>
    public void Draw(RandomSource noise, RandomSource condition, double conditionDropRate)
    {
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(condition);
        var time = Time.Span;
        for (int b = 0; b < time.Length; b++)
        {
            time[b] = T.CreateTruncating(noise.NextDouble());
        }
        noise.FillGaussian(Noise.Span);
        for (int b = 0; b < KeepCondition.Length; b++)
        {
            KeepCondition[b] = condition.NextDouble() > conditionDropRate;
        }
    }
}
