using DiTNet.Cli;
using DiTNet.Tests.IO;

namespace DiTNet.Tests.Cli;

public sealed class CheckCommandTests
{
    [Theory]
    [InlineData("cfm_loss", "'cfm_loss'")]
    [InlineData("euler_cfg", "'euler_sample'")]
    public void Run_KindNotCheckable_ExitsTwoNamingKind(string caseName, string kind)
    {
        var output = new StringWriter();
        var error = new StringWriter();

        int exitCode = CheckCommand.Run([FixturePaths.Weights(caseName), FixturePaths.Io(caseName)], output, error);

        Assert.Equal(2, exitCode);
        Assert.Contains(kind, error.ToString());
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
