using DiTNet.Cli;
using DiTNet.IO;
using DiTNet.Tensors;
using DiTNet.Tests.IO;

namespace DiTNet.Tests.Cli;

public sealed class CheckCommandParityTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [MemberData(nameof(FixturePaths.ForwardBackwardCases), MemberType = typeof(FixturePaths))]
    public void Run_ForwardBackwardFixture_Passes(string caseName)
    {
        var output = new StringWriter();
        var error = new StringWriter();

        int exitCode = CheckCommand.Run([FixturePaths.Weights(caseName), FixturePaths.Io(caseName)], output, error);

        Assert.True(exitCode == 0, $"exit code {exitCode}\n{output}\n{error}");
        Assert.Contains("PASS", output.ToString());
    }

    [Theory]
    [MemberData(nameof(FixturePaths.ForwardBackwardCases), MemberType = typeof(FixturePaths))]
    public void RunFloat_ForwardBackwardFixture_ChecksEveryGradient(string caseName)
    {
        var report = DiTParityCheck.Run<float>(FixturePaths.Weights(caseName), FixturePaths.Io(caseName));

        using var recording = SafeTensorsFile.Open(FixturePaths.Io(caseName));
        int recordedGradients = recording.Names.Count(name => name.StartsWith("grad.", StringComparison.Ordinal));
        Assert.Equal(1 + recordedGradients, report.Comparisons.Count);
        Assert.Empty(report.Unchecked);
        Assert.Equal("output", report.Comparisons[0].Name);
        Assert.All(report.Comparisons, comparison => Assert.True(comparison.Passed,
            $"{comparison.Name}: relative error {comparison.RelativeError:E3} over {comparison.Tolerance:E0}"));
    }

    [Theory]
    [MemberData(nameof(FixturePaths.LossAndSampleCases), MemberType = typeof(FixturePaths))]
    public void Run_LossAndSampleFixtures_Pass(string caseName)
    {
        var output = new StringWriter();
        var error = new StringWriter();

        int exitCode = CheckCommand.Run([FixturePaths.Weights(caseName), FixturePaths.Io(caseName)], output, error);

        Assert.True(exitCode == 0, $"exit code {exitCode}\n{output}\n{error}");
        Assert.Contains("PASS", output.ToString());
    }

    [Fact]
    public void RunFloat_CfmLoss_ChecksLossAndEveryGradient()
    {
        var report = DiTParityCheck.Run<float>(FixturePaths.Weights("cfm_loss"), FixturePaths.Io("cfm_loss"));

        using var recording = SafeTensorsFile.Open(FixturePaths.Io("cfm_loss"));
        int recordedGradients = recording.Names.Count(name => name.StartsWith("grad.", StringComparison.Ordinal));
        Assert.Equal("loss", report.Comparisons[0].Name);
        Assert.Equal(1 + recordedGradients, report.Comparisons.Count);
        Assert.Empty(report.Unchecked);
        Assert.True(report.Passed);
    }

    [Fact]
    public void Run_AlteredLoss_ExitsOneNamingLoss()
    {
        string recording = CopyWithChange("cfm_loss", "loss", index: 0, delta: 1e-3f);
        var output = new StringWriter();

        int exitCode = CheckCommand.Run([FixturePaths.Weights("cfm_loss"), recording], output, new StringWriter());

        Assert.Equal(1, exitCode);
        Assert.Contains("over tolerance: loss", output.ToString());
    }

    [Fact]
    public void Run_AlteredSample_ExitsOneNamingOutput()
    {
        string recording = CopyWithChange("euler_cfg", "output", index: 100, delta: 0.05f);
        var output = new StringWriter();

        int exitCode = CheckCommand.Run([FixturePaths.Weights("euler_cfg"), recording], output, new StringWriter());

        Assert.Equal(1, exitCode);
        Assert.Contains("FAIL: the 1 tensor is over tolerance: output", output.ToString());
    }

    [Fact]
    public void Run_AlteredOutput_ExitsOneNamingOutput()
    {
        string recording = CopyWithChange("tiny_longskip", "output", index: 37, delta: 0.01f);
        var output = new StringWriter();

        int exitCode = CheckCommand.Run([FixturePaths.Weights("tiny_longskip"), recording], output, new StringWriter());

        string text = output.ToString();
        Assert.Equal(1, exitCode);
        Assert.Contains("FAIL: 1 of 49 tensors over tolerance: output", text);

        // index 37 of [2, 8, 20] is item 0, channel 1, frame 17
        Assert.Contains("[0, 1, 17]", text);
    }

    [Fact]
    public void Run_AlteredParameterGradient_ExitsOneNamingIt()
    {
        string recording = CopyWithChange("tiny_streaming", "grad.transformer_blocks.1.attn.to_v.weight", index: 5, delta: 0.5f);
        var output = new StringWriter();

        int exitCode = CheckCommand.Run([FixturePaths.Weights("tiny_streaming"), recording], output, new StringWriter());

        Assert.Equal(1, exitCode);
        Assert.Contains("over tolerance: grad.transformer_blocks.1.attn.to_v.weight", output.ToString());
    }

    [Fact]
    public void Run_Double_Passes()
    {
        var output = new StringWriter();

        int exitCode = CheckCommand.Run(["--double", FixturePaths.Weights("single_frame"), FixturePaths.Io("single_frame")], output, new StringWriter());

        Assert.Equal(0, exitCode);
        Assert.Contains("float64", output.ToString());
    }

    /// <summary>Copies a recording with one element of one tensor changed by <paramref name="delta"/>.</summary>
    private string CopyWithChange(string caseName, string tensorName, int index, float delta)
    {
        string path = _folder.File(caseName + ".altered.io.safetensors");
        using var source = SafeTensorsFile.Open(FixturePaths.Io(caseName));
        var writer = new SafeTensorsWriter();
        foreach (string name in source.Names)
        {
            var info = source.Info(name);
            if (name == tensorName)
            {
                Tensor<float> tensor = source.ReadTensor<float>(name);
                tensor[index] += delta;
                writer.Add(name, tensor);
            }
            else
            {
                writer.AddRaw(name, info.DType, info.Shape, source.ReadRawBytes(name));
            }
        }
        writer.Write(path, source.Metadata);
        return path;
    }
}
