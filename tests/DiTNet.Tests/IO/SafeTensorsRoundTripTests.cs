using DiTNet.IO;
using DiTNet.Tensors;

namespace DiTNet.Tests.IO;

public sealed class SafeTensorsRoundTripTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Write_FloatTensors_ReadBackBitExactWithMetadata()
    {
        string path = _folder.File("float.safetensors");
        var b = Filled(new Tensor<float>(2, 3), i => i * 0.37f - 1f);
        var a = Filled(new Tensor<float>(5), i => float.MaxValue / (i + 1));
        var scalar = new Tensor<float>();
        scalar[0] = 42.5f;
        var empty = new Tensor<float>(0, 4);
        var metadata = new Dictionary<string, string> { ["config"] = "{\"dim\": 32}", ["format"] = "pt" };

        SafeTensors.Write<float>(path, [new("b", b), new("a", a), new("scalar", scalar), new("empty", empty)], metadata);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["a", "b", "empty", "scalar"], file.Names);
        Assert.Equal(metadata, file.Metadata);
        Assert.Equal(SafeTensorsDType.F32, file.Info("b").DType);
        Assert.Equal([2, 3], file.Info("b").Shape);
        Assert.Equal(b.ToArray(), file.ReadTensor<float>("b").ToArray());
        Assert.Equal(a.ToArray(), file.ReadTensor<float>("a").ToArray());
        var scalarRead = file.ReadTensor<float>("scalar");
        Assert.Equal(0, scalarRead.Rank);
        Assert.Equal(42.5f, scalarRead[0]);
        Assert.True(file.ReadTensor<float>("empty").HasShape(0, 4));
    }

    [Fact]
    public void Write_DoubleTensor_StoresF64BitExact()
    {
        string path = _folder.File("double.safetensors");
        var x = Filled(new Tensor<double>(3, 7), i => Math.PI * (i - 10) / 3.0);

        SafeTensors.Write<double>(path, [new("x", x)]);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(SafeTensorsDType.F64, file.Info("x").DType);
        Assert.Equal(x.ToArray(), file.ReadTensor<double>("x").ToArray());
        Assert.Empty(file.Metadata);
    }

    [Fact]
    public void ReadTensor_F32AsDoubleAndF64AsFloat_Converts()
    {
        string path = _folder.File("mixed.safetensors");
        var single = Filled(new Tensor<float>(4), i => 1f / (i + 3));
        var wide = Filled(new Tensor<double>(4), i => 1.0 / (i + 3));
        new SafeTensorsWriter().Add("single", single).Add("wide", wide).Write(path);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(single.ToArray().Select(v => (double)v), file.ReadTensor<double>("single").ToArray());
        Assert.Equal(wide.ToArray().Select(v => (float)v), file.ReadTensor<float>("wide").ToArray());
    }

    [Fact]
    public void Write_NonFiniteValues_RoundTripInEveryFloatType()
    {
        string path = _folder.File("nonfinite.safetensors");
        float[] values = [float.PositiveInfinity, float.NegativeInfinity, float.NaN, -0f, 0f];
        var tensor = new Tensor<float>(values, values.Length);
        var writer = new SafeTensorsWriter();
        foreach (var dtype in new[] { SafeTensorsDType.F64, SafeTensorsDType.F32, SafeTensorsDType.F16, SafeTensorsDType.BF16 })
        {
            writer.Add(dtype.ToString(), tensor, dtype);
        }
        writer.Write(path);

        using var file = SafeTensorsFile.Open(path);
        foreach (string name in file.Names)
        {
            float[] read = file.ReadTensor<float>(name).ToArray();
            Assert.Equal(float.PositiveInfinity, read[0]);
            Assert.Equal(float.NegativeInfinity, read[1]);
            Assert.True(float.IsNaN(read[2]), $"{name}: NaN read back as {read[2]}");
            Assert.Equal(BitConverter.SingleToUInt32Bits(-0f), BitConverter.SingleToUInt32Bits(read[3]));
            Assert.Equal(0u, BitConverter.SingleToUInt32Bits(read[4]));
        }
    }

    [Fact]
    public void Add_F16RepresentableValues_RoundTripExactly()
    {
        // 65504 is the largest half, 2^-14 the smallest normal, 2^-24 the smallest subnormal
        float[] values = [0.5f, -2f, 1.5f, 65504f, -65504f, MathF.Pow(2, -14), MathF.Pow(2, -24), 1f + MathF.Pow(2, -10), 1000.5f];

        float[] read = RoundTrip(values, SafeTensorsDType.F16);

        Assert.Equal(values, read);
    }

    [Fact]
    public void Add_F16Ties_RoundToEven()
    {
        // halfway between 1 and 1 + 2^-10 rounds down to the even 1; halfway above 1 + 2^-10 rounds up to 1 + 2^-9
        float ulp = MathF.Pow(2, -10);
        float[] values = [1f + ulp / 2, 1f + ulp * 1.5f, 1f + ulp * 0.75f, 70000f];

        float[] read = RoundTrip(values, SafeTensorsDType.F16);

        Assert.Equal(1f, read[0]);
        Assert.Equal(1f + 2 * ulp, read[1]);
        Assert.Equal(1f + ulp, read[2]);
        Assert.Equal(float.PositiveInfinity, read[3]);
    }

    [Fact]
    public void Add_F16RandomBitPatterns_MatchHalfConversion()
    {
        // random bit patterns cover subnormals, ties, overflow and NaN in both the vector and scalar paths
        var random = new Random(11);
        float[] values = new float[100_003];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BitConverter.Int32BitsToSingle(random.Next() ^ (random.Next(2) << 31));
        }
        string path = _folder.File("f16-bits.safetensors");
        new SafeTensorsWriter().Add("x", new Tensor<float>(values, values.Length), SafeTensorsDType.F16).Write(path);

        using var file = SafeTensorsFile.Open(path);
        byte[] raw = file.ReadRawBytes("x");
        float[] read = file.ReadTensor<float>("x").ToArray();

        for (int i = 0; i < values.Length; i++)
        {
            Half expected = (Half)values[i];
            Half stored = BitConverter.ToHalf(raw, 2 * i);
            if (Half.IsNaN(expected))
            {
                Assert.True(Half.IsNaN(stored), $"element {i}: {values[i]} stored as {stored}");
                continue;
            }
            Assert.Equal(BitConverter.HalfToUInt16Bits(expected), BitConverter.HalfToUInt16Bits(stored));
            Assert.Equal((float)expected, read[i]);
        }
    }

    [Fact]
    public void Add_BF16RepresentableValues_RoundTripExactly()
    {
        float[] values = [0.5f, -2f, 1.0078125f, 3.3895314e38f, MathF.Pow(2, -126), MathF.Pow(2, -133), -1179648f];

        float[] read = RoundTrip(values, SafeTensorsDType.BF16);

        Assert.Equal(values, read);
    }

    [Fact]
    public void Add_BF16RandomBitPatterns_MatchReferenceRounding()
    {
        var random = new Random(12);
        float[] values = new float[50_001];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BitConverter.Int32BitsToSingle(random.Next() ^ (random.Next(2) << 31));
        }
        string path = _folder.File("bf16-bits.safetensors");
        new SafeTensorsWriter().Add("x", new Tensor<float>(values, values.Length), SafeTensorsDType.BF16).Write(path);

        using var file = SafeTensorsFile.Open(path);
        byte[] raw = file.ReadRawBytes("x");

        for (int i = 0; i < values.Length; i++)
        {
            ushort stored = BitConverter.ToUInt16(raw, 2 * i);
            if (float.IsNaN(values[i]))
            {
                Assert.True(float.IsNaN(BitConverter.Int32BitsToSingle(stored << 16)), $"element {i}: NaN stored as {stored:X4}");
                continue;
            }

            // round to nearest, ties to even, on the upper 16 bits; a carry into the exponent is the correct next value
            uint bits = BitConverter.SingleToUInt32Bits(values[i]);
            uint lower = bits & 0xFFFF, upper = bits >> 16;
            bool roundUp = lower > 0x8000 || (lower == 0x8000 && (upper & 1) == 1);
            Assert.Equal((ushort)(roundUp ? upper + 1 : upper), stored);
        }
    }

    [Fact]
    public void Add_BF16Ties_RoundToEven()
    {
        // bfloat16 keeps 7 mantissa bits, so its ulp at 1 is 2^-7
        float ulp = MathF.Pow(2, -7);
        float[] values = [1f + ulp / 2, 1f + ulp * 1.5f, 1f + ulp * 0.51f];

        float[] read = RoundTrip(values, SafeTensorsDType.BF16);

        Assert.Equal(1f, read[0]);
        Assert.Equal(1f + 2 * ulp, read[1]);
        Assert.Equal(1f + ulp, read[2]);
    }

    [Fact]
    public void Add_BF16FromDoubleJustAboveTie_RoundsOnceUp()
    {
        // 1 + 2^-8 + 2^-40 rounds to the float 1 + 2^-8, a bfloat16 tie that would round down to 1;
        // rounded once from the double it is above the tie and must round up
        string path = _folder.File("bf16-double.safetensors");
        var tensor = new Tensor<double>([1 + Math.Pow(2, -8) + Math.Pow(2, -40), -(1 + Math.Pow(2, -8) + Math.Pow(2, -40))], 2);
        new SafeTensorsWriter().Add("x", tensor, SafeTensorsDType.BF16).Write(path);

        using var file = SafeTensorsFile.Open(path);
        double[] read = file.ReadTensor<double>("x").ToArray();

        Assert.Equal(1 + Math.Pow(2, -7), read[0]);
        Assert.Equal(-(1 + Math.Pow(2, -7)), read[1]);
    }

    [Fact]
    public void ReadTensor_F16AsDouble_WidensExactly()
    {
        string path = _folder.File("f16-double.safetensors");
        var tensor = new Tensor<double>([0.1, -3.75], 2);
        new SafeTensorsWriter().Add("x", tensor, SafeTensorsDType.F16).Write(path);

        using var file = SafeTensorsFile.Open(path);

        Assert.Equal(SafeTensorsDType.F16, file.Info("x").DType);
        Assert.Equal([(double)(Half)0.1, -3.75], file.ReadTensor<double>("x").ToArray());
    }

    [Fact]
    public void Write_LargeF16Tensor_EncodesAcrossChunks()
    {
        // more than one 1 MiB encoding chunk of F16 values
        string path = _folder.File("large.safetensors");
        var tensor = Filled(new Tensor<float>(700_001), i => (i % 2048) - 1024f);
        new SafeTensorsWriter().Add("x", tensor, SafeTensorsDType.F16).Add("y", tensor, SafeTensorsDType.F32).Write(path);

        using var file = SafeTensorsFile.Open(path);

        Assert.Equal(tensor.ToArray(), file.ReadTensor<float>("x").ToArray());
        Assert.Equal(tensor.ToArray(), file.ReadTensor<double>("y").ToArray().Select(v => (float)v));
    }

    [Fact]
    public void AddBoolAndIntegers_RoundTrip()
    {
        string path = _folder.File("ints.safetensors");
        bool[] flags = [true, false, true, true, false, false];
        long[] big = [long.MinValue, -1, 0, 1, long.MaxValue, 1L << 40];
        int[] small = [int.MinValue, -7, 0, 7, int.MaxValue, 12];
        new SafeTensorsWriter()
            .AddBool("flags", flags, 2, 3)
            .AddInt64("big", big, 6)
            .AddInt32("small", small, 3, 2)
            .Write(path);

        using var file = SafeTensorsFile.Open(path);

        Assert.Equal(SafeTensorsDType.BOOL, file.Info("flags").DType);
        Assert.Equal([2, 3], file.Info("flags").Shape);
        Assert.Equal(flags, file.ReadBool("flags"));
        Assert.Equal(big, file.ReadInt64("big"));
        Assert.Equal(small, file.ReadInt32("small"));
        Assert.Equal(small.Select(v => (long)v), file.ReadInt64("small"));
    }

    [Fact]
    public void ReadBool_F32Tensor_ThrowsNamingFileAndTensor()
    {
        string path = _folder.File("kinds.safetensors");
        new SafeTensorsWriter().Add("weight", new Tensor<float>(2, 2)).AddBool("keep", [true], 1).AddInt64("step", [3], 1).Write(path);
        using var file = SafeTensorsFile.Open(path);

        var boolError = Assert.Throws<InvalidDataException>(() => file.ReadBool("weight"));
        var floatError = Assert.Throws<InvalidDataException>(() => file.ReadTensor<float>("keep"));
        var intError = Assert.Throws<InvalidDataException>(() => file.ReadInt32("step"));

        Assert.Contains(path, boolError.Message);
        Assert.Contains("'weight'", boolError.Message);
        Assert.Contains("F32", boolError.Message);
        Assert.Contains("'keep'", floatError.Message);
        Assert.Contains("BOOL", floatError.Message);
        Assert.Contains("I64", intError.Message);
    }

    [Fact]
    public void Info_UnknownName_ThrowsKeyNotFound()
    {
        string path = _folder.File("one.safetensors");
        SafeTensors.Write(path, [new KeyValuePair<string, Tensor<float>>("a", new Tensor<float>(1))]);
        using var file = SafeTensorsFile.Open(path);

        var error = Assert.Throws<KeyNotFoundException>(() => file.Info("b"));

        Assert.False(file.Contains("b"));
        Assert.Contains("'b'", error.Message);
    }

    [Fact]
    public void Read_IntoSpanOfWrongLength_Throws()
    {
        string path = _folder.File("span.safetensors");
        SafeTensors.Write(path, [new KeyValuePair<string, Tensor<float>>("a", new Tensor<float>(3))]);
        using var file = SafeTensorsFile.Open(path);

        Assert.Throws<ArgumentException>(() => file.Read<float>("a", new float[4]));
    }

    [Fact]
    public void Write_Header_IsPaddedToEightBytes()
    {
        string path = _folder.File("layout.safetensors");
        SafeTensors.Write(path, [new KeyValuePair<string, Tensor<float>>("abc", new Tensor<float>([1f, 2f], 2))]);

        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BitConverter.ToInt64(bytes, 0);

        Assert.Equal(0, headerLength % 8);
        Assert.Equal(8 + headerLength + 8, bytes.Length);
        Assert.Equal(1f, BitConverter.ToSingle(bytes, (int)(8 + headerLength)));
        Assert.Equal(2f, BitConverter.ToSingle(bytes, (int)(8 + headerLength + 4)));
    }

    [Fact]
    public void Write_FailingMidway_LeavesExistingFileAndNoTemporary()
    {
        string path = _folder.File("keep.safetensors");
        SafeTensors.Write(path, [new KeyValuePair<string, Tensor<float>>("old", new Tensor<float>([7f], 1))]);
        byte[] before = File.ReadAllBytes(path);

        // shrinking a tensor after Add makes encoding it fail after the header is written
        var shrinking = new Tensor<float>(64);
        var writer = new SafeTensorsWriter().Add("a", new Tensor<float>(8)).Add("b", shrinking);
        shrinking.Reshape(1);

        Assert.ThrowsAny<ArgumentException>(() => writer.Write(path));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_folder.Path));
    }

    [Fact]
    public void Write_MissingFolder_ThrowsDirectoryNotFound()
    {
        string path = _folder.File("absent/file.safetensors");

        Assert.Throws<DirectoryNotFoundException>(() => new SafeTensorsWriter().Add("a", new Tensor<float>(1)).Write(path));
    }

    [Fact]
    public void Write_OverFileOpenForReading_ReplacesIt()
    {
        string path = _folder.File("open.safetensors");
        SafeTensors.Write(path, [new KeyValuePair<string, Tensor<float>>("a", new Tensor<float>([1f], 1))]);
        using var old = SafeTensorsFile.Open(path);

        SafeTensors.Write(path, [new KeyValuePair<string, Tensor<float>>("b", new Tensor<float>([2f], 1))]);

        using var replaced = SafeTensorsFile.Open(path);
        Assert.Equal(["b"], replaced.Names);
        Assert.Equal(1f, old.ReadTensor<float>("a")[0]);
    }

    [Fact]
    public void Add_DuplicateOrReservedName_Throws()
    {
        var writer = new SafeTensorsWriter().Add("a", new Tensor<float>(1));

        Assert.Throws<ArgumentException>(() => writer.Add("a", new Tensor<float>(1)));
        Assert.Throws<ArgumentException>(() => writer.Add("__metadata__", new Tensor<float>(1)));
        Assert.Throws<ArgumentException>(() => writer.Add("c", new Tensor<float>(1), SafeTensorsDType.I32));
        Assert.Throws<ArgumentException>(() => writer.AddBool("d", [true, false], 3));
    }

    [Fact]
    public void Open_PythonWrittenFixture_ReadsRotaryFrequencies()
    {
        using var file = SafeTensorsFile.Open(FixturePaths.Weights("tiny_longskip"));

        var invFreq = file.ReadTensor<double>("rotary_embed.inv_freq");

        // inv_freq[j] = 1 / 10000^(2j / Dh) with Dh = 16, stored as float32
        Assert.Equal([8], invFreq.Shape.ToArray());
        for (int j = 0; j < 8; j++)
        {
            Assert.Equal((double)(float)(1.0 / Math.Pow(10000, 2.0 * j / 16)), invFreq[j], 1e-7);
        }
        Assert.Equal(44, file.Names.Count);
    }

    [Fact]
    public void Open_FixtureIoFile_ReadsBoolDraws()
    {
        using var file = SafeTensorsFile.Open(FixturePaths.Io("cfm_loss"));

        bool[] keep = file.ReadBool("draw.keep_condition");

        Assert.Equal(3, keep.Length);
        Assert.Contains("config", file.Metadata.Keys);
    }

    private float[] RoundTrip(float[] values, SafeTensorsDType dtype)
    {
        string path = _folder.File($"roundtrip-{dtype}.safetensors");
        new SafeTensorsWriter().Add("x", new Tensor<float>(values, values.Length), dtype).Write(path);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(dtype, file.Info("x").DType);
        return file.ReadTensor<float>("x").ToArray();
    }

    private static Tensor<T> Filled<T>(Tensor<T> tensor, Func<int, T> value) where T : unmanaged
    {
        for (int i = 0; i < tensor.Length; i++)
        {
            tensor[i] = value(i);
        }
        return tensor;
    }
}
