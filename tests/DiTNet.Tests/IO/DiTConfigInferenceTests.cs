using DiTNet.IO;
using DiTNet.Models;

namespace DiTNet.Tests.IO;

public sealed class DiTConfigInferenceTests
{
    [Theory]
    [MemberData(nameof(FixturePaths.AllModelCases), MemberType = typeof(FixturePaths))]
    public void Infer_FixtureWeights_MatchesRecordedConfig(string caseName)
    {
        using var io = SafeTensorsFile.Open(FixturePaths.Io(caseName));
        var recorded = DiTConfigJson.Parse(io.Metadata["config"]);
        using var weights = SafeTensorsFile.Open(FixturePaths.Weights(caseName));

        // the weights cannot record the chunk size, so it is passed; the U/S split is passed only where it is not 4M
        var hints = new DiTConfigHints(
            MuDim: recorded.MuDim == recorded.MelDim && recorded.SpkDim == recorded.MelDim ? null : recorded.MuDim,
            StaticChunkSize: recorded.StaticChunkSize);
        var inferred = DiTConfigInference.Infer(weights, hints: hints);

        Assert.Equal(recorded, inferred);
    }

    [Fact]
    public void Infer_UnevenConditionWithoutHints_ThrowsAskingForSplit()
    {
        // tiny_longskip_streaming has M = 6, U = 5, S = 3, so 2M + U + S = 20 is not 4M
        using var weights = SafeTensorsFile.Open(FixturePaths.Weights("tiny_longskip_streaming"));

        var error = Assert.Throws<InvalidDataException>(() => DiTConfigInference.Infer(weights));

        Assert.Contains("mu_dim", error.Message);
        Assert.Contains("8 inputs", error.Message);
    }

    [Fact]
    public void Infer_SpkDimHintOnly_DerivesMuDim()
    {
        using var weights = SafeTensorsFile.Open(FixturePaths.Weights("tiny_longskip_streaming"));

        var config = DiTConfigInference.Infer(weights, hints: new DiTConfigHints(SpkDim: 3));

        Assert.Equal(5, config.MuDim);
        Assert.Equal(3, config.SpkDim);
        Assert.Equal(0, config.StaticChunkSize);
        Assert.Equal(0.0, config.Dropout);
    }

    [Fact]
    public void Infer_CosyVoice3Shapes_TakesPresetChunkSizeAndDropout()
    {
        var preset = DiTConfig.CosyVoice3;
        var shapes = ShapesOf(preset);

        var inferred = DiTConfigInference.Infer(shapes);

        Assert.Equal(preset, inferred);
    }

    [Fact]
    public void Infer_InnerWidthDifferentFromDim_ReadsHeadsFromQuery()
    {
        var config = new DiTConfig(Dim: 48, Depth: 3, Heads: 5, DimHead: 8, FFMult: 3, MelDim: 4, MuDim: 4, SpkDim: 4, LongSkipConnection: false);

        var inferred = DiTConfigInference.Infer(ShapesOf(config));

        Assert.Equal(config, inferred);
    }

    [Fact]
    public void Infer_MissingRotaryFrequencies_ThrowsNamingTensor()
    {
        var shapes = ShapesOf(DiTConfig.CosyVoice3);
        shapes.Remove("rotary_embed.inv_freq");

        var error = Assert.Throws<InvalidDataException>(() => DiTConfigInference.Infer(shapes));

        Assert.Contains("rotary_embed.inv_freq", error.Message);
    }

    [Fact]
    public void Infer_GapInBlocks_Throws()
    {
        var shapes = ShapesOf(new DiTConfig(32, 3, 2, 16, 2, 8, 8, 8, false));
        foreach (string name in shapes.Keys.Where(n => n.StartsWith("transformer_blocks.1.", StringComparison.Ordinal)).ToList())
        {
            shapes.Remove(name);
        }

        var error = Assert.Throws<InvalidDataException>(() => DiTConfigInference.Infer(shapes));

        Assert.Contains("0, 2", error.Message);
    }

    [Fact]
    public void Infer_PrefixedFile_UsesPrefix()
    {
        using var folder = new TempFolder();
        string path = folder.File("prefixed.safetensors");
        using (var source = SafeTensorsFile.Open(FixturePaths.Weights("tiny_longskip")))
        {
            var writer = new SafeTensorsWriter();
            foreach (string name in source.Names)
            {
                writer.Add(DiTCheckpoint.CosyVoicePrefix + name, source.ReadTensor<float>(name));
            }
            writer.Write(path);
        }
        using var file = SafeTensorsFile.Open(path);

        var config = DiTConfigInference.Infer(file, DiTCheckpoint.CosyVoicePrefix);

        Assert.Equal(DiTCheckpoint.CosyVoicePrefix, DiTCheckpoint.DetectPrefix(file));
        Assert.Equal(64, config.Dim);
        Assert.Equal(2, config.Depth);
        Assert.Equal(4, config.Heads);
        Assert.True(config.LongSkipConnection);
    }

    [Fact]
    public void DetectPrefix_FixtureWithoutPrefix_ReturnsEmpty()
    {
        using var file = SafeTensorsFile.Open(FixturePaths.Weights("tiny_streaming"));

        Assert.Equal("", DiTCheckpoint.DetectPrefix(file));
    }

    [Fact]
    public void DetectPrefix_NoDiT_ThrowsNamingFile()
    {
        using var file = SafeTensorsFile.Open(FixturePaths.Folder + "/mel_frontend.safetensors");

        var error = Assert.Throws<InvalidDataException>(() => DiTCheckpoint.DetectPrefix(file));

        Assert.Contains("mel_frontend", error.Message);
    }

    /// <summary>Builds the state dict shapes of a config, as the CosyVoice DiT names them.</summary>
    internal static Dictionary<string, int[]> ShapesOf(DiTConfig config)
    {
        int d = config.Dim, inner = config.InnerDim;
        var shapes = new Dictionary<string, int[]>
        {
            ["time_embed.time_mlp.0.weight"] = [d, 256],
            ["time_embed.time_mlp.0.bias"] = [d],
            ["time_embed.time_mlp.2.weight"] = [d, d],
            ["time_embed.time_mlp.2.bias"] = [d],
            ["input_embed.proj.weight"] = [d, config.InputDim],
            ["input_embed.proj.bias"] = [d],
            ["input_embed.conv_pos_embed.conv1.0.weight"] = [d, d / 16, 31],
            ["input_embed.conv_pos_embed.conv1.0.bias"] = [d],
            ["input_embed.conv_pos_embed.conv2.0.weight"] = [d, d / 16, 31],
            ["input_embed.conv_pos_embed.conv2.0.bias"] = [d],
            ["rotary_embed.inv_freq"] = [config.DimHead / 2],
            ["norm_out.linear.weight"] = [2 * d, d],
            ["norm_out.linear.bias"] = [2 * d],
            ["proj_out.weight"] = [config.MelDim, d],
            ["proj_out.bias"] = [config.MelDim],
        };
        if (config.LongSkipConnection)
        {
            shapes["long_skip_connection.weight"] = [d, 2 * d];
        }
        for (int i = 0; i < config.Depth; i++)
        {
            string block = $"transformer_blocks.{i}.";
            shapes[block + "attn_norm.linear.weight"] = [6 * d, d];
            shapes[block + "attn_norm.linear.bias"] = [6 * d];
            foreach (string projection in new[] { "to_q", "to_k", "to_v" })
            {
                shapes[block + $"attn.{projection}.weight"] = [inner, d];
                shapes[block + $"attn.{projection}.bias"] = [inner];
            }
            shapes[block + "attn.to_out.0.weight"] = [d, inner];
            shapes[block + "attn.to_out.0.bias"] = [d];
            shapes[block + "ff.ff.0.0.weight"] = [config.FFDim, d];
            shapes[block + "ff.ff.0.0.bias"] = [config.FFDim];
            shapes[block + "ff.ff.2.weight"] = [d, config.FFDim];
            shapes[block + "ff.ff.2.bias"] = [d];
        }
        return shapes;
    }
}
