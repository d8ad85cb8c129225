using System.Numerics;
using DiTNet.FlowMatching;
using DiTNet.Models;
using DiTNet.Tensors;

namespace DiTNet.Tests.FlowMatching;

/// <summary>
/// A per-frame affine velocity model for testing the loss, the sampler and the trainer without the DiT:
/// <c>pred[b, :, n] = Wx·x[b, :, n] + Wmu·mu[b, :, n] + Wc·cond[b, :, n] + Ws·spks[b] + wt·t[b] + bias</c>.
/// </summary>
internal sealed class LinearVelocityModel<T> : IVelocityModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _x, _mu, _cond, _spks, _t, _output;

    public LinearVelocityModel(int melDim, int muDim, int spkDim)
    {
        WeightX = new Parameter<T>("x_proj.weight", [melDim, melDim]);
        WeightMu = new Parameter<T>("mu_proj.weight", [melDim, muDim]);
        WeightCond = new Parameter<T>("cond_proj.weight", [melDim, melDim]);
        WeightSpks = new Parameter<T>("spk_proj.weight", [melDim, spkDim]);
        WeightTime = new Parameter<T>("time_proj.weight", [melDim]);
        Bias = new Parameter<T>("bias", [melDim]);
        Parameters = [WeightX, WeightMu, WeightCond, WeightSpks, WeightTime, Bias];
    }

    public Parameter<T> WeightX { get; }
    public Parameter<T> WeightMu { get; }
    public Parameter<T> WeightCond { get; }
    public Parameter<T> WeightSpks { get; }
    public Parameter<T> WeightTime { get; }
    public Parameter<T> Bias { get; }

    public IEnumerable<Parameter<T>> Parameters { get; }

    public bool Training { get; set; }

    public RandomSource DropoutRandom { get; } = new(0);

    /// <summary>Rows of the last Forward's batch, to check how the sampler batches its calls.</summary>
    public int LastBatch { get; private set; }

    /// <summary>The time fed to each row of the last Forward.</summary>
    public T[] LastTime { get; private set; } = [];

    public void Initialize(ulong seed, double scale)
    {
        var random = new RandomSource(seed);
        foreach (var parameter in Parameters)
        {
            var span = parameter.Value.Span;
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = T.CreateTruncating(random.NextGaussian() * scale);
            }
        }
    }

    public Tensor<T> Forward(Tensor<T> x, Tensor<T> mask, Tensor<T> mu, Tensor<T> t, Tensor<T> spks, Tensor<T> cond, bool streaming = false)
    {
        int batch = x.Dim(0), melDim = x.Dim(1), frames = x.Dim(2), muDim = mu.Dim(1), spkDim = spks.Dim(1);
        _x = x.Clone();
        _mu = mu.Clone();
        _cond = cond.Clone();
        _spks = spks.Clone();
        _t = t.Clone();
        LastBatch = batch;
        LastTime = t.ToArray();
        _output = new Tensor<T>(batch, melDim, frames);
        for (int b = 0; b < batch; b++)
        {
            for (int m = 0; m < melDim; m++)
            {
                T rowConstant = Bias.Value[m] + WeightTime.Value[m] * t[b];
                for (int s = 0; s < spkDim; s++)
                {
                    rowConstant += WeightSpks.Value[m * spkDim + s] * spks[b * spkDim + s];
                }
                for (int n = 0; n < frames; n++)
                {
                    T sum = rowConstant;
                    for (int k = 0; k < melDim; k++)
                    {
                        sum += WeightX.Value[m * melDim + k] * x[(b * melDim + k) * frames + n]
                            + WeightCond.Value[m * melDim + k] * cond[(b * melDim + k) * frames + n];
                    }
                    for (int u = 0; u < muDim; u++)
                    {
                        sum += WeightMu.Value[m * muDim + u] * mu[(b * muDim + u) * frames + n];
                    }
                    _output[(b * melDim + m) * frames + n] = sum;
                }
            }
        }
        return _output;
    }

    public void Backward(Tensor<T> outputGradient, DiTInputGradients<T>? inputGradients = null)
    {
        var x = _x!;
        var mu = _mu!;
        var cond = _cond!;
        var spks = _spks!;
        var t = _t!;
        int batch = x.Dim(0), melDim = x.Dim(1), frames = x.Dim(2), muDim = mu.Dim(1), spkDim = spks.Dim(1);
        for (int b = 0; b < batch; b++)
        {
            for (int m = 0; m < melDim; m++)
            {
                T rowSum = T.Zero;
                for (int n = 0; n < frames; n++)
                {
                    T d = outputGradient[(b * melDim + m) * frames + n];
                    rowSum += d;
                    for (int k = 0; k < melDim; k++)
                    {
                        WeightX.Gradient[m * melDim + k] += d * x[(b * melDim + k) * frames + n];
                        WeightCond.Gradient[m * melDim + k] += d * cond[(b * melDim + k) * frames + n];
                    }
                    for (int u = 0; u < muDim; u++)
                    {
                        WeightMu.Gradient[m * muDim + u] += d * mu[(b * muDim + u) * frames + n];
                    }
                }
                Bias.Gradient[m] += rowSum;
                WeightTime.Gradient[m] += rowSum * t[b];
                for (int s = 0; s < spkDim; s++)
                {
                    WeightSpks.Gradient[m * spkDim + s] += rowSum * spks[b * spkDim + s];
                }
            }
        }
    }
}
