using BenchmarkDotNet.Attributes;

namespace DiTNet.Benchmarks;

/// <summary>
/// The whole DiT on the PyTorch peer's benchmark shapes (see <see cref="ModelWorkload"/>): an
/// inference forward pass and a training step.
/// </summary>
[MemoryDiagnoser]
public class ModelBenchmarks
{
    private ModelWorkload _workload = null!;

    /// <summary>The peer's shape: S (D 256, 6 blocks, B 8, N 200), M (D 512, 8 blocks, B 2, N 500) or L (D 1024, 4 blocks, B 2, N 500).</summary>
    [Params("S", "M", "L")]
    public string Shape { get; set; } = "S";

    /// <summary>Whether the streaming chunk mask is used.</summary>
    [Params(false)]
    public bool Streaming { get; set; }

    /// <summary>Threads for the products and the parallel elementwise kernels.</summary>
    [Params(2)]
    public int Threads { get; set; }

    /// <summary>Builds the model and its inputs.</summary>
    [GlobalSetup]
    public void Setup() => _workload = new ModelWorkload(Shape, Streaming, Threads);

    /// <summary>Inference: one forward pass without dropout or saved probabilities.</summary>
    [Benchmark]
    public void Forward() => _workload.Forward();

    /// <summary>Training: zero the gradients, forward, masked squared-error loss, backward.</summary>
    [Benchmark]
    public double TrainStep() => _workload.TrainStep();
}
