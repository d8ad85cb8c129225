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
        string form = "NN", type = "float", clock = "wall", suite = "square";
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
                case "--suite":
                    suite = args[i + 1];
                    break;
                default:
                    Console.Error.WriteLine($"Unknown option {args[i]}; expected --threads, --repeats, --form, --type, --clock or --suite.");
                    return 2;
            }
        }
        if (form.Length != 2 || form.Any(ch => ch is not ('N' or 'T')) || type is not ("float" or "double")
            || clock is not ("wall" or "cpu") || suite is not ("square" or "attention"))
        {
            Console.Error.WriteLine($"--form takes NN, NT, TN or TT, --type float or double, --clock wall or cpu, "
                + $"--suite square or attention; got {form}, {type}, {clock}, {suite}.");
            return 2;
        }
        if (suite == "attention")
        {
            foreach (int frames in new[] { 200, 1000, 1500 })
            {
                RunAttention(frames, heads: 16, headWidth: 64, threads, repeats, clock == "cpu");
            }
            return 0;
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

    /// <summary>
    /// The batched products of one attention layer over <paramref name="heads"/> heads, with q, k, v laid
    /// out <c>[N, H·Dh]</c> (head stride Dh) and scores <c>[H, N, N]</c>: the forward's q·kᵀ and P·V, and
    /// the backward's dP = dO·vᵀ and dV = Pᵀ·dO.
    /// </summary>
    private static void RunAttention(int frames, int heads, int headWidth, int threads, int repeats, bool cpuTime)
    {
        int width = heads * headWidth;
        var random = new Random(1);
        float[] q = RandomArray(random, frames * width), k = RandomArray(random, frames * width);
        float[] output = new float[frames * width];
        float[] scores = RandomArray(random, heads * frames * frames);
        long square = (long)frames * frames;
        var products = new (string Name, Transpose TransA, Transpose TransB, int M, int N, int K, Action Run)[]
        {
            ("q·kᵀ", Transpose.No, Transpose.Yes, frames, frames, headWidth, () => Gemm.ComputeBatched<float>(
                Transpose.No, Transpose.Yes, frames, frames, headWidth, heads,
                q, width, headWidth, k, width, headWidth, scores, frames, square, accumulate: false, threads)),
            ("P·v", Transpose.No, Transpose.No, frames, headWidth, frames, () => Gemm.ComputeBatched<float>(
                Transpose.No, Transpose.No, frames, headWidth, frames, heads,
                scores, frames, square, k, width, headWidth, output, width, headWidth, accumulate: false, threads)),
            ("Pᵀ·dO", Transpose.Yes, Transpose.No, frames, headWidth, frames, () => Gemm.ComputeBatched<float>(
                Transpose.Yes, Transpose.No, frames, headWidth, frames, heads,
                scores, frames, square, q, width, headWidth, output, width, headWidth, accumulate: true, threads)),
        };
        foreach (var product in products)
        {
            double seconds = Time(product.Run, repeats, cpuTime);
            double gflops = 2.0 * heads * product.M * product.N * product.K / seconds / 1e9;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{{\"op\": \"{product.Name}\", \"batch\": {heads}, \"m\": {product.M}, \"k\": {product.K}, \"n\": {product.N}, \"threads\": {threads}, \"gflops\": {gflops:F1}}}"));
        }
    }

    private static float[] RandomArray(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)(random.NextDouble() - 0.5);
        }
        return values;
    }

    private static double Time(Action run, int repeats, bool cpuTime)
    {
        for (int i = 0; i < 3; i++)
        {
            run();
        }
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            double cpuStart = cpuTime ? ProcessorSeconds() : 0;
            long start = Stopwatch.GetTimestamp();
            run();
            times[i] = cpuTime ? ProcessorSeconds() - cpuStart : Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }

    /// <summary>Median seconds of one product over <paramref name="repeats"/> timed runs after three warm-up runs.</summary>
    /// <param name="cpuTime">
    /// Whether to time the process's CPU seconds instead of the wall clock. On a machine shared with
    /// other jobs this charges the product only for the time it ran, which is steadier for tuning.
    /// On several threads it also charges the workers' spinning.
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
