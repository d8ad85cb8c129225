using DiTNet.Models;
using DiTNet.Tensors;

namespace DiTNet.Benchmarks;

/// <summary>
/// The model and inputs that PyTorch's peer benchmark (<c>torch_dit.py bench</c>) times: the same
/// sizes, a batch whose second and later items are padding from 80% of their frames on, and a
/// static chunk of 50 frames for streaming.
/// </summary>
/// <remarks>
/// The weights and inputs are seeded random numbers, not PyTorch's: the timing depends on the
/// shapes and the mask only. The train step is the peer's: zero the gradients, run the forward
/// pass in training mode (dropout 0), and back-propagate the masked squared error
/// <c>Σ ((y − target)·mask)²</c>.
/// </remarks>
public sealed class ModelWorkload
{
    private readonly Tensor<float> _x, _mask, _mu, _t, _spks, _cond, _target, _outputGradient;

    /// <summary>Builds shape <paramref name="shape"/> (S, M or L) with seeded weights and inputs.</summary>
    /// <exception cref="ArgumentException"><paramref name="shape"/> is not S, M or L.</exception>
    public ModelWorkload(string shape, bool streaming, int threads)
    {
        (Config, Batch, Frames) = Shapes(shape);
        Streaming = streaming;
        Model = new DiT<float>(Config) { Threads = threads };
        Model.Initialize(seed: 0);

        int mel = Config.MelDim;
        var random = new RandomSource(0);
        _x = Gaussian(random, Batch, mel, Frames);
        _mu = Gaussian(random, Batch, Config.MuDim, Frames);
        _cond = Gaussian(random, Batch, mel, Frames);
        _spks = Gaussian(random, Batch, Config.SpkDim);
        _t = new Tensor<float>(Batch);
        for (int b = 0; b < Batch; b++)
        {
            _t[b] = (float)random.NextDouble();
        }
        _mask = new Tensor<float>(Batch, 1, Frames);
        _mask.Span.Fill(1);
        for (int b = 1; b < Batch; b++)
        {
            _mask.Slice(b)[(int)(0.8 * Frames)..].Clear();
        }
        _target = Gaussian(random, Batch, mel, Frames);
        _outputGradient = new Tensor<float>(Batch, mel, Frames);
    }

    /// <summary>The inputs: x, mask, mu, t, spks and cond.</summary>
    public (Tensor<float> X, Tensor<float> Mask, Tensor<float> Mu, Tensor<float> T, Tensor<float> Spks, Tensor<float> Cond) Inputs =>
        (_x, _mask, _mu, _t, _spks, _cond);

    /// <summary>The model's hyper-parameters.</summary>
    public DiTConfig Config { get; }

    /// <summary>B, the items per batch.</summary>
    public int Batch { get; }

    /// <summary>N, the frames per item.</summary>
    public int Frames { get; }

    /// <summary>Whether the streaming chunk mask is used.</summary>
    public bool Streaming { get; }

    /// <summary>The model under test.</summary>
    public DiT<float> Model { get; }

    /// <summary>Returns the configuration, batch and frames of shape S, M or L, as in the peer.</summary>
    /// <exception cref="ArgumentException"><paramref name="shape"/> is not S, M or L.</exception>
    public static (DiTConfig Config, int Batch, int Frames) Shapes(string shape) => shape switch
    {
        "S" => (Make(dim: 256, depth: 6, heads: 4, longSkip: true), 8, 200),
        "M" => (Make(dim: 512, depth: 8, heads: 8, longSkip: true), 2, 500),
        "L" => (Make(dim: 1024, depth: 4, heads: 16, longSkip: false), 2, 500),
        _ => throw new ArgumentException($"The shape must be S, M or L, got '{shape}'.", nameof(shape)),
    };

    /// <summary>Runs one inference forward pass: dropout off, no probabilities kept for a backward pass.</summary>
    public Tensor<float> Forward()
    {
        Model.Training = false;
        return Model.Forward(_x, _mask, _mu, _t, _spks, _cond, Streaming);
    }

    /// <summary>Runs one training step without an optimizer update; returns the loss.</summary>
    public double TrainStep()
    {
        Model.ZeroGradients();
        Model.Training = true;
        var y = Model.Forward(_x, _mask, _mu, _t, _spks, _cond, Streaming);

        // loss = Σ ((y − target)·mask)², so dLoss/dy = 2·(y − target)·mask²
        double loss = 0;
        Span<float> output = y.Span, target = _target.Span, gradient = _outputGradient.Span;
        int mel = Config.MelDim;
        for (int i = 0; i < output.Length; i++)
        {
            int b = i / (mel * Frames), n = i % Frames;
            float m = _mask[b * Frames + n];
            float difference = (output[i] - target[i]) * m;
            loss += (double)difference * difference;
            gradient[i] = 2 * difference * m;
        }
        Model.Backward(_outputGradient);
        return loss;
    }

    private static DiTConfig Make(int dim, int depth, int heads, bool longSkip) => new(
        Dim: dim, Depth: depth, Heads: heads, DimHead: 64, FFMult: 2, MelDim: 80, MuDim: 80, SpkDim: 80,
        LongSkipConnection: longSkip, StaticChunkSize: 50, Dropout: 0.0);

    private static Tensor<float> Gaussian(RandomSource random, params int[] shape)
    {
        var tensor = new Tensor<float>(shape);
        random.FillGaussian(tensor.Span);
        return tensor;
    }
}
