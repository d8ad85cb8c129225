using System.Globalization;
using DiTNet.Cli;
using DiTNet.IO;
using DiTNet.Tensors;
using DiTNet.Tests.IO;

namespace DiTNet.Tests.Cli;

public sealed class InfoCommandTests
{
    [Fact]
    public void Run_FixtureWeights_PrintsConfigCountAndTensors()
    {
        var output = new StringWriter();

        int exitCode = InfoCommand.Run([FixturePaths.Weights("tiny_streaming"), "--chunk-size", "6"], output, new StringWriter());

        string text = output.ToString();
        Assert.Equal(0, exitCode);
        Assert.Contains("dim 64, depth 2, heads 4, dim_head 16, ff_mult 2, mel_dim 8, mu_dim 8, spk_dim 8", text);
        Assert.Contains("long_skip_connection false, static_chunk_size 6", text);
        Assert.Contains("mu_dim = spk_dim = mel_dim = 8", text);
        Assert.Contains("proj_out.weight", text);
        Assert.Contains("[8, 64]", text);
        Assert.Contains("metadata: none", text);
        Assert.Contains("parameters: " + ExpectedParameterCount(FixturePaths.Weights("tiny_streaming")).ToString("N0", CultureInfo.InvariantCulture), text);
    }

    [Fact]
    public void Run_UnevenCondition_PrintsReasonAndTensors()
    {
        var output = new StringWriter();

        int exitCode = InfoCommand.Run([FixturePaths.Weights("tiny_longskip_streaming")], output, new StringWriter());

        Assert.Equal(0, exitCode);
        Assert.Contains("config: not available", output.ToString());
        Assert.Contains("mu_dim or spk_dim", output.ToString());
        Assert.Contains("transformer_blocks.2.ff.ff.2.weight", output.ToString());
    }

    [Fact]
    public void Run_UnevenConditionWithSpkDim_PrintsConfig()
    {
        var output = new StringWriter();

        int exitCode = InfoCommand.Run([FixturePaths.Weights("tiny_longskip_streaming"), "--spk-dim", "3"], output, new StringWriter());

        Assert.Equal(0, exitCode);
        Assert.Contains("mel_dim 6, mu_dim 5, spk_dim 3", output.ToString());
    }

    [Fact]
    public void Run_IoFile_PrintsMetadataConfig()
    {
        var output = new StringWriter();

        int exitCode = InfoCommand.Run([FixturePaths.Io("single_frame")], output, new StringWriter());

        Assert.Equal(0, exitCode);
        Assert.Contains("\"kind\": \"forward_backward\"", output.ToString());
    }

    [Fact]
    public void Run_CorruptFile_ExitsTwo()
    {
        using var folder = new TempFolder();
        string path = folder.File("bad.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var error = new StringWriter();

        int exitCode = InfoCommand.Run([path], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains("fewer than the 8-byte header length", error.ToString());
    }

    [Fact]
    public void Run_PrefixedFile_DetectsPrefix()
    {
        using var folder = new TempFolder();
        string path = folder.File("flow.safetensors");
        using (var source = SafeTensorsFile.Open(FixturePaths.Weights("single_frame")))
        {
            var writer = new SafeTensorsWriter();
            foreach (string name in source.Names)
            {
                writer.Add(DiTCheckpoint.CosyVoicePrefix + name, source.ReadTensor<float>(name));
            }
            writer.Add("encoder.embed.weight", new Tensor<float>(3, 4));
            writer.Write(path);
        }
        var output = new StringWriter();

        int exitCode = InfoCommand.Run([path], output, new StringWriter());

        Assert.Equal(0, exitCode);
        Assert.Contains("DiT under prefix 'decoder.estimator.'", output.ToString());
        Assert.Contains("parameters: " + ExpectedParameterCount(FixturePaths.Weights("single_frame")).ToString("N0", CultureInfo.InvariantCulture), output.ToString());
    }

    private static long ExpectedParameterCount(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        return file.Names.Where(name => name != "rotary_embed.inv_freq").Sum(name => file.Info(name).ElementCount);
    }
}
