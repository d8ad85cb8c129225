using DiTNet.FlowMatching;

namespace DiTNet.Tests.FlowMatching;

public class FlowMatchingFixtureTests
{
    private static string Fixture(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", file);

    private static void AssertAllWithin(IReadOnlyList<FixtureComparison> results)
    {
        Assert.NotEmpty(results);
        foreach (var result in results)
        {
            Assert.True(result.Passed,
                $"{result.Name} [{string.Join(", ", result.Shape)}]: relative L2 error {result.RelativeError:E3} exceeds {result.Tolerance:E1}; " +
                $"largest absolute error {result.MaxAbsError:E3} at flat index {result.WorstIndex}.");
        }
    }

    [Fact]
    public void Replay_CfmLoss_MatchesLossAndGradients()
    {
        var results = FlowMatchingFixture.Replay(Fixture("cfm_loss.weights.safetensors"), Fixture("cfm_loss.io.safetensors"));

        Assert.Equal("loss", results[0].Name);
        Assert.True(results.Count > 40, $"only {results.Count} tensors compared.");
        AssertAllWithin(results);
    }

    [Fact]
    public void Replay_EulerCfg_MatchesSample()
    {
        var results = FlowMatchingFixture.Replay(Fixture("euler_cfg.weights.safetensors"), Fixture("euler_cfg.io.safetensors"));

        Assert.Equal("output", Assert.Single(results).Name);
        AssertAllWithin(results);
    }
}
