namespace DiTNet.FlowMatching;

/// <summary>How the Euler sampler spaces its time steps over [0, 1].</summary>
public enum TimeSchedule
{
    /// <summary>Equal steps: <c>ts = linspace(0, 1, n + 1)</c>.</summary>
    Linear,

    /// <summary><c>ts = 1 − cos(linspace(0, 1, n + 1) · π/2)</c>: small steps near the noise, larger near the data.</summary>
    Cosine,
}
