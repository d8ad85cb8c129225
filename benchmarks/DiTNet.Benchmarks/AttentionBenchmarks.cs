using BenchmarkDotNet.Attributes;
using DiTNet.Layers;
using DiTNet.Tensors;

namespace DiTNet.Benchmarks;

/// <summary>
/// One CosyVoice 3 attention layer (D = 1024, H = 16, Dh = 64) on a batch of two items of N frames,
/// the second padded to 80% of N, with and without the streaming chunk mask of 50 frames.
/// </summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    private const int Batch = 2, Dim = 1024, Heads = 16, DimHead = 64, ChunkSize = 50;
    private Attention<float> _layer = null!;
    private RotaryEmbedding<float> _rotary = null!;
    private AttentionMask _mask = null!;
    private Tensor<float> _input = null!;
    private Tensor<float> _outputGradient = null!;
    private Tensor<float> _inputGradient = null!;
    private readonly RandomSource _random = new(1);

    /// <summary>N, the frames per item.</summary>
    [Params(1000)]
    public int Frames { get; set; }

    /// <summary>Whether the streaming chunk mask is used.</summary>
    [Params(false, true)]
    public bool Streaming { get; set; }

    /// <summary>Threads for the products and heads.</summary>
    [Params(2)]
    public int Threads { get; set; }

    /// <summary>Builds the layer with random weights, the inputs and the mask.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _layer = new Attention<float>("attn", Dim, Heads, DimHead, dropout: 0.1);
        var random = new Random(1);
        foreach (var linear in new[] { _layer.ToQ, _layer.ToK, _layer.ToV, _layer.ToOut })
        {
            linear.Initialize(random);
        }
        _rotary = new RotaryEmbedding<float>(DimHead);
        _rotary.Initialize();
        _input = new Tensor<float>(Batch, Frames, Dim);
        _random.FillGaussian(_input.Span);
        _outputGradient = new Tensor<float>(Batch, Frames, Dim);
        _random.FillGaussian(_outputGradient.Span);
        _inputGradient = new Tensor<float>(Batch, Frames, Dim);

        var mask = new Tensor<float>(Batch, 1, Frames);
        mask.Span.Fill(1);
        mask.Slice(1)[(Frames * 4 / 5)..].Clear();
        _mask = AttentionMask.Build(mask, Streaming, ChunkSize);
    }

    /// <summary>Inference: forward without keeping the probabilities.</summary>
    [Benchmark]
    public void Forward()
    {
        _layer.SaveForBackward = false;
        _layer.Forward(_input, _mask, _rotary, training: false, _random, Threads);
    }

    /// <summary>Training: forward with dropout and the probabilities kept, then backward.</summary>
    [Benchmark]
    public void ForwardBackward()
    {
        _layer.SaveForBackward = true;
        _layer.Forward(_input, _mask, _rotary, training: true, _random, Threads);
        _layer.Backward(_outputGradient, _inputGradient, Threads);
    }

    /// <summary>Training with less memory: the backward pass recomputes the probabilities.</summary>
    [Benchmark]
    public void ForwardBackwardRecomputed()
    {
        _layer.SaveForBackward = false;
        _layer.Forward(_input, _mask, _rotary, training: true, _random, Threads);
        _layer.Backward(_outputGradient, _inputGradient, Threads);
    }
}
