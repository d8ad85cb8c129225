using BenchmarkDotNet.Running;

namespace DiTNet.Benchmarks;

/// <summary>Runs the benchmarks selected on the command line.</summary>
public static class Program
{
    /// <summary>Hands the arguments to BenchmarkDotNet's switcher.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
