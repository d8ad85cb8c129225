using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using DiTNet.Kernels;

namespace DiTNet.Benchmarks;

/// <summary>
/// A quick GFLOP/s measurement on the shapes the OpenBLAS peer measures, printed in the peer's
/// JSON-lines form so the two outputs compare line by line.
/// </summary>
public static class GemmCommand
{
    /// <summary>The (m, k, n) shapes: square sizes, then the DiT's projections at 1000 frames.</summary>
    public static readonly (int M, int K, int N)[] Shapes =
    [
        (256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048),
        (1000, 1024, 1024), (1000, 1024, 2048), (1000, 2048, 1024),
    ];

    /// <summary>Parses the options, measures every shape and prints one JSON line per shape.</summary>
    public static int Run(string[] args)
    {
        int threads = 2, repeats = 10;
        string form = "NN", type = "float", clock = "wall";
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--threads":
                    threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--repeats":
                    repeats = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--form":
                    form = args[i + 1].ToUpperInvariant();
                    break;
                case "--type":
                    type = args[i + 1];
                    break;
                case "--clock":
                    clock = args[i + 1];
                    break;
                default:
                    Console.Error.WriteLine($"Unknown option {args[i]}; expected --threads, --repeats, --form, --type or --clock.");
                    return 2;
            }
        }
        if (form.Length != 2 || form.Any(ch => ch is not ('N' or 'T')) || type is not ("float" or "double")
            || clock is not ("wall" or "cpu"))
        {
            Console.Error.WriteLine(
                $"--form takes NN, NT, TN or TT, --type float or double, --clock wall or cpu; got {form}, {type}, {clock}.");
            return 2;
        }

        var transA = form[0] == 'T' ? Transpose.Yes : Transpose.No;
        var transB = form[1] == 'T' ? Transpose.Yes : Transpose.No;
        foreach (var (m, k, n) in Shapes)
        {
            double seconds = type == "float"
                ? Measure<float>(transA, transB, m, n, k, threads, repeats, clock == "cpu")
                : Measure<double>(transA, transB, m, n, k, threads, repeats, clock == "cpu");
            double gflops = 2.0 * m * k * n / seconds / 1e9;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{{\"m\": {m}, \"k\": {k}, \"n\": {n}, \"threads\": {threads}, \"gflops\": {gflops:F1}, \"form\": \"{form}\", \"type\": \"{type}\"}}"));
        }
        return 0;
    }

    /// <summary>Median seconds of one product over <paramref name="repeats"/> timed runs after three warm-up runs.</summary>
    /// <param name="cpuTime">
    /// Time the process's processor seconds instead of the wall clock: on a machine shared with other jobs
    /// this charges the product only for the time it ran, which is steadier for tuning; on several threads
    /// it also charges the workers' spinning.
    /// </param>
    public static double Measure<T>(Transpose transA, Transpose transB, int m, int n, int k, int threads, int repeats, bool cpuTime = false)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var random = new Random(1);
        T[] a = new T[m * k], b = new T[k * n], c = new T[m * n];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = T.CreateTruncating(random.NextDouble() - 0.5);
        }
        for (int i = 0; i < b.Length; i++)
        {
            b[i] = T.CreateTruncating(random.NextDouble() - 0.5);
        }

        for (int i = 0; i < 3; i++)
        {
            Gemm.Compute<T>(transA, transB, m, n, k, a, b, c, accumulate: false, threads);
        }
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            double cpuStart = cpuTime ? ProcessorSeconds() : 0;
            long start = Stopwatch.GetTimestamp();
            Gemm.Compute<T>(transA, transB, m, n, k, a, b, c, accumulate: false, threads);
            times[i] = cpuTime ? ProcessorSeconds() - cpuStart : Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }

    // Process.TotalProcessorTime counts in scheduler ticks (10 ms), too coarse for one product
    private static double ProcessorSeconds()
    {
        const int ProcessCpuTimeClock = 2;
        ClockGetTime(ProcessCpuTimeClock, out TimeSpec time);
        return time.Seconds + time.Nanoseconds * 1e-9;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
