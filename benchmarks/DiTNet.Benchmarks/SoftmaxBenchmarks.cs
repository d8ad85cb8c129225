using BenchmarkDotNet.Attributes;
using DiTNet.Kernels;
using DiTNet.Tensors;

namespace DiTNet.Benchmarks;

/// <summary>
/// The attention softmax on 64 rows of N scores each, against its scalar reference. The rows are
/// refilled from the same scores before every call, so every call gets the same realistic inputs.
/// </summary>
[MemoryDiagnoser]
public class SoftmaxBenchmarks
{
    private const int Rows = 64;
    private const float Scale = 0.125f;
    private float[] _scores = [];
    private float[] _rows = [];
    private float[] _probabilities = [];

    /// <summary>N, the keys per row.</summary>
    [Params(1000, 1500)]
    public int Frames { get; set; }

    /// <summary>Draws the scores and the probabilities the backward benchmarks use.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _scores = new float[Rows * Frames];
        new RandomSource(1).FillGaussian<float>(_scores);
        for (int i = 0; i < _scores.Length; i++)
        {
            _scores[i] *= 8;
        }
        _rows = new float[_scores.Length];
        _probabilities = (float[])_scores.Clone();
        for (int r = 0; r < Rows; r++)
        {
            Softmax.Forward(_probabilities.AsSpan(r * Frames, Frames), Scale);
        }
    }

    /// <summary>The scalar reference forward pass.</summary>
    [Benchmark(Baseline = true)]
    public void ForwardReference()
    {
        _scores.CopyTo(_rows, 0);
        for (int r = 0; r < Rows; r++)
        {
            Softmax.ForwardReference(_rows.AsSpan(r * Frames, Frames), Scale);
        }
    }

    /// <summary>The vectorized forward pass.</summary>
    [Benchmark]
    public void Forward()
    {
        _scores.CopyTo(_rows, 0);
        for (int r = 0; r < Rows; r++)
        {
            Softmax.Forward(_rows.AsSpan(r * Frames, Frames), Scale);
        }
    }

    /// <summary>The scalar reference backward pass.</summary>
    [Benchmark]
    public void BackwardReference()
    {
        _scores.CopyTo(_rows, 0);
        for (int r = 0; r < Rows; r++)
        {
            Softmax.BackwardReference(_probabilities.AsSpan(r * Frames, Frames), _rows.AsSpan(r * Frames, Frames), Scale);
        }
    }

    /// <summary>The vectorized backward pass.</summary>
    [Benchmark]
    public void Backward()
    {
        _scores.CopyTo(_rows, 0);
        for (int r = 0; r < Rows; r++)
        {
            Softmax.Backward(_probabilities.AsSpan(r * Frames, Frames), _rows.AsSpan(r * Frames, Frames), Scale);
        }
    }
}
