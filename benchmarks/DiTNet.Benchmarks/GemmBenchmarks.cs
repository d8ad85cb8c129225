using BenchmarkDotNet.Attributes;
using DiTNet.Kernels;

namespace DiTNet.Benchmarks;

/// <summary>
/// Float <c>C = A·B</c> on the shapes the OpenBLAS peer measures: square sizes and the DiT's projections
/// at 1000 frames (model width 1024, feed-forward width 2048).
/// </summary>
/// <remarks>Run with <c>dotnet run -c Release --project benchmarks/DiTNet.Benchmarks -- --filter *Gemm*</c>.</remarks>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    private float[] _a = [];
    private float[] _b = [];
    private float[] _c = [];

    /// <summary>The shape as <c>m×k×n</c>.</summary>
    [Params("256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048",
        "1000x1024x1024", "1000x1024x2048", "1000x2048x1024")]
    public string Shape { get; set; } = "1024x1024x1024";

    /// <summary>Threads per call.</summary>
    [Params(1, 2)]
    public int Threads { get; set; } = 2;

    private int _m;
    private int _k;
    private int _n;

    /// <summary>Fills A and B with values in [-0.5, 0.5).</summary>
    [GlobalSetup]
    public void Setup()
    {
        int[] sizes = Array.ConvertAll(Shape.Split('x'), size => int.Parse(size, System.Globalization.CultureInfo.InvariantCulture));
        (_m, _k, _n) = (sizes[0], sizes[1], sizes[2]);
        var random = new Random(1);
        _a = new float[_m * _k];
        _b = new float[_k * _n];
        _c = new float[_m * _n];
        for (int i = 0; i < _a.Length; i++)
        {
            _a[i] = (float)(random.NextDouble() - 0.5);
        }
        for (int i = 0; i < _b.Length; i++)
        {
            _b[i] = (float)(random.NextDouble() - 0.5);
        }
    }

    /// <summary>One product; GFLOP/s is <c>2·m·k·n</c> divided by the mean time.</summary>
    [Benchmark]
    public void Multiply() =>
        Gemm.Compute<float>(Transpose.No, Transpose.No, _m, _n, _k, _a, _b, _c, accumulate: false, Threads);
}
