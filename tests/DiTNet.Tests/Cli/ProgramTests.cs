using DiTNet.Cli;
using DiTNet.IO;
using DiTNet.Models;
using DiTNet.Tests.IO;

namespace DiTNet.Tests.Cli;

public sealed class ProgramTests
{
    public static TheoryData<string[]> DirectoryArguments => new()
    {
        { ["info", "{dir}"] },
        { ["check", "{dir}", "{dir}"] },
        { ["sample", "--checkpoint", "{dir}"] },
        { ["train", "--resume", "{dir}"] },
        { ["train", "--corpus", "{dir}"] },
    };

    [Theory]
    [MemberData(nameof(DirectoryArguments))]
    public void Run_DirectoryForFile_ExitsTwoSayingDirectory(string[] args)
    {
        using var folder = new TempFolder();
        var output = new StringWriter();
        var error = new StringWriter();

        int exitCode = Program.Run(args.Select(arg => arg.Replace("{dir}", folder.Path, StringComparison.Ordinal)).ToArray(), output, error);

        Assert.Equal(2, exitCode);
        Assert.Contains($"'{folder.Path}' is a directory, not a safetensors file", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("not found", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_MissingResumeFile_NamesOptionAndPath()
    {
        var error = new StringWriter();

        int exitCode = Program.Run(["train", "--resume", "/nonexistent/run/checkpoint.safetensors"], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains("--resume: file '/nonexistent/run/checkpoint.safetensors' not found", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Could not find a part of the path", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void UserMessage_ArgumentExceptionWithParameter_DropsSuffix()
    {
        var failure = new ArgumentException("The training state has no metadata entry 'x'.", "key");

        Assert.Equal("The training state has no metadata entry 'x'.", Program.UserMessage(failure));
    }

    [Fact]
    public void UserMessage_PermissionDenied_IsUserErrorSayingSo()
    {
        var failure = new UnauthorizedAccessException("Access to the path '/root/run' is denied.");

        Assert.True(Program.IsUserError(failure));
        Assert.Equal("permission denied: Access to the path '/root/run' is denied.", Program.UserMessage(failure));
    }

    [Fact]
    public void Run_Version_PrintsInformationalVersion()
    {
        var output = new StringWriter();

        int exitCode = Program.Run(["--version"], output, new StringWriter());

        Assert.Equal(0, exitCode);
        Assert.Equal($"ditnet {Program.Version}", output.ToString().Trim());
        Assert.Matches(@"^\d+\.\d+\.\d+", Program.Version);
    }

    [Fact]
    public void Run_CheckMismatchedPair_SaysFilesAreNoPair()
    {
        var error = new StringWriter();

        int exitCode = Program.Run(
            ["check", FixturePaths.Weights("tiny_longskip"), FixturePaths.Io("cfm_loss")], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains("the config recorded in", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("probably not a pair", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_CheckWrongPrefix_ListsMissingNamesWithPrefix()
    {
        var error = new StringWriter();

        int exitCode = Program.Run(
            ["check", FixturePaths.Weights("tiny_longskip"), FixturePaths.Io("tiny_longskip"), "--prefix", "decoder.estimator."],
            new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains("missing: decoder.estimator.time_embed.time_mlp.0.weight [64, 256]", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void WriteTable_OneTensor_UsesSingular()
    {
        var comparison = new TensorComparison("loss", [], 0, 0, 0, 1.0, 1.0, 1e-5);
        var report = new DiTParityReport("cfm_loss", TinyConfig(8), false, [comparison], []);
        var output = new StringWriter();

        CheckCommand.WriteTable(report, output);

        Assert.Contains("PASS: the 1 tensor is within tolerance.", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("1 tensors", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Plural_OneAndTwo_AddsSOnlyForTwo()
    {
        Assert.Equal("1 mel", RunPlots.Plural(1, "mel"));
        Assert.Equal("2 PNG files", RunPlots.Plural(2, "PNG file"));
        Assert.Equal("0 tensors", RunPlots.Plural(0, "tensor"));
    }

    [Fact]
    public void SampleDefaultOutput_IsUnderRuns()
    {
        string folder = SampleCommand.DefaultOutputFolder(new DateTime(2026, 12, 4, 21, 5, 9, DateTimeKind.Utc));

        Assert.Equal(Path.Combine("runs", "samples-20261204-210509"), folder);
    }

    [Fact]
    public void Run_SampleHelp_NamesDefaultFolder()
    {
        var output = new StringWriter();

        int exitCode = Program.Run(["sample", "--help"], output, new StringWriter());

        Assert.Equal(0, exitCode);
        Assert.Contains("(default: runs/samples-<UTC time>)", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_SampleWithOtherMelWidth_NamesBothWidths()
    {
        using var folder = new TempFolder();
        string weights = folder.File("mel8.safetensors");
        var model = new DiT<float>(TinyConfig(8));
        model.Initialize(1);
        DiTCheckpoint.Save(model, weights);
        var error = new StringWriter();

        int exitCode = Program.Run(["sample", "--checkpoint", weights, "--held-out", "1", "--out", folder.File("out")], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains("the model's mel_dim 8 does not match the corpus's 80 mel bands", error.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.False(Directory.Exists(folder.File("out")), "Nothing should be written before the widths are checked.");
    }

    [Fact]
    public void Run_SampleOutIsFile_NamesOption()
    {
        using var folder = new TempFolder();
        string weights = folder.File("model.safetensors");
        var model = new DiT<float>(TinyConfig(80));
        model.Initialize(1);
        DiTCheckpoint.Save(model, weights);
        string file = folder.File("taken");
        File.WriteAllText(file, "x");
        var error = new StringWriter();

        int exitCode = Program.Run(["sample", "--checkpoint", weights, "--held-out", "1", "--out", file], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains($"--out: '{file}' is a file", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("already exists", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_ResumeModelWeights_PointsToCheckpoint()
    {
        using var folder = new TempFolder();
        string weights = folder.File("model.safetensors");
        var model = new DiT<float>(TinyConfig(80));
        model.Initialize(1);
        DiTCheckpoint.Save(model, weights);
        var error = new StringWriter();

        int exitCode = Program.Run(["train", "--resume", weights, "--out", folder.File("out")], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains("not a DiTNet training checkpoint", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("checkpoint.safetensors", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--guidance", "-1", "must be a finite number ≥ 0, got '-1'")]
    [InlineData("--minutes", "inf", "must be a finite number ≥ 0, got 'inf'")]
    [InlineData("--steps", "0", "must be an integer ≥ 1, got '0'")]
    [InlineData("--dim", "40", "Option --dim must be a positive multiple of 16")]
    [InlineData("--dim-head", "15", "Option --dim-head must be an even number")]
    public void Run_InvalidTrainOption_NamesOptionAndBound(string option, string value, string expected)
    {
        var error = new StringWriter();

        int exitCode = Program.Run(["train", option, value], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("E+308", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_TrainHelp_StatesNoTimeLimitByDefault()
    {
        var output = new StringWriter();

        int exitCode = Program.Run(["train", "--help"], output, new StringWriter());

        string help = output.ToString();
        Assert.Equal(0, exitCode);
        Assert.Contains("0 for none (default 0)", help, StringComparison.Ordinal);
        Assert.Contains("--overwrite", help, StringComparison.Ordinal);
        // the description is one filled paragraph, so only its last line may end short
        string[] paragraph = help.Replace("\r", "", StringComparison.Ordinal).Split("\n\n")[1].Split('\n');
        Assert.All(paragraph[..^1], line => Assert.True(line.Trim().Length >= 80, $"Line ends early: '{line.Trim()}'"));
    }

    private static DiTConfig TinyConfig(int melDim) => new(32, 1, 2, 16, 2, melDim, melDim, melDim, true, 0, 0.0);
}
