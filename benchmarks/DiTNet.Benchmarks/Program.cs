using BenchmarkDotNet.Running;

namespace DiTNet.Benchmarks;

/// <summary>Runs the quick GEMM or model measurement, or the BenchmarkDotNet benchmarks selected on the command line.</summary>
public static class Program
{
    /// <summary>
    /// <c>gemm [--threads N] [--repeats N] [--form NN|NT|TN|TT] [--type float|double]</c> prints GFLOP/s as
    /// JSON lines; <c>model [--shape S|M|L] [--threads N] [--streaming]</c> times the whole DiT as the PyTorch
    /// peer does (see <see cref="ModelCommand"/>); anything else goes to BenchmarkDotNet's switcher.
    /// </summary>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "gemm")
        {
            return GemmCommand.Run(args[1..]);
        }
        if (args.Length > 0 && args[0] == "model")
        {
            return ModelCommand.Run(args[1..]);
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
