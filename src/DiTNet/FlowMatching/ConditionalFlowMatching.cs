using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.FlowMatching;

/// <summary>
/// The conditional flow-matching (optimal-transport path) loss that trains the DiT, with its backward pass.
/// </summary>
/// <remarks>
/// For a target mel x1 and draws t, z and keep: <c>y = (1 − (1 − σ)·t)·z + t·x1</c>, target velocity
/// <c>u = x1 − (1 − σ)·z</c>, items whose keep is false get zero mu, spks and cond, and
/// <c>loss = Σ (pred·mask − u·mask)² / (Σ mask · M)</c> with <c>pred = model(y, mask, mu, t, spks, cond)</c>.
/// The time t is used as drawn: no schedule warps it during training.
/// Buffers are kept between calls and reused while the batch shape stays the same.
/// </remarks>
public sealed class ConditionalFlowMatching<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _y;
    private Tensor<T>? _u;
    private Tensor<T>? _mu;
    private Tensor<T>? _spks;
    private Tensor<T>? _cond;
    private Tensor<T>? _dPred;

    /// <summary>Creates the loss with the given σ (sigma_min).</summary>
    public ConditionalFlowMatching(double sigmaMin = 1e-6)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sigmaMin);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(sigmaMin, 1.0);
        SigmaMin = sigmaMin;
    }

    /// <summary>σ, the noise left at t = 1 (CosyVoice 3 uses 1e-6).</summary>
    public double SigmaMin { get; }

    /// <summary>Computes the loss without a backward pass.</summary>
    /// <param name="x1">Target mel: <c>[B, M, N]</c>.</param>
    /// <param name="mask">1 for real frames, 0 for padding: <c>[B, 1, N]</c>.</param>
    /// <param name="mu">Condition: <c>[B, U, N]</c>.</param>
    /// <param name="spks">Speaker embedding: <c>[B, S]</c>.</param>
    /// <param name="cond">Prompt mel, zero where absent: <c>[B, M, N]</c>.</param>
    /// <param name="draws">t <c>[B]</c>, z <c>[B, M, N]</c> and keep <c>[B]</c>.</param>
    /// <param name="streaming">Whether the model uses its streaming attention mask.</param>
    /// <returns>The loss, accumulated in double.</returns>
    /// <exception cref="ArgumentException">A shape does not match x1's.</exception>
    public double Loss(IVelocityModel<T> model, Tensor<T> x1, Tensor<T> mask, Tensor<T> mu, Tensor<T> spks, Tensor<T> cond,
        FlowMatchingDraws<T> draws, bool streaming = false)
        => Compute(model, x1, mask, mu, spks, cond, draws, streaming, backward: false);

    /// <summary>Computes the loss and adds its gradient into the model's parameter gradients.</summary>
    /// <remarks>Parameters as in <see cref="Loss"/>. The model's gradients are added to, not overwritten.</remarks>
    /// <returns>The loss, accumulated in double.</returns>
    public double LossAndBackward(IVelocityModel<T> model, Tensor<T> x1, Tensor<T> mask, Tensor<T> mu, Tensor<T> spks, Tensor<T> cond,
        FlowMatchingDraws<T> draws, bool streaming = false)
        => Compute(model, x1, mask, mu, spks, cond, draws, streaming, backward: true);

    private double Compute(IVelocityModel<T> model, Tensor<T> x1, Tensor<T> mask, Tensor<T> mu, Tensor<T> spks, Tensor<T> cond,
        FlowMatchingDraws<T> draws, bool streaming, bool backward)
    {
        ArgumentNullException.ThrowIfNull(model);
        CheckShapes(x1, mask, mu, spks, cond, draws);
        int batch = x1.Dim(0), melDim = x1.Dim(1), frames = x1.Dim(2);
        int muDim = mu.Dim(1), spkDim = spks.Dim(1);
        var y = Ensure(ref _y, batch, melDim, frames);
        var u = Ensure(ref _u, batch, melDim, frames);
        var muIn = Ensure(ref _mu, batch, muDim, frames);
        var spksIn = Ensure(ref _spks, batch, spkDim);
        var condIn = Ensure(ref _cond, batch, melDim, frames);

        // 1. noisy sample y and target velocity u
        T oneMinusSigma = T.CreateTruncating(1.0 - SigmaMin);
        var x1Span = x1.Span;
        var z = draws.Noise.Span;
        var ySpan = y.Span;
        var uSpan = u.Span;
        int itemLength = melDim * frames;
        for (int b = 0; b < batch; b++)
        {
            T t = draws.Time[b];
            T noiseScale = T.One - oneMinusSigma * t;
            int start = b * itemLength;
            for (int i = start; i < start + itemLength; i++)
            {
                ySpan[i] = noiseScale * z[i] + t * x1Span[i];
                uSpan[i] = x1Span[i] - oneMinusSigma * z[i];
            }
        }

        // 2. classifier-free guidance dropout: zero the conditions of dropped items
        for (int b = 0; b < batch; b++)
        {
            bool keep = draws.KeepCondition[b];
            CopyOrClear(mu.Slice(b), muIn.Slice(b), keep);
            CopyOrClear(spks.Row(b), spksIn.Row(b), keep);
            CopyOrClear(cond.Slice(b), condIn.Slice(b), keep);
        }

        // 3. prediction and masked squared error over real frames and all M channels
        var pred = model.Forward(y, mask, muIn, draws.Time, spksIn, condIn, streaming);
        var predSpan = pred.Span;
        var maskSpan = mask.Span;
        double maskSum = 0;
        for (int i = 0; i < maskSpan.Length; i++)
        {
            maskSum += double.CreateTruncating(maskSpan[i]);
        }
        double denominator = maskSum * melDim;
        double squares = 0;
        for (int b = 0; b < batch; b++)
        {
            for (int m = 0; m < melDim; m++)
            {
                int row = (b * melDim + m) * frames;
                for (int n = 0; n < frames; n++)
                {
                    double w = double.CreateTruncating(maskSpan[b * frames + n]);
                    double d = double.CreateTruncating(predSpan[row + n]) * w - double.CreateTruncating(uSpan[row + n]) * w;
                    squares += d * d;
                }
            }
        }
        double loss = squares / denominator;
        if (!backward)
        {
            return loss;
        }

        // backward of 3: dPred = 2·mask²·(pred − u) / (Σ mask · M)
        var dPred = Ensure(ref _dPred, batch, melDim, frames);
        var dSpan = dPred.Span;
        double scale = 2.0 / denominator;
        for (int b = 0; b < batch; b++)
        {
            for (int m = 0; m < melDim; m++)
            {
                int row = (b * melDim + m) * frames;
                for (int n = 0; n < frames; n++)
                {
                    double w = double.CreateTruncating(maskSpan[b * frames + n]);
                    double d = double.CreateTruncating(predSpan[row + n]) - double.CreateTruncating(uSpan[row + n]);
                    dSpan[row + n] = T.CreateTruncating(scale * w * w * d);
                }
            }
        }
        model.Backward(dPred);
        return loss;
    }

    private static void CopyOrClear(Span<T> source, Span<T> destination, bool copy)
    {
        if (copy)
        {
            source.CopyTo(destination);
        }
        else
        {
            destination.Clear();
        }
    }

    internal static Tensor<T> Ensure(ref Tensor<T>? buffer, params ReadOnlySpan<int> shape)
    {
        if (buffer is null)
        {
            buffer = new Tensor<T>(shape.ToArray());
        }
        else if (!buffer.HasShape(shape))
        {
            // Reshape keeps the backing array when it is large enough, so alternating batch lengths stop allocating.
            buffer.Reshape(shape.ToArray());
        }
        return buffer;
    }

    private static void CheckShapes(Tensor<T> x1, Tensor<T> mask, Tensor<T> mu, Tensor<T> spks, Tensor<T> cond, FlowMatchingDraws<T> draws)
    {
        ArgumentNullException.ThrowIfNull(x1);
        ArgumentNullException.ThrowIfNull(mask);
        ArgumentNullException.ThrowIfNull(mu);
        ArgumentNullException.ThrowIfNull(spks);
        ArgumentNullException.ThrowIfNull(cond);
        ArgumentNullException.ThrowIfNull(draws);
        if (x1.Rank != 3)
        {
            throw new ArgumentException($"x1 must be [B, M, N], got {x1.ShapeString}.", nameof(x1));
        }
        int batch = x1.Dim(0), melDim = x1.Dim(1), frames = x1.Dim(2);
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
        if (!cond.HasShape(x1.Shape))
        {
            throw new ArgumentException($"cond must be shaped like x1 {x1.ShapeString}, got {cond.ShapeString}.", nameof(cond));
        }
        if (draws.Batch != batch || !draws.Noise.HasShape(x1.Shape))
        {
            throw new ArgumentException(
                $"draws must hold t [{batch}] and z {x1.ShapeString}, got t {draws.Time.ShapeString} and z {draws.Noise.ShapeString}.", nameof(draws));
        }
    }
}
