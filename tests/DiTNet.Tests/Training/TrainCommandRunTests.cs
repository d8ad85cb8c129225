using System.Text.Json;
using DiTNet.Cli;
using DiTNet.IO;
using DiTNet.Models;
using DiTNet.Tests.IO;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DiTNet.Tests.Training;

public sealed class TrainCommandRunTests : IDisposable
{
    private readonly TempFolder _folder = new();

    private static readonly string[] TinyRun =
    [
        "--dim", "32", "--depth", "1", "--heads", "2", "--dim-head", "16", "--batch-size", "2", "--segment-frames", "48",
        "--warmup", "2", "--held-out", "2", "--plot-count", "1", "--eval-every", "3", "--checkpoint-every", "0", "--threads", "1",
    ];

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Run_OutHoldingEarlierRun_RejectsUnlessOverwrite()
    {
        string run = _folder.File("run");
        Assert.Equal(0, TrainCommand.Run([.. TinyRun, "--steps", "2", "--out", run], new StringWriter(), NullLoggerFactory.Instance));
        byte[] firstCheckpoint = File.ReadAllBytes(Path.Combine(run, "checkpoint.safetensors"));

        var rejected = Assert.Throws<ArgumentException>(() =>
            TrainCommand.Run([.. TinyRun, "--steps", "3", "--out", run], new StringWriter(), NullLoggerFactory.Instance));

        Assert.Contains($"'{run}'", rejected.Message, StringComparison.Ordinal);
        Assert.Contains("checkpoint.safetensors", rejected.Message, StringComparison.Ordinal);
        Assert.Contains("--overwrite", rejected.Message, StringComparison.Ordinal);
        Assert.Equal(firstCheckpoint, File.ReadAllBytes(Path.Combine(run, "checkpoint.safetensors")));

        Assert.Equal(0, TrainCommand.Run([.. TinyRun, "--steps", "3", "--out", run, "--overwrite"], new StringWriter(), NullLoggerFactory.Instance));
        Assert.Equal(3, FinalStep(run));

        // resuming into the checkpoint's own folder continues that run there
        Assert.Equal(0, TrainCommand.Run(
            ["--resume", Path.Combine(run, "checkpoint.safetensors"), "--steps", "4", "--held-out", "1", "--plot-count", "0", "--threads", "1", "--out", run],
            new StringWriter(), NullLoggerFactory.Instance));
        Assert.Equal(4, FinalStep(run));
    }

    [Fact]
    public void Run_OutIsFile_NamesOption()
    {
        string file = _folder.File("not-a-folder");
        File.WriteAllText(file, "x");

        var rejected = Assert.Throws<ArgumentException>(() =>
            TrainCommand.Run([.. TinyRun, "--steps", "2", "--out", file], new StringWriter(), NullLoggerFactory.Instance));

        Assert.Contains($"--out: '{file}' is a file", rejected.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_ResumeWithModelOption_SaysItComesFromCheckpoint()
    {
        string run = _folder.File("run");
        Assert.Equal(0, TrainCommand.Run([.. TinyRun, "--steps", "2", "--out", run], new StringWriter(), NullLoggerFactory.Instance));

        var rejected = Assert.Throws<ArgumentException>(() => TrainCommand.Run(
            ["--resume", Path.Combine(run, "checkpoint.safetensors"), "--dim", "64"], new StringWriter(), NullLoggerFactory.Instance));

        Assert.Contains("Option --dim cannot be changed on --resume", rejected.Message, StringComparison.Ordinal);
        Assert.Contains("come from the checkpoint", rejected.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Unknown option", rejected.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_Interrupted_SavesCurrentStepAndReturns130()
    {
        string run = _folder.File("run");
        Directory.CreateDirectory(run);
        string stale = Path.Combine(run, ".checkpoint.safetensors.0123456789abcdef.tmp");
        File.WriteAllText(stale, "left by an interrupted save");
        using var interrupt = new CancellationTokenSource();
        var logs = new CollectingLoggerProvider(line =>
        {
            // the trainer logs each finished step at Debug level
            if (line.StartsWith("Step 3:", StringComparison.Ordinal))
            {
                interrupt.Cancel();
            }
        });
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));

        int exitCode = TrainCommand.Run([.. TinyRun, "--steps", "10", "--out", run], new StringWriter(), loggerFactory, new StringWriter(), interrupt.Token);

        Assert.Equal(Program.InterruptedExitCode, exitCode);
        Assert.False(File.Exists(stale), "The stale temporary file of an earlier save should be deleted.");
        var state = RunFiles.LoadTrainingState(Path.Combine(run, "checkpoint.safetensors"));
        Assert.Equal("3", state.Metadata["training.step"]);
        Assert.Contains(logs.Lines, line => line.Contains("Interrupted: checkpoint of step 3 saved to", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(run, "metrics.json")), "An interrupted run skips the final evaluation.");

        Assert.Equal(0, TrainCommand.Run(
            ["--resume", Path.Combine(run, "checkpoint.safetensors"), "--held-out", "1", "--plot-count", "0", "--threads", "1", "--out", run],
            new StringWriter(), NullLoggerFactory.Instance));
        Assert.Equal(10, FinalStep(run));
    }

    [Fact]
    public void Run_DefaultLength_HasNoTimeBudget()
    {
        string run = _folder.File("run");

        Assert.Equal(0, TrainCommand.Run([.. TinyRun, "--steps", "4", "--out", run], new StringWriter(), NullLoggerFactory.Instance));

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "metrics.json")));
        Assert.Equal(0.0, metrics.RootElement.GetProperty("time_budget_minutes").GetDouble());
        Assert.False(metrics.RootElement.GetProperty("stopped_by_time_budget").GetBoolean());
        Assert.Equal(4, metrics.RootElement.GetProperty("settings").GetProperty("steps").GetInt32());
    }

    [Fact]
    public void Run_TimeBudgetSpent_ReportsEarlyStop()
    {
        string run = _folder.File("run");
        var logs = new CollectingLoggerProvider(_ => { });
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        var output = new StringWriter();

        // a budget of 6 ms runs out within the first steps
        int exitCode = TrainCommand.Run([.. TinyRun, "--steps", "400", "--minutes", "0.0001", "--out", run], output, loggerFactory, new StringWriter(), default);

        Assert.Equal(0, exitCode);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "metrics.json")));
        var root = metrics.RootElement;
        long finalStep = root.GetProperty("final_step").GetInt64();
        Assert.True(root.GetProperty("stopped_by_time_budget").GetBoolean());
        Assert.True(finalStep < 400, $"The run should stop early, stopped at {finalStep}.");
        var curve = root.GetProperty("held_out_loss");
        Assert.Equal(finalStep, (long)curve[curve.GetArrayLength() - 1][0].GetDouble());
        Assert.Contains(logs.Lines, line => line.Contains($"Stopped at step {finalStep} of 400: the time budget of --minutes", StringComparison.Ordinal));
        Assert.Contains("stopped by the --minutes time budget", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_ThroughProgram_LogsToErrorWithoutEventIds()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        int exitCode = Program.Run(["train", .. TinyRun, "--steps", "2", "--out", _folder.File("run")], output, error);

        Assert.Equal(0, exitCode);
        Assert.Contains("info: Training on", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("ditnet.train[", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("info:", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("flow-matching loss", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void PickPlotRows_RepeatedSpeakers_TakesFirstOfEach()
    {
        Assert.Equal([0, 3, 5, 6], TrainCommand.PickPlotRows([0, 0, 0, 1, 1, 2, 3, 3], 4));
        Assert.Equal([0, 2, 1], TrainCommand.PickPlotRows([5, 5, 7], 4));
        Assert.Empty(TrainCommand.PickPlotRows([0, 1], 0));
    }

    [Fact]
    public void HeldOutLegend_SubsetAndAll_SaysWhichUtterances()
    {
        Assert.Equal("held-out (first 8 of 32 utterances, fixed draws)", RunPlots.HeldOutLegend(8, 32));
        Assert.Equal("held-out (1 utterance, fixed draws)", RunPlots.HeldOutLegend(1, 1));
    }

    [Fact]
    public void SaveModel_MissingFolder_NamesFile()
    {
        string path = _folder.File(Path.Combine("missing", "model.safetensors"));
        var model = new DiT<float>(new DiTConfig(32, 1, 2, 16, 2, 8, 8, 8, true));

        var failure = Assert.ThrowsAny<IOException>(() => RunFiles.SaveModel(path, model));

        Assert.StartsWith($"Could not write '{path}'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("no earlier version of it existed", failure.Message, StringComparison.Ordinal);
    }

    private static long FinalStep(string run)
    {
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "metrics.json")));
        return metrics.RootElement.GetProperty("final_step").GetInt64();
    }

    private sealed class CollectingLoggerProvider(Action<string> onLine) : ILoggerProvider, ILogger
    {
        private readonly List<string> _lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lines)
                {
                    return _lines.ToArray();
                }
            }
        }

        public ILogger CreateLogger(string categoryName) => this;

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string line = formatter(state, exception);
            lock (_lines)
            {
                _lines.Add(line);
            }
            onLine(line);
        }
    }
}
