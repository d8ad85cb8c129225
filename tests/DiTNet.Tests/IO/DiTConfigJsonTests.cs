using DiTNet.IO;
using DiTNet.Models;

namespace DiTNet.Tests.IO;

public sealed class DiTConfigJsonTests
{
    [Fact]
    public void ParseDocument_FixtureConfig_ReadsEveryField()
    {
        using var io = SafeTensorsFile.Open(FixturePaths.Io("tiny_longskip_streaming"));

        var document = DiTConfigJson.ParseDocument(io.Metadata["config"]);

        Assert.Equal(new DiTConfig(32, 3, 2, 16, 4, 6, 5, 3, true, StaticChunkSize: 5), document.Config);
        Assert.Equal("forward_backward", document.Kind);
        Assert.True(document.Streaming);
        Assert.Equal([17, 9, 12], document.Lengths!);
        Assert.StartsWith("FunAudioLLM", document.GetString("reference"));
    }

    [Fact]
    public void ParseDocument_EulerConfig_KeepsSamplerSettings()
    {
        using var io = SafeTensorsFile.Open(FixturePaths.Io("euler_cfg"));

        var document = DiTConfigJson.ParseDocument(io.Metadata["config"]);

        Assert.Equal("euler_sample", document.Kind);
        Assert.False(document.Streaming);
        Assert.Equal(10, document.GetDouble("n_timesteps"));
        Assert.Equal(0.7, document.GetDouble("inference_cfg_rate"));
        Assert.Equal("cosine", document.GetString("t_scheduler"));
        Assert.Null(document.GetDouble("absent"));
    }

    [Fact]
    public void ToJson_Config_ParsesBackEqual()
    {
        var config = DiTConfig.CosyVoice3 with { MuDim = 64, LongSkipConnection = true };

        string json = DiTConfigJson.ToJson(config, new Dictionary<string, object> { ["kind"] = "checkpoint", ["step"] = 12 });
        var document = DiTConfigJson.ParseDocument(json);

        Assert.Equal(config, document.Config);
        Assert.Equal("checkpoint", document.Kind);
        Assert.Equal(12, document.GetDouble("step"));
    }

    [Theory]
    [InlineData("""{"dim": 32}""", "'depth' is missing")]
    [InlineData("""{"dim": "32", "depth": 1}""", "'dim'")]
    [InlineData("""[1]""", "not an object")]
    [InlineData("""{"dim": 32,""", "not valid JSON")]
    public void Parse_InvalidConfig_ThrowsNamingEntry(string json, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => DiTConfigJson.Parse(json));

        Assert.Contains(expected, error.Message);
    }
}
