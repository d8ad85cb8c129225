using System.Text.Json;
using DiTNet.Cli;
using DiTNet.IO;
using Microsoft.Extensions.Logging.Abstractions;

namespace DiTNet.Tests.Training;

public sealed class TrainCommandTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "ditnet-train-" + Guid.NewGuid().ToString("N"));

    private static readonly string[] TinyRun =
    [
        "--dim", "32", "--depth", "1", "--heads", "2", "--dim-head", "16", "--batch-size", "2", "--segment-frames", "48",
        "--warmup", "2", "--held-out", "2", "--plot-count", "1", "--eval-every", "3", "--checkpoint-every", "0",
        "--minutes", "0", "--threads", "1",
    ];

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public void Run_TinyModel_WritesRunFolderResumesAndSamples()
    {
        string run = Path.Combine(_folder, "run");
        int exitCode = TrainCommand.Run([.. TinyRun, "--steps", "6", "--out", run], new StringWriter(), NullLoggerFactory.Instance);

        Assert.Equal(0, exitCode);
        foreach (string file in new[] { "checkpoint.safetensors", "model.safetensors", "metrics.json", "loss.png", "mels.png" })
        {
            Assert.True(File.Exists(Path.Combine(run, file)), $"{file} is missing from the run folder.");
        }
        using (var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "metrics.json"))))
        {
            var root = metrics.RootElement;
            Assert.Equal(6, root.GetProperty("final_step").GetInt64());
            Assert.Equal(6, root.GetProperty("training_loss").GetArrayLength());
            Assert.Equal(3, root.GetProperty("held_out_loss").GetArrayLength());
            Assert.Equal(80, root.GetProperty("trained").GetProperty("detail_ratio").GetArrayLength());
            Assert.True(root.GetProperty("untrained").GetProperty("flow_matching_loss").GetDouble() > 0);
        }
        using (var weights = SafeTensorsFile.Open(Path.Combine(run, "model.safetensors")))
        {
            Assert.Equal(32, DiTCheckpoint.ReadConfig(weights).Dim);
        }

        var changed = Assert.Throws<ArgumentException>(() => TrainCommand.Run(
            ["--resume", Path.Combine(run, "checkpoint.safetensors"), "--lr", "0.1", "--out", Path.Combine(_folder, "changed")],
            new StringWriter(), NullLoggerFactory.Instance));
        Assert.Contains("--lr", changed.Message, StringComparison.Ordinal);

        string resumed = Path.Combine(_folder, "resumed");
        exitCode = TrainCommand.Run(
            ["--resume", Path.Combine(run, "checkpoint.safetensors"), "--steps", "8", "--held-out", "1", "--plot-count", "0",
             "--minutes", "0", "--threads", "1", "--out", resumed],
            new StringWriter(), NullLoggerFactory.Instance);

        Assert.Equal(0, exitCode);
        using (var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(resumed, "metrics.json"))))
        {
            Assert.Equal(8, metrics.RootElement.GetProperty("final_step").GetInt64());
            Assert.Equal(2, metrics.RootElement.GetProperty("steps_this_run").GetInt64());
        }

        string samples = Path.Combine(_folder, "samples");
        exitCode = SampleCommand.Run(
            ["--checkpoint", Path.Combine(resumed, "checkpoint.safetensors"), "--held-out", "1", "--threads", "1", "--out", samples],
            new StringWriter(), NullLoggerFactory.Instance);

        Assert.Equal(0, exitCode);
        using var sampleFile = SafeTensorsFile.Open(Path.Combine(samples, "samples.safetensors"));
        string name = Assert.Single(sampleFile.Names);
        Assert.Equal(80, sampleFile.Info(name).Shape[0]);
        Assert.True(File.Exists(Path.Combine(samples, name + ".png")), $"{name}.png is missing.");
    }

    [Fact]
    public void Run_UnknownOption_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            TrainCommand.Run(["--stpes", "5"], new StringWriter(), NullLoggerFactory.Instance));

        Assert.Contains("--stpes", error.Message, StringComparison.Ordinal);
    }
}
