using DiTNet.IO;

namespace DiTNet.Tests.FlowMatching;

public class FlowMatchingFixtureTests
{
    private static string Fixture(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", file);

    private static void AssertAllWithin(DiTParityReport report)
    {
        Assert.NotEmpty(report.Comparisons);
        foreach (var comparison in report.Comparisons)
        {
            Assert.True(comparison.Passed,
                $"{comparison.Name} [{string.Join(", ", comparison.Shape)}]: relative L2 error {comparison.RelativeError:E3} exceeds {comparison.Tolerance:E1}; " +
                $"largest absolute error {comparison.MaxAbsError:E3} at {comparison.MaxAbsCoordinates}, expected {comparison.Expected:G6}, actual {comparison.Actual:G6}.");
        }
    }

    [Fact]
    public void LossAndBackward_CfmLossFixture_MatchesLossAndEveryGradient()
    {
        var report = DiTParityCheck.Run<float>(Fixture("cfm_loss.weights.safetensors"), Fixture("cfm_loss.io.safetensors"));

        Assert.Equal("loss", report.Comparisons[0].Name);
        Assert.Equal(1e-5, report.Comparisons[0].Tolerance);
        Assert.Empty(report.Unchecked);
        Assert.All(report.Comparisons.Skip(1), comparison => Assert.Equal(1e-4, comparison.Tolerance));
        Assert.True(report.Comparisons.Count > 40, $"only {report.Comparisons.Count} tensors compared.");
        AssertAllWithin(report);
    }

    [Fact]
    public void Sample_EulerCfgFixture_MatchesOutput()
    {
        var report = DiTParityCheck.Run<float>(Fixture("euler_cfg.weights.safetensors"), Fixture("euler_cfg.io.safetensors"));

        var output = Assert.Single(report.Comparisons);
        Assert.Equal("output", output.Name);
        Assert.Equal(1e-5, output.Tolerance);
        AssertAllWithin(report);
    }
}
