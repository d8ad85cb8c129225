using System.Text;
using DiTNet.IO;

namespace DiTNet.Tests.IO;

public sealed class SafeTensorsCorruptFileTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Open_FileShorterThanEightBytes_Throws()
    {
        string path = WriteBytes([1, 2, 3]);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("3 bytes", error.Message);
    }

    [Fact]
    public void Open_HeaderLengthBeyondFile_Throws()
    {
        string path = WriteFile("{}", [], headerLength: 1000);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("1000", error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void Open_AbsurdHeaderLength_ThrowsWithoutAllocating()
    {
        string path = WriteFile("{}", [], headerLength: ulong.MaxValue);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains(ulong.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
        Assert.Contains("more than", error.Message);
    }

    [Theory]
    [InlineData("{\"a\": {\"dtype\": \"F32\", ")]
    [InlineData("not json at all")]
    [InlineData("[1, 2]")]
    public void Open_InvalidJson_Throws(string header)
    {
        string path = WriteFile(header, []);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("JSON", error.Message);
    }

    [Fact]
    public void Open_InvalidUtf8Header_Throws()
    {
        byte[] header = [(byte)'{', 0xFF, 0xFE, (byte)'}'];
        string path = WriteRaw(header, [], (ulong)header.Length);

        Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));
    }

    [Fact]
    public void Open_UnknownDType_ThrowsNamingTensorAndDType()
    {
        string path = WriteFile("""{"w": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}""", new byte[1]);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("'w'", error.Message);
        Assert.Contains("'F4'", error.Message);
    }

    [Fact]
    public void Open_OffsetsBeyondData_ThrowsNamingBytes()
    {
        string path = WriteFile("""{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}""", new byte[12]);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("'w'", error.Message);
        Assert.Contains("[0, 16]", error.Message);
        Assert.Contains("12 bytes", error.Message);
    }

    [Fact]
    public void Open_OffsetsNotMatchingShape_Throws()
    {
        string path = WriteFile("""{"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}}""", new byte[24]);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("'w'", error.Message);
        Assert.Contains("20 bytes", error.Message);
        Assert.Contains("needs 24 bytes", error.Message);
    }

    [Fact]
    public void Open_OverlappingTensors_ThrowsNamingBoth()
    {
        string header = """
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
            """;
        string path = WriteFile(header, new byte[12]);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("'a'", error.Message);
        Assert.Contains("'b'", error.Message);
        Assert.Contains("overlap", error.Message);
    }

    [Fact]
    public void Open_EndBeforeBegin_Throws()
    {
        string path = WriteFile("""{"w": {"dtype": "U8", "shape": [0], "data_offsets": [4, 2]}}""", new byte[4]);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("[4, 2]", error.Message);
    }

    [Theory]
    [InlineData("""{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}""", "dimension 0")]
    [InlineData("""{"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}""", "dimension 0")]
    [InlineData("""{"w": {"shape": [1], "data_offsets": [0, 4]}}""", "dtype")]
    [InlineData("""{"w": {"dtype": "F32", "data_offsets": [0, 4]}}""", "shape")]
    [InlineData("""{"w": {"dtype": "F32", "shape": [1]}}""", "data_offsets")]
    [InlineData("""{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, -4]}}""", "data offset")]
    [InlineData("""{"w": {"dtype": "F32", "shape": [100000, 100000, 100000, 100000], "data_offsets": [0, 4]}}""", "more elements")]
    [InlineData("""{"__metadata__": {"n": 3}}""", "metadata entry 'n'")]
    [InlineData("""{"w": 7}""", "'w'")]
    public void Open_MalformedEntry_ThrowsNamingField(string header, string expected)
    {
        string path = WriteFile(header, new byte[4]);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Open_DuplicateTensorName_Throws()
    {
        string header = """
            {"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
             "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}
            """;
        string path = WriteFile(header, new byte[2]);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("twice", error.Message);
    }

    [Fact]
    public void Open_TruncatedFixture_ThrowsNamingTensor()
    {
        byte[] bytes = File.ReadAllBytes(FixturePaths.Weights("single_frame"));
        string path = WriteBytes(bytes.AsSpan(0, bytes.Length - 10).ToArray());

        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void ReadTensor_FileTruncatedAfterOpen_Throws()
    {
        string path = _folder.File("shrinks.safetensors");
        File.Copy(FixturePaths.Weights("single_frame"), path);
        using var file = SafeTensorsFile.Open(path);
        string last = file.Names.MaxBy(name => file.Info(name).DataEnd)!;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            stream.SetLength(stream.Length - 4);
        }

        var error = Assert.Throws<InvalidDataException>(() => file.ReadTensor<float>(last));

        Assert.Contains($"'{last}'", error.Message);
    }

    [Fact]
    public void Open_PaddedHeaderAndEmptyTensor_Reads()
    {
        string header = """{"e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}, "b": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}   """;
        string path = WriteFile(header, [0, 5]);

        using var file = SafeTensorsFile.Open(path);

        Assert.Equal([false, true], file.ReadBool("b"));
        Assert.Equal(0, file.ReadTensor<float>("e").Length);
    }

    private string WriteFile(string header, byte[] data, ulong? headerLength = null)
    {
        byte[] headerBytes = Encoding.UTF8.GetBytes(header);
        return WriteRaw(headerBytes, data, headerLength ?? (ulong)headerBytes.Length);
    }

    private string WriteRaw(byte[] header, byte[] data, ulong headerLength)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), headerLength);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return WriteBytes(bytes);
    }

    private string WriteBytes(byte[] bytes)
    {
        string path = _folder.File($"corrupt-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
