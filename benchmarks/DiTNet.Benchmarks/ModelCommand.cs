using System.Diagnostics;
using System.Globalization;
using DiTNet.Layers;
using DiTNet.Tensors;

namespace DiTNet.Benchmarks;

/// <summary>
/// Times the whole DiT forward pass and training step on the peer benchmark's shapes and prints
/// the peer's JSON fields, so that <c>torch_dit.py bench</c> and this command compare line by line.
/// </summary>
public static class ModelCommand
{
    /// <summary>
    /// <c>model [--shape S|M|L] [--threads N] [--repeats N] [--streaming] [--profile]</c>: one JSON line
    /// with the medians (and minimums) of <c>--repeats</c> timed runs after one warm-up run; <c>--profile</c> prints
    /// the median seconds of each stage instead.
    /// </summary>
    public static int Run(string[] args)
    {
        string shape = "S";
        int threads = 2, repeats = 5;
        bool streaming = false, profile = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--shape" when i + 1 < args.Length:
                    shape = args[++i].ToUpperInvariant();
                    break;
                case "--threads" when i + 1 < args.Length:
                    threads = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--repeats" when i + 1 < args.Length:
                    repeats = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--streaming":
                    streaming = true;
                    break;
                case "--profile":
                    profile = true;
                    break;
                default:
                    Console.Error.WriteLine(
                        $"Unknown option {args[i]}; expected --shape S|M|L, --threads N, --repeats N, --streaming or --profile.");
                    return 2;
            }
        }
        if (shape is not ("S" or "M" or "L") || threads < 1 || repeats < 1)
        {
            Console.Error.WriteLine($"--shape takes S, M or L and --threads and --repeats positive numbers; got {shape}, {threads}, {repeats}.");
            return 2;
        }

        var workload = new ModelWorkload(shape, streaming, threads);
        if (profile)
        {
            ModelProfile.Run(workload, repeats);
            return 0;
        }
        double[] forward = Measure(() => workload.Forward(), repeats);
        double[] trainStep = Measure(() => workload.TrainStep(), repeats);
        double peakMiB = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{{\"shape\": \"{shape}\", \"threads\": {threads}, \"streaming\": {(streaming ? "true" : "false")}, "
            + $"\"ditnet\": true, \"forward_s\": {forward[repeats / 2]:G6}, \"train_step_s\": {trainStep[repeats / 2]:G6}, "
            + $"\"forward_min_s\": {forward[0]:G6}, \"train_step_min_s\": {trainStep[0]:G6}, \"peak_rss_mib\": {peakMiB:F1}}}"));
        return 0;
    }

    /// <summary>Runs <paramref name="action"/> once to warm up, then <paramref name="repeats"/> times; returns the seconds, sorted.</summary>
    /// <remarks>
    /// The median is the figure to compare with the peer. The minimum is steadier on a machine shared
    /// with other jobs, which only ever add time, so it suits before-and-after comparisons.
    /// </remarks>
    public static double[] Measure(Action action, int repeats)
    {
        action();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(times);
        return times;
    }
}

/// <summary>
/// Times the whole model, then the position embedding and the first block and its stages alone, to
/// find where the time goes.
/// </summary>
/// <remarks>
/// The convolution and the first block's stages run on seeded random inputs of the model's shapes.
/// A block's time minus its adaptive norm, attention and feed-forward is its elementwise work.
/// </remarks>
internal static class ModelProfile
{
    public static void Run(ModelWorkload workload, int repeats)
    {
        var model = workload.Model;
        int threads = model.Threads, batch = workload.Batch, frames = workload.Frames, dim = model.Config.Dim;
        var stages = new Dictionary<string, List<double>>();
        var random = new RandomSource(0);

        void Time(string stage, Action action)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            if (!stages.TryGetValue(stage, out var list))
            {
                stages[stage] = list = [];
            }
            list.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        var h0 = new Tensor<float>(batch, frames, dim);
        random.FillGaussian(h0.Span);
        var temb = new Tensor<float>(batch, dim);
        random.FillGaussian(temb.Span);
        var maskTensor = new Tensor<float>(batch, 1, frames);
        maskTensor.Span.Fill(1);
        for (int b = 1; b < batch; b++)
        {
            maskTensor.Slice(b)[(int)(0.8 * frames)..].Clear();
        }
        var mask = AttentionMask.Build(maskTensor, workload.Streaming, model.Config.StaticChunkSize);
        var dOut = new Tensor<float>(batch, frames, dim);
        random.FillGaussian(dOut.Span);
        var dIn = new Tensor<float>(batch, frames, dim);
        var dTemb = new Tensor<float>(batch, dim);
        var modulationGradient = new Tensor<float>(batch, 6 * dim);
        random.FillGaussian(modulationGradient.Span);
        var conv = model.InputEmbed.ConvPositionEmbedding;
        var block = model.Blocks[0];

        for (int repeat = 0; repeat <= repeats; repeat++)
        {
            Time("whole forward (inference)", () => workload.Forward());
            Time("whole train step", () => workload.TrainStep());
            Time("whole forward (training)", () => { workload.Model.Training = true; var (x, mask, mu, t, spks, cond) = workload.Inputs; workload.Model.Forward(x, mask, mu, t, spks, cond, workload.Streaming); });
            Time("conv position embedding forward", () => conv.Forward(h0, threads));
            Time("conv position embedding backward", () => conv.Backward(dOut, dIn, threads));
            Time("block forward (training)", () => block.Forward(h0, temb, mask, model.Rotary, true, random, threads));
            Time("block backward", () => block.Backward(dOut, dIn, dTemb, threads));
            Time("  attention forward (training)", () => block.Attn.Forward(h0, mask, model.Rotary, true, random, threads));
            Time("  attention backward", () => block.Attn.Backward(dOut, dIn, threads));
            Time("  feed-forward forward", () => block.FF.Forward(h0, true, random, threads));
            Time("  feed-forward backward", () => block.FF.Backward(dOut, dIn, threads));
            Time("  adaptive norm forward", () => block.AttnNorm.Forward(h0, temb, threads));
            Time("    modulation linear forward", () => block.AttnNorm.Linear.Forward(temb, threads));
            Time("    modulation linear backward", () => block.AttnNorm.Linear.Backward(modulationGradient, dTemb, threads));
            Time("block forward (inference)", () => block.Forward(h0, temb, mask, model.Rotary, false, random, threads));
            Time("  attention forward (inference)", () => block.Attn.Forward(h0, mask, model.Rotary, false, random, threads));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"shape {workload.Config.Dim}x{workload.Config.Depth}, B {batch}, N {frames}, streaming {workload.Streaming}, threads {threads}; median seconds of {repeats} after warm-up"));
        foreach (var (stage, times) in stages)
        {
            var timed = times.Skip(1).Order().ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{stage,-36} {timed[timed.Length / 2]:F4}"));
        }
    }
}
