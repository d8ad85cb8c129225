using DiTNet.Cli;
using DiTNet.IO;
using DiTNet.Tests.IO;

namespace DiTNet.Tests.Cli;

public sealed class CheckCommandTests
{
    [Fact]
    public void Run_UnknownKind_ExitsTwoNamingKind()
    {
        using var folder = new TempFolder();
        string recording = folder.File("unknown-kind.io.safetensors");
        using (var source = SafeTensorsFile.Open(FixturePaths.Io("single_frame")))
        {
            var writer = new SafeTensorsWriter();
            foreach (string name in source.Names)
            {
                writer.AddRaw(name, source.Info(name).DType, source.Info(name).Shape, source.ReadRawBytes(name));
            }
            string config = source.Metadata["config"].Replace("\"forward_backward\"", "\"onnx_export\"", StringComparison.Ordinal);
            writer.Write(recording, new Dictionary<string, string> { ["config"] = config });
        }
        var output = new StringWriter();
        var error = new StringWriter();

        int exitCode = CheckCommand.Run([FixturePaths.Weights("single_frame"), recording], output, error);

        Assert.Equal(2, exitCode);
        Assert.Contains("'onnx_export'", error.ToString());
        Assert.Contains("cannot be checked yet", error.ToString());
        Assert.DoesNotContain("PASS", output.ToString());
    }

    [Fact]
    public void Run_OneFile_ExitsTwoWithUsage()
    {
        var error = new StringWriter();

        int exitCode = CheckCommand.Run([FixturePaths.Weights("tiny_longskip")], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains("usage: ditnet check", error.ToString());
    }

    [Fact]
    public void Run_MissingFile_ExitsTwo()
    {
        var error = new StringWriter();

        int exitCode = CheckCommand.Run(["/nonexistent/w.safetensors", FixturePaths.Io("tiny_longskip")], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains("ditnet check:", error.ToString());
    }

    [Fact]
    public void Run_WeightsAsRecording_ExitsTwoSayingNoConfig()
    {
        var error = new StringWriter();

        int exitCode = CheckCommand.Run([FixturePaths.Weights("tiny_longskip"), FixturePaths.Weights("tiny_longskip")], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains("'config'", error.ToString());
    }
}
