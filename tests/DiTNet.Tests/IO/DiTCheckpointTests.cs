using DiTNet.IO;
using DiTNet.Models;
using DiTNet.Tensors;

namespace DiTNet.Tests.IO;

public sealed class DiTCheckpointTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Load_FixtureWithHints_CopiesEveryTensor()
    {
        string path = FixturePaths.Weights("tiny_longskip");

        var model = DiTCheckpoint.Load<float>(path, hints: new DiTConfigHints(StaticChunkSize: 8));

        Assert.Equal(new DiTConfig(64, 2, 4, 16, 2, 8, 8, 8, true, StaticChunkSize: 8), model.Config);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(file.Names.Count, model.Parameters.Count());
        foreach (var parameter in model.Parameters)
        {
            Assert.Equal(file.ReadTensor<float>(parameter.Name).ToArray(), parameter.Value.ToArray());
        }
    }

    [Fact]
    public void SaveThenLoad_WithPrefix_RestoresConfigAndValues()
    {
        var model = new DiT<double>(new DiTConfig(32, 2, 2, 16, 3, 6, 5, 3, true, StaticChunkSize: 4, Dropout: 0.25));
        model.Initialize(seed: 7);
        string path = _folder.File("model.safetensors");

        DiTCheckpoint.Save(model, path, prefix: DiTCheckpoint.CosyVoicePrefix);
        var loaded = DiTCheckpoint.Load<double>(path);

        Assert.Equal(model.Config, loaded.Config);
        var expected = model.Parameters.ToDictionary(parameter => parameter.Name);
        foreach (var parameter in loaded.Parameters)
        {
            Assert.Equal(expected[parameter.Name].Value.ToArray(), parameter.Value.ToArray());
        }
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(SafeTensorsDType.F64, file.Info(DiTCheckpoint.CosyVoicePrefix + "proj_out.weight").DType);
        Assert.Equal("pt", file.Metadata["format"]);
    }

    [Fact]
    public void Save_AsBF16_LoadsRoundedValues()
    {
        var model = new DiT<float>(new DiTConfig(32, 1, 2, 16, 2, 4, 4, 4, false));
        model.Initialize(seed: 3);
        string path = _folder.File("bf16.safetensors");

        DiTCheckpoint.Save(model, path, SafeTensorsDType.BF16);
        var loaded = DiTCheckpoint.Load<float>(path);

        var original = model.Parameters.First(parameter => parameter.Name == "proj_out.weight").Value.ToArray();
        var restored = loaded.Parameters.First(parameter => parameter.Name == "proj_out.weight").Value.ToArray();
        Assert.Equal(original.Select(value => BitConverter.Int32BitsToSingle((int)BFloat16Reference.RoundToBFloat16(value) << 16)), restored);
        Assert.NotEqual(original, restored);
    }

    [Fact]
    public void Load_WrongExplicitConfig_ReportsEveryMismatch()
    {
        var wrong = new DiTConfig(64, 3, 4, 16, 2, 8, 8, 8, false);

        var error = Assert.Throws<StateDictMismatchException>(() => DiTCheckpoint.Load<float>(FixturePaths.Weights("tiny_longskip"), wrong));

        Assert.Contains(error.Missing, name => name.StartsWith("transformer_blocks.2.", StringComparison.Ordinal));
        Assert.Contains(error.Unexpected, name => name.StartsWith("long_skip_connection.weight", StringComparison.Ordinal));
        Assert.Empty(error.Mismatched);
    }

    [Fact]
    public void ReadConfig_ForeignConfigMetadata_FallsBackToInference()
    {
        string path = _folder.File("foreign.safetensors");
        var writer = new SafeTensorsWriter();
        using (var source = SafeTensorsFile.Open(FixturePaths.Weights("single_frame")))
        {
            foreach (string name in source.Names)
            {
                writer.Add(name, source.ReadTensor<float>(name));
            }
        }
        writer.Write(path, new Dictionary<string, string> { ["config"] = "{\"model_type\": \"something else\"}" });
        using var file = SafeTensorsFile.Open(path);

        var config = DiTCheckpoint.ReadConfig(file);

        Assert.Equal(new DiTConfig(32, 1, 2, 16, 2, 4, 4, 4, true), config);
    }

    [Fact]
    public void DetectPrefix_TwoDiTs_ThrowsListingBoth()
    {
        string path = _folder.File("two.safetensors");
        var writer = new SafeTensorsWriter();
        using (var source = SafeTensorsFile.Open(FixturePaths.Weights("single_frame")))
        {
            foreach (string name in source.Names)
            {
                writer.Add("a." + name, source.ReadTensor<float>(name));
                writer.Add("b." + name, source.ReadTensor<float>(name));
            }
        }
        writer.Write(path);
        using var file = SafeTensorsFile.Open(path);

        var error = Assert.Throws<InvalidDataException>(() => DiTCheckpoint.DetectPrefix(file));

        Assert.Contains("'a.'", error.Message);
        Assert.Contains("'b.'", error.Message);
    }

    /// <summary>Rounds a float to bfloat16 bits, to nearest with ties to even, independently of the writer.</summary>
    private static class BFloat16Reference
    {
        public static uint RoundToBFloat16(float value)
        {
            uint bits = BitConverter.SingleToUInt32Bits(value);
            uint lower = bits & 0xFFFF;
            uint upper = bits >> 16;
            bool roundUp = lower > 0x8000 || (lower == 0x8000 && (upper & 1) == 1);
            return roundUp ? upper + 1 : upper;
        }
    }
}
