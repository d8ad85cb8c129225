namespace DiTNet.Training;

/// <summary>How the learning rate falls after the warm-up.</summary>
public enum LearningRateDecay
{
    /// <summary>Half a cosine from the peak to the minimum.</summary>
    Cosine,

    /// <summary>A straight line from the peak to the minimum.</summary>
    Linear,

    /// <summary>The peak until the end.</summary>
    Constant,
}

/// <summary>
/// A linear warm-up from 0 to <see cref="Peak"/> over <see cref="WarmupSteps"/> updates, then a decay to
/// <see cref="Minimum"/> at update <see cref="TotalSteps"/>; later updates stay at the minimum.
/// </summary>
/// <param name="Peak">The learning rate at the end of the warm-up.</param>
/// <param name="WarmupSteps">Updates of the warm-up; 0 starts at the peak.</param>
/// <param name="TotalSteps">The update at which the decay reaches the minimum.</param>
/// <param name="Minimum">The learning rate at and after <see cref="TotalSteps"/>.</param>
/// <param name="Decay">The shape of the decay.</param>
public sealed record LearningRateSchedule(double Peak, int WarmupSteps, int TotalSteps, double Minimum = 0.0, LearningRateDecay Decay = LearningRateDecay.Cosine)
{
    /// <summary>Returns the learning rate of update <paramref name="step"/>, counting from 1.</summary>
    /// <remarks>
    /// Warm-up: <c>Peak · step / WarmupSteps</c>. Decay, with <c>p = (step − WarmupSteps) / (TotalSteps − WarmupSteps)</c>
    /// clamped to [0, 1]: cosine <c>Minimum + (Peak − Minimum) · (1 + cos(π·p)) / 2</c>, linear
    /// <c>Peak + (Minimum − Peak) · p</c>.
    /// </remarks>
    public double At(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(step);
        if (step <= WarmupSteps)
        {
            return Peak * step / WarmupSteps;
        }
        if (Decay == LearningRateDecay.Constant)
        {
            return Peak;
        }
        int decaySteps = TotalSteps - WarmupSteps;
        double progress = decaySteps <= 0 ? 1.0 : Math.Clamp((double)(step - WarmupSteps) / decaySteps, 0.0, 1.0);
        return Decay == LearningRateDecay.Cosine
            ? Minimum + (Peak - Minimum) * 0.5 * (1.0 + Math.Cos(Math.PI * progress))
            : Peak + (Minimum - Peak) * progress;
    }
}
