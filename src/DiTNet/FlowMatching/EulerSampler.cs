using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.FlowMatching;

/// <summary>
/// Integrates the flow from noise to mel with fixed Euler steps and classifier-free guidance.
/// </summary>
/// <remarks>
/// Each step runs the model once on a batch of 2B rows: first the B guided rows
/// <c>(x, mask, mu, t, spks, cond)</c>, then the B unguided rows <c>(x, mask, 0, t, 0, 0)</c>, and moves
/// <c>x += dt · ((1 + w)·v_guided − w·v_unguided)</c>. Buffers are kept and reused while shapes stay the same.
/// </remarks>
public sealed class EulerSampler<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _x;
    private Tensor<T>? _xIn;
    private Tensor<T>? _maskIn;
    private Tensor<T>? _muIn;
    private Tensor<T>? _tIn;
    private Tensor<T>? _spksIn;
    private Tensor<T>? _condIn;

    /// <summary>Euler steps n (CosyVoice 3 uses 10).</summary>
    public int Steps { get; init; } = 10;

    /// <summary>Guidance weight w, <c>inference_cfg_rate</c> (CosyVoice 3 uses 0.7); 0 still runs the unguided rows.</summary>
    public double GuidanceWeight { get; init; } = 0.7;

    /// <summary>The spacing of the time steps.</summary>
    public TimeSchedule Schedule { get; init; } = TimeSchedule.Cosine;

    /// <summary>Factor on the initial noise (1 samples from the prior the model was trained on).</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Whether the model uses its streaming attention mask.</summary>
    public bool Streaming { get; init; }

    /// <summary>Returns the time grid <c>ts[0..n]</c> of <paramref name="steps"/> steps under <paramref name="schedule"/>, in double.</summary>
    public static double[] TimeGrid(int steps, TimeSchedule schedule)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        var ts = new double[steps + 1];
        for (int k = 0; k <= steps; k++)
        {
            double t = (double)k / steps;
            ts[k] = schedule == TimeSchedule.Cosine ? 1.0 - Math.Cos(t * 0.5 * Math.PI) : t;
        }
        return ts;
    }

    /// <summary>Samples mels from the initial noise <paramref name="noise"/>.</summary>
    /// <param name="noise">Standard normal noise z, multiplied by <see cref="Temperature"/>: <c>[B, M, N]</c>.</param>
    /// <param name="mask">1 for real frames, 0 for padding: <c>[B, 1, N]</c>.</param>
    /// <param name="mu">Condition: <c>[B, U, N]</c>.</param>
    /// <param name="spks">Speaker embedding: <c>[B, S]</c>.</param>
    /// <param name="cond">Prompt mel, zero where absent: <c>[B, M, N]</c>.</param>
    /// <returns>The sample <c>[B, M, N]</c>, a buffer owned by the sampler and overwritten by the next call.</returns>
    /// <exception cref="ArgumentException">A shape does not match the noise's.</exception>
    public Tensor<T> Sample(IVelocityModel<T> model, Tensor<T> noise, Tensor<T> mask, Tensor<T> mu, Tensor<T> spks, Tensor<T> cond)
    {
        ArgumentNullException.ThrowIfNull(model);
        CheckShapes(noise, mask, mu, spks, cond);
        int batch = noise.Dim(0), melDim = noise.Dim(1), frames = noise.Dim(2);
        int muDim = mu.Dim(1), spkDim = spks.Dim(1);
        var x = ConditionalFlowMatching<T>.Ensure(ref _x, batch, melDim, frames);
        var xIn = ConditionalFlowMatching<T>.Ensure(ref _xIn, 2 * batch, melDim, frames);
        var maskIn = ConditionalFlowMatching<T>.Ensure(ref _maskIn, 2 * batch, 1, frames);
        var muIn = ConditionalFlowMatching<T>.Ensure(ref _muIn, 2 * batch, muDim, frames);
        var tIn = ConditionalFlowMatching<T>.Ensure(ref _tIn, 2 * batch);
        var spksIn = ConditionalFlowMatching<T>.Ensure(ref _spksIn, 2 * batch, spkDim);
        var condIn = ConditionalFlowMatching<T>.Ensure(ref _condIn, 2 * batch, melDim, frames);

        // the conditions are the same at every step: guided rows first, unguided rows zero
        int half = batch;
        mask.Span.CopyTo(maskIn.Span[..mask.Length]);
        mask.Span.CopyTo(maskIn.Span[mask.Length..]);
        mu.Span.CopyTo(muIn.Span[..mu.Length]);
        muIn.Span[mu.Length..].Clear();
        spks.Span.CopyTo(spksIn.Span[..spks.Length]);
        spksIn.Span[spks.Length..].Clear();
        cond.Span.CopyTo(condIn.Span[..cond.Length]);
        condIn.Span[cond.Length..].Clear();

        // x = z · temperature
        T temperature = T.CreateTruncating(Temperature);
        var xSpan = x.Span;
        var z = noise.Span;
        for (int i = 0; i < xSpan.Length; i++)
        {
            xSpan[i] = z[i] * temperature;
        }

        var ts = TimeGrid(Steps, Schedule);
        double time = ts[0];
        double dt = ts[1] - ts[0];
        T guided = T.CreateTruncating(1.0 + GuidanceWeight);
        T unguided = T.CreateTruncating(GuidanceWeight);
        for (int k = 1; k <= Steps; k++)
        {
            xSpan.CopyTo(xIn.Span[..x.Length]);
            xSpan.CopyTo(xIn.Span[x.Length..]);
            tIn.Span.Fill(T.CreateTruncating(time));
            var v = model.Forward(xIn, maskIn, muIn, tIn, spksIn, condIn, Streaming).Span;

            // x += dt · ((1 + w)·v_guided − w·v_unguided)
            T step = T.CreateTruncating(dt);
            int offset = half * melDim * frames;
            for (int i = 0; i < xSpan.Length; i++)
            {
                xSpan[i] += step * (guided * v[i] - unguided * v[offset + i]);
            }
            time += dt;
            if (k < Steps)
            {
                dt = ts[k + 1] - time;
            }
        }
        return x;
    }

    private static void CheckShapes(Tensor<T> noise, Tensor<T> mask, Tensor<T> mu, Tensor<T> spks, Tensor<T> cond)
    {
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(mask);
        ArgumentNullException.ThrowIfNull(mu);
        ArgumentNullException.ThrowIfNull(spks);
        ArgumentNullException.ThrowIfNull(cond);
        if (noise.Rank != 3)
        {
            throw new ArgumentException($"noise must be [B, M, N], got {noise.ShapeString}.", nameof(noise));
        }
        int batch = noise.Dim(0), frames = noise.Dim(2);
        if (!mask.HasShape([batch, 1, frames]))
        {
            throw new ArgumentException($"mask must be [B, 1, N] = [{batch}, 1, {frames}], got {mask.ShapeString}.", nameof(mask));
        }
        if (mu.Rank != 3 || mu.Dim(0) != batch || mu.Dim(2) != frames)
        {
            throw new ArgumentException($"mu must be [B, U, N] with B = {batch} and N = {frames}, got {mu.ShapeString}.", nameof(mu));
        }
        if (spks.Rank != 2 || spks.Dim(0) != batch)
        {
            throw new ArgumentException($"spks must be [B, S] with B = {batch}, got {spks.ShapeString}.", nameof(spks));
        }
        if (!cond.HasShape(noise.Shape))
        {
            throw new ArgumentException($"cond must be shaped like the noise {noise.ShapeString}, got {cond.ShapeString}.", nameof(cond));
        }
    }
}
