using System.Globalization;
using DiTNet.FlowMatching;
using DiTNet.Models;
using DiTNet.Training;
using Microsoft.Extensions.Logging;

namespace DiTNet.Cli;

/// <summary>The <c>ditnet sample</c> verb: generates mels for corpus utterances from a checkpoint.</summary>
public static partial class SampleCommand
{
    private const string Help = """
        usage: ditnet sample --checkpoint PATH [--utterance ID | --held-out K] [options]

        Generates mel spectrograms with a trained DiT for utterances of the corpus, using their mu and
        speaker embedding, and the true first frames as the prompt. Writes samples.safetensors (one
        [M, N] tensor per utterance, named by its id) and one PNG per utterance (true against generated).

          --checkpoint PATH        checkpoint.safetensors of 'ditnet train', or model weights with a config
          --utterance ID           the utterance to generate (any split); may not be combined with --held-out
          --held-out K             the first K held-out utterances (default 2)
          --corpus PATH            corpus safetensors (default: data/corpus.safetensors next to the
                                   program, else ./data/corpus.safetensors)
          --out DIR                output folder (default: runs/samples-<UTC time>)
          --ema true|false         use the weight average when the checkpoint has one (default true)
          --steps N                Euler steps (default 10)
          --guidance W             classifier-free guidance weight (default 0.7)
          --schedule cosine|linear time-step spacing (default cosine)
          --temperature T          factor on the initial noise (default 1)
          --prompt-fraction P      share of the true frames given as the prompt, 0 for none (default 0.2)
          --seed N                 seeds the noise (default 1234)
          --threads N              threads for matrix products, 0 for all cores (default 0)
        """;

    /// <summary>Runs the verb; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, ILoggerFactory loggerFactory)
    {
        var options = new CommandOptions(args);
        if (options.Help)
        {
            output.WriteLine(Help);
            return 0;
        }
        var logger = loggerFactory.CreateLogger("ditnet.sample");
        string checkpoint = options.String("checkpoint") ?? throw new ArgumentException("Option --checkpoint PATH is required; see 'ditnet sample --help'.");
        string? utterance = options.String("utterance");
        if (utterance is not null && options.Has("held-out"))
        {
            throw new ArgumentException("Give either --utterance or --held-out, not both.");
        }
        int heldOutCount = options.Int("held-out", 2, 1);
        string corpusPath = RunFiles.ResolveCorpus(options.String("corpus"));
        string outDir = options.String("out") ?? DefaultOutputFolder(DateTime.UtcNow);
        bool useAverage = options.Bool("ema", true);
        var evaluation = new EvaluationOptions
        {
            SampleSteps = options.Int("steps", 10, 1),
            GuidanceWeight = options.Double("guidance", 0.7, 0),
            Schedule = options.Enum("schedule", TimeSchedule.Cosine),
            Temperature = options.Double("temperature", 1.0, 0),
            PromptFraction = options.Double("prompt-fraction", 0.2, 0, 0.99),
            Seed = (ulong)options.Int("seed", 1234, 0),
        };
        int threads = options.Int("threads", 0, 0);
        options.RejectUnknown("sample");

        var corpus = RunFiles.LoadCorpus(corpusPath);
        TrainingExample[] examples;
        if (utterance is not null)
        {
            var found = corpus.Train.Concat(corpus.HeldOut).FirstOrDefault(e => e.Id == utterance)
                ?? throw new ArgumentException($"Utterance '{utterance}' is not in corpus '{corpusPath}'.");
            examples = [found];
        }
        else
        {
            examples = corpus.HeldOut.Take(heldOutCount).ToArray();
        }
        var model = RunFiles.LoadModel(RunFiles.RequireFile(checkpoint, "--checkpoint"), useAverage);
        CheckWidths(model.Config, corpus, checkpoint, corpusPath);
        model.Threads = threads;

        if (File.Exists(outDir))
        {
            throw new ArgumentException($"--out: '{outDir}' is a file; the samples need a folder.");
        }
        var result = HeldOutEvaluation.Evaluate(model, examples, evaluation);
        Directory.CreateDirectory(outDir);
        string samplesPath = Path.Combine(outDir, "samples.safetensors");
        RunFiles.SaveSamples(samplesPath, examples, result.Samples);
        foreach (var (example, i) in examples.Select((e, i) => (e, i)))
        {
            string png = Path.Combine(outDir, SafeFileName(example.Id) + ".png");
            RunPlots.SaveMelComparison(png, [(example.Id, example.Mel, result.Samples[i], example.MelDim, example.Frames)], evaluation.PromptFraction);
        }
        LogSampled(logger, RunPlots.Plural(examples.Length, "mel"), outDir, result.SampleL1, result.MuL1);
        output.WriteLine($"wrote {samplesPath} and {RunPlots.Plural(examples.Length, "PNG file")}; sample L1 {result.SampleL1:F4} (prompt frames excluded), mu L1 {result.MuL1:F4}");
        return 0;
    }

    /// <summary>Returns the output folder used without <c>--out</c>: <c>runs/samples-&lt;UTC time&gt;</c>, beside the training runs.</summary>
    internal static string DefaultOutputFolder(DateTime utcNow) =>
        Path.Combine("runs", "samples-" + utcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));

    /// <summary>Rejects a model whose mel, mu or speaker width differs from the corpus's, which would otherwise fail deep inside the model.</summary>
    internal static void CheckWidths(DiTConfig config, CorpusData corpus, string checkpoint, string corpusPath)
    {
        (string Name, int Model, int Corpus, string Unit)[] widths =
        [
            ("mel_dim", config.MelDim, corpus.MelDim, "mel bands"),
            ("mu_dim", config.MuDim, corpus.MuDim, "mu channels"),
            ("spk_dim", config.SpkDim, corpus.SpkDim, "speaker-embedding channels"),
        ];
        var mismatch = widths.FirstOrDefault(width => width.Model != width.Corpus);
        if (mismatch.Name is not null)
        {
            throw new ArgumentException(
                $"The model's {mismatch.Name} {mismatch.Model} does not match the corpus's {mismatch.Corpus} {mismatch.Unit}: " +
                $"'{checkpoint}' was trained on another corpus than '{corpusPath}'. Pass that corpus with --corpus.");
        }
    }

    private static string SafeFileName(string id) =>
        string.Concat(id.Select(ch => char.IsLetterOrDigit(ch) || ch is '-' or '_' or '.' ? ch : '_'));

    [LoggerMessage(Level = LogLevel.Information, Message = "Generated {Mels} into {Folder}; sample L1 {SampleL1:F4}, mu L1 {MuL1:F4}")]
    private static partial void LogSampled(ILogger logger, string mels, string folder, double sampleL1, double muL1);
}
