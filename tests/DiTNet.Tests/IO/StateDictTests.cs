using DiTNet.IO;
using DiTNet.Tensors;

namespace DiTNet.Tests.IO;

public sealed class StateDictTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Load_MatchingFile_CopiesEveryParameter()
    {
        var source = new FakeModel<float>();
        source.Fill(seed: 1);
        string path = Save(source, "", "match.safetensors");
        var target = new FakeModel<double>();

        using var file = SafeTensorsFile.Open(path);
        var result = StateDict.Load(target, file);

        Assert.Equal(3, result.Loaded);
        Assert.Empty(result.Missing);
        Assert.Empty(result.Unexpected);
        Assert.Equal(source.Weight.Value.ToArray().Select(v => (double)v), target.Weight.Value.ToArray());
        Assert.Equal(source.Bias.Value.ToArray().Select(v => (double)v), target.Bias.Value.ToArray());
        Assert.Equal(source.Frequencies.Value.ToArray().Select(v => (double)v), target.Frequencies.Value.ToArray());
    }

    [Fact]
    public void Load_WithPrefix_StripsItAndIgnoresOtherTensors()
    {
        var source = new FakeModel<float>();
        source.Fill(seed: 2);
        string path = _folder.File("prefixed.safetensors");
        var writer = new SafeTensorsWriter();
        StateDict.AddTo(writer, source, "decoder.estimator.");
        writer.Add("encoder.layer.weight", new Tensor<float>(5));
        writer.Write(path);
        var target = new FakeModel<float>();

        using var file = SafeTensorsFile.Open(path);
        var result = StateDict.Load(target, file, "decoder.estimator.");

        Assert.Equal(3, result.Loaded);
        Assert.Equal(source.Weight.Value.ToArray(), target.Weight.Value.ToArray());
    }

    [Fact]
    public void Load_MissingUnexpectedAndMisshaped_ReportsAllTogether()
    {
        string path = _folder.File("bad.safetensors");
        new SafeTensorsWriter()
            .Add("layer.weight", new Tensor<float>(3, 2))
            .Add("layer.extra", new Tensor<float>(7))
            .Add("rotary.inv_freq", new Tensor<float>(2))
            .Write(path);
        var target = new FakeModel<float>();
        target.Fill(seed: 3);
        float[] before = target.Frequencies.Value.ToArray();

        using var file = SafeTensorsFile.Open(path);
        var error = Assert.Throws<StateDictMismatchException>(() => StateDict.Load(target, file));

        Assert.Equal(["layer.bias [3]"], error.Missing);
        Assert.Equal(["layer.extra [7]"], error.Unexpected);
        Assert.Single(error.Mismatched);
        Assert.Contains("layer.weight: file has [3, 2], model has [2, 3]", error.Message);
        Assert.Contains("missing: layer.bias [3]", error.Message);
        Assert.Contains("unexpected: layer.extra [7]", error.Message);
        Assert.Contains(path, error.Message);
        Assert.Equal(before, target.Frequencies.Value.ToArray());
    }

    [Fact]
    public void Load_NonStrictWithGaps_LoadsTheRestAndReportsGaps()
    {
        string path = _folder.File("partial.safetensors");
        var weight = new Tensor<float>([1f, 2f, 3f, 4f, 5f, 6f], 2, 3);
        new SafeTensorsWriter().Add("layer.weight", weight).Add("layer.extra", new Tensor<float>(7)).Write(path);
        var target = new FakeModel<float>();

        using var file = SafeTensorsFile.Open(path);
        var result = StateDict.Load(target, file, strict: false);

        Assert.Equal(1, result.Loaded);
        Assert.Equal(["layer.bias", "rotary.inv_freq"], result.Missing);
        Assert.Equal(["layer.extra"], result.Unexpected);
        Assert.Equal(weight.ToArray(), target.Weight.Value.ToArray());
    }

    [Fact]
    public void Load_NonStrictMisshaped_StillThrows()
    {
        string path = _folder.File("shape.safetensors");
        new SafeTensorsWriter().Add("layer.bias", new Tensor<float>(4)).Write(path);

        using var file = SafeTensorsFile.Open(path);
        var error = Assert.Throws<StateDictMismatchException>(() => StateDict.Load(new FakeModel<float>(), file, strict: false));

        Assert.Contains("layer.bias: file has [4], model has [3]", error.Message);
    }

    [Fact]
    public void Load_IntegerTensorForParameter_ReportsType()
    {
        string path = _folder.File("int.safetensors");
        var source = new FakeModel<float>();
        var writer = new SafeTensorsWriter();
        writer.Add("layer.weight", source.Weight.Value).Add("layer.bias", source.Bias.Value).AddInt64("rotary.inv_freq", [1, 2], 2);
        writer.Write(path);

        using var file = SafeTensorsFile.Open(path);
        var error = Assert.Throws<StateDictMismatchException>(() => StateDict.Load(new FakeModel<float>(), file));

        Assert.Contains("rotary.inv_freq: file has I64 [2]", error.Message);
    }

    [Fact]
    public void Load_PrefixMissing_SuggestsPassingIt()
    {
        var source = new FakeModel<float>();
        string path = Save(source, "decoder.estimator.", "needs-prefix.safetensors");

        using var file = SafeTensorsFile.Open(path);
        var error = Assert.Throws<StateDictMismatchException>(() => StateDict.Load(new FakeModel<float>(), file));

        Assert.Equal(3, error.Missing.Count);
        Assert.Equal(3, error.Unexpected.Count);
        Assert.Contains("pass that prefix", error.Message);
    }

    [Fact]
    public void Load_F16File_WidensIntoFloat()
    {
        var source = new FakeModel<float>();
        source.Fill(seed: 4);
        string path = _folder.File("half.safetensors");
        var writer = new SafeTensorsWriter();
        StateDict.AddTo(writer, source, storeAs: SafeTensorsDType.F16);
        writer.Write(path);
        var target = new FakeModel<float>();

        using var file = SafeTensorsFile.Open(path);
        StateDict.Load(target, file);

        Assert.Equal(source.Weight.Value.ToArray().Select(v => (float)(Half)v), target.Weight.Value.ToArray());
    }

    private string Save(FakeModel<float> model, string prefix, string name)
    {
        string path = _folder.File(name);
        var writer = new SafeTensorsWriter();
        StateDict.AddTo(writer, model, prefix);
        writer.Write(path);
        return path;
    }

    private sealed class FakeModel<T> : IParameterized<T> where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        public Parameter<T> Weight { get; } = new("layer.weight", [2, 3]);

        public Parameter<T> Bias { get; } = new("layer.bias", [3]);

        public Parameter<T> Frequencies { get; } = new("rotary.inv_freq", [2], trainable: false);

        public IEnumerable<Parameter<T>> Parameters => [Weight, Bias, Frequencies];

        public void Fill(int seed)
        {
            var random = new Random(seed);
            foreach (var parameter in Parameters)
            {
                for (int i = 0; i < parameter.Value.Length; i++)
                {
                    parameter.Value[i] = T.CreateTruncating(random.NextDouble() * 2 - 1);
                }
            }
        }
    }
}
