using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;
using DiTNet.Tensors;
using Microsoft.Win32.SafeHandles;

namespace DiTNet.IO;

/// <summary>
/// An opened safetensors file: the header is parsed and checked when opened, and each tensor's
/// bytes are read from disk only when that tensor is requested.
/// </summary>
/// <remarks>
/// The layout is an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each
/// name to <c>{dtype, shape, data_offsets: [begin, end]}</c> (offsets counted from the end of the
/// header) plus an optional <c>__metadata__</c> object of strings, then the data, little-endian
/// and row-major. The file stays open until <see cref="Dispose"/>; reads may run on several
/// threads at once.
/// </remarks>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>The largest header accepted, 100 MB; real headers are kilobytes, so a larger value means a corrupt or hostile file.</summary>
    public const long MaxHeaderLength = 100_000_000;

    private const string MetadataKey = "__metadata__";
    private const int ChunkBytes = 1 << 20;

    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, SafeTensorInfo> _tensors;
    private readonly long _dataStart;

    private SafeTensorsFile(string path, SafeFileHandle handle, Dictionary<string, SafeTensorInfo> tensors,
        Dictionary<string, string> metadata, long dataStart)
    {
        Path = path;
        _handle = handle;
        _tensors = tensors;
        _dataStart = dataStart;
        Metadata = metadata;
        Names = tensors.Keys.Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>The path the file was opened from.</summary>
    public string Path { get; }

    /// <summary>The <c>__metadata__</c> entries; empty when the header has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor names in ordinal order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Opens a file and checks its header against the file's size.</summary>
    /// <exception cref="InvalidDataException">The file is truncated, its header is too long, not valid JSON or
    /// describes a tensor whose dtype, shape or byte range is invalid.</exception>
    /// <exception cref="IOException">The file cannot be opened or read.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // FileShare.Delete lets a writer replace the file by renaming over it while it is open here
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.RandomAccess);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8)
            {
                throw new InvalidDataException(
                    $"{path}: the file has {fileLength} bytes, fewer than the 8-byte header length that starts a safetensors file.");
            }

            Span<byte> prefix = stackalloc byte[8];
            ReadExactly(handle, prefix, 0, path, "the header length");
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > MaxHeaderLength)
            {
                throw new InvalidDataException(
                    $"{path}: the header length is {headerLength} bytes, more than the {MaxHeaderLength} accepted; the file is corrupt or not a safetensors file.");
            }
            if ((long)headerLength > fileLength - 8)
            {
                throw new InvalidDataException(
                    $"{path}: the header length is {headerLength} bytes but only {fileLength - 8} bytes follow it; the file is truncated or not a safetensors file.");
            }

            byte[] header = new byte[headerLength];
            ReadExactly(handle, header, 8, path, "the header");
            long dataStart = 8 + (long)headerLength;
            var (tensors, metadata) = ParseHeader(header, fileLength - dataStart, path);
            return new SafeTensorsFile(path, handle, tensors, metadata, dataStart);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Returns whether the file has a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>Returns the header entry of one tensor.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public SafeTensorInfo Info(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!_tensors.TryGetValue(name, out var info))
        {
            throw new KeyNotFoundException($"{Path}: no tensor named '{name}' among its {_tensors.Count} tensors.");
        }
        return info;
    }

    /// <summary>Reads a float tensor (F64, F32, F16 or BF16), converting each value to <typeparamref name="T"/>.</summary>
    /// <remarks>F16 and BF16 widen exactly; F64 read as float rounds to nearest.</remarks>
    /// <exception cref="InvalidDataException">The tensor is not a float type, has more elements than one array holds, or the file is shorter than when it was opened.</exception>
    public Tensor<T> ReadTensor<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var info = Info(name);
        RequireFloat(info);
        var tensor = new Tensor<T>(ToTensorShape(info));
        ReadInto(info, tensor.Span);
        return tensor;
    }

    /// <summary>Reads a float tensor (F64, F32, F16 or BF16) into <paramref name="destination"/>, converting each value.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/>'s length differs from the tensor's element count.</exception>
    /// <exception cref="InvalidDataException">The tensor is not a float type, or the file is shorter than when it was opened.</exception>
    public void Read<T>(string name, Span<T> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var info = Info(name);
        RequireFloat(info);
        if (destination.Length != info.ElementCount)
        {
            throw new ArgumentException(
                $"{Path}: tensor '{name}' {info.ShapeString} has {info.ElementCount} elements but the destination has {destination.Length}.",
                nameof(destination));
        }
        ReadInto(info, destination);
    }

    /// <summary>Reads a BOOL tensor; any nonzero byte is true.</summary>
    /// <exception cref="InvalidDataException">The tensor is not BOOL.</exception>
    public bool[] ReadBool(string name)
    {
        var info = Info(name);
        RequireKind(info, "bool", SafeTensorsDType.BOOL);
        byte[] bytes = ReadBytes(info);
        var values = new bool[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            values[i] = bytes[i] != 0;
        }
        return values;
    }

    /// <summary>Reads an integer tensor as 64-bit integers; I8 to I64 and U8 to U32 widen exactly.</summary>
    /// <exception cref="InvalidDataException">The tensor is not one of those integer types.</exception>
    public long[] ReadInt64(string name)
    {
        var info = Info(name);
        RequireKind(info, "64-bit integer", SafeTensorsDType.I64, SafeTensorsDType.I32, SafeTensorsDType.I16,
            SafeTensorsDType.I8, SafeTensorsDType.U32, SafeTensorsDType.U16, SafeTensorsDType.U8);
        byte[] bytes = ReadBytes(info);
        var values = new long[info.ElementCount];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ReadInteger(bytes, info.DType, i);
        }
        return values;
    }

    /// <summary>Reads an integer tensor as 32-bit integers; I8 to I32, U8 and U16 widen exactly.</summary>
    /// <exception cref="InvalidDataException">The tensor is not one of those integer types.</exception>
    public int[] ReadInt32(string name)
    {
        var info = Info(name);
        RequireKind(info, "32-bit integer", SafeTensorsDType.I32, SafeTensorsDType.I16, SafeTensorsDType.I8,
            SafeTensorsDType.U16, SafeTensorsDType.U8);
        byte[] bytes = ReadBytes(info);
        var values = new int[info.ElementCount];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (int)ReadInteger(bytes, info.DType, i);
        }
        return values;
    }

    /// <summary>Reads a tensor's stored bytes as they are, whatever its dtype.</summary>
    public byte[] ReadRawBytes(string name) => ReadBytes(Info(name));

    /// <summary>Closes the file.</summary>
    public void Dispose() => _handle.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"{Path} ({_tensors.Count} tensors)";

    private void ReadInto<T>(SafeTensorInfo info, Span<T> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long offset = _dataStart + info.DataBegin;
        if (SafeTensorsConvert.IsNative<T>(info.DType))
        {
            ReadExactly(_handle, MemoryMarshal.AsBytes(destination), offset, Path, $"tensor '{info.Name}'");
            return;
        }

        // convert through a bounded buffer, so a large tensor never needs a second full-size copy
        int elementSize = info.DType.ElementSize();
        int chunkElements = ChunkBytes / elementSize;
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(ChunkBytes, info.ByteLength));
        try
        {
            for (int start = 0; start < destination.Length; start += chunkElements)
            {
                int count = Math.Min(chunkElements, destination.Length - start);
                Span<byte> bytes = buffer.AsSpan(0, count * elementSize);
                ReadExactly(_handle, bytes, offset + (long)start * elementSize, Path, $"tensor '{info.Name}'");
                SafeTensorsConvert.Decode(bytes, info.DType, destination.Slice(start, count));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private byte[] ReadBytes(SafeTensorInfo info)
    {
        if (info.ByteLength > Array.MaxLength)
        {
            throw new InvalidDataException(
                $"{Path}: tensor '{info.Name}' has {info.ByteLength} bytes, more than one array can hold.");
        }
        byte[] bytes = new byte[info.ByteLength];
        ReadExactly(_handle, bytes, _dataStart + info.DataBegin, Path, $"tensor '{info.Name}'");
        return bytes;
    }

    private void RequireFloat(SafeTensorInfo info)
    {
        if (!info.DType.IsConvertibleFloat())
        {
            throw new InvalidDataException(
                $"{Path}: tensor '{info.Name}' {info.ShapeString} is stored as {info.DType}, which cannot be read as a float tensor; read it with the method for its type.");
        }
    }

    private void RequireKind(SafeTensorInfo info, string kind, params SafeTensorsDType[] accepted)
    {
        if (Array.IndexOf(accepted, info.DType) < 0)
        {
            throw new InvalidDataException(
                $"{Path}: tensor '{info.Name}' {info.ShapeString} is stored as {info.DType}, which cannot be read as {kind} values (accepted: {string.Join(", ", accepted)}).");
        }
    }

    private int[] ToTensorShape(SafeTensorInfo info)
    {
        if (info.ElementCount > Array.MaxLength)
        {
            throw new InvalidDataException(
                $"{Path}: tensor '{info.Name}' {info.ShapeString} has {info.ElementCount} elements, more than one array can hold.");
        }
        return info.Shape;
    }

    private static long ReadInteger(byte[] bytes, SafeTensorsDType dtype, int index) => dtype switch
    {
        SafeTensorsDType.I64 => BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8 * index)),
        SafeTensorsDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4 * index)),
        SafeTensorsDType.I16 => BinaryPrimitives.ReadInt16LittleEndian(bytes.AsSpan(2 * index)),
        SafeTensorsDType.I8 => (sbyte)bytes[index],
        SafeTensorsDType.U32 => BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4 * index)),
        SafeTensorsDType.U16 => BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * index)),
        SafeTensorsDType.U8 => bytes[index],
        _ => throw new InvalidOperationException($"{dtype} is not an integer type read here."),
    };

    private static void ReadExactly(SafeFileHandle handle, Span<byte> destination, long offset, string path, string what)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int read = RandomAccess.Read(handle, destination.Slice(done), offset + done);
            if (read == 0)
            {
                throw new InvalidDataException(
                    $"{path}: reading {what} needs bytes {offset} to {offset + destination.Length} but the file ends at byte {offset + done}; it is truncated or changed since it was opened.");
            }
            done += read;
        }
    }

    private static (Dictionary<string, SafeTensorInfo> Tensors, Dictionary<string, string> Metadata) ParseHeader(
        byte[] header, long dataLength, string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException error)
        {
            throw new InvalidDataException($"{path}: the {header.Length}-byte header is not valid JSON: {error.Message}", error);
        }
        catch (ArgumentException error)
        {
            // raised for bytes that are not UTF-8
            throw new InvalidDataException($"{path}: the {header.Length}-byte header is not valid UTF-8 JSON: {error.Message}", error);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException(
                    $"{path}: the header is a JSON {document.RootElement.ValueKind}, not the object of tensors it must be.");
            }

            var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (sawMetadata)
                    {
                        throw new InvalidDataException($"{path}: the header has '{MetadataKey}' twice.");
                    }
                    sawMetadata = true;
                    ParseMetadata(property.Value, metadata, path);
                    continue;
                }
                if (tensors.ContainsKey(property.Name))
                {
                    throw new InvalidDataException($"{path}: the header describes tensor '{property.Name}' twice.");
                }
                tensors.Add(property.Name, ParseTensor(property.Name, property.Value, dataLength, path));
            }

            CheckNoOverlap(tensors.Values, path);
            return (tensors, metadata);
        }
    }

    private static void ParseMetadata(JsonElement element, Dictionary<string, string> metadata, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{path}: '{MetadataKey}' is a JSON {element.ValueKind}, not an object of strings.");
        }
        foreach (var entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw new InvalidDataException(
                    $"{path}: metadata entry '{entry.Name}' is a JSON {entry.Value.ValueKind}; the format allows only strings.");
            }
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
            {
                throw new InvalidDataException($"{path}: metadata entry '{entry.Name}' appears twice.");
            }
        }
    }

    private static SafeTensorInfo ParseTensor(string name, JsonElement element, long dataLength, string path)
    {
        string where = $"{path}: tensor '{name}'";
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{where} is described by a JSON {element.ValueKind}, not an object.");
        }

        if (!element.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw new InvalidDataException($"{where} has no 'dtype' string.");
        }
        string dtypeText = dtypeElement.GetString()!;
        if (!SafeTensorsDTypes.TryParse(dtypeText, out var dtype))
        {
            throw new InvalidDataException(
                $"{where} has unknown dtype '{dtypeText}'; known: {string.Join(", ", Enum.GetNames<SafeTensorsDType>())}.");
        }

        if (!element.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"{where} has no 'shape' array.");
        }
        var shape = new int[shapeElement.GetArrayLength()];
        long elementCount = 1;
        int axis = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt32(out int size) || size < 0)
            {
                throw new InvalidDataException(
                    $"{where} has dimension {axis} = {dim.GetRawText()}, which is not an integer from 0 to {int.MaxValue}.");
            }
            shape[axis++] = size;

            // more elements than data bytes can never fit; testing by division keeps the product from overflowing
            if (size != 0 && elementCount > dataLength / size)
            {
                throw new InvalidDataException(
                    $"{where} has shape {shapeElement.GetRawText()}, more elements than the {dataLength} data bytes of the file.");
            }
            elementCount *= size;
        }

        if (!element.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
        {
            throw new InvalidDataException($"{where} has no 'data_offsets' pair [begin, end].");
        }
        long begin = ReadOffset(offsetsElement[0], where);
        long end = ReadOffset(offsetsElement[1], where);
        if (end < begin)
        {
            throw new InvalidDataException($"{where} has data_offsets [{begin}, {end}], which end before they begin.");
        }
        if (end > dataLength)
        {
            throw new InvalidDataException(
                $"{where} has data_offsets [{begin}, {end}] but the data section has only {dataLength} bytes; the file is truncated.");
        }
        long expectedBytes = elementCount * dtype.ElementSize();
        if (end - begin != expectedBytes)
        {
            throw new InvalidDataException(
                $"{where} has data_offsets [{begin}, {end}] ({end - begin} bytes) but shape {Tensor<float>.FormatShape(shape)} of {dtype} needs {expectedBytes} bytes.");
        }

        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    private static long ReadOffset(JsonElement element, string where)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out long value) || value < 0)
        {
            throw new InvalidDataException($"{where} has data offset {element.GetRawText()}, which is not a non-negative integer.");
        }
        return value;
    }

    private static void CheckNoOverlap(IEnumerable<SafeTensorInfo> tensors, string path)
    {
        SafeTensorInfo? previous = null;
        foreach (var info in tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.DataBegin))
        {
            if (previous is not null && info.DataBegin < previous.DataEnd)
            {
                throw new InvalidDataException(
                    $"{path}: tensors '{previous.Name}' (bytes {previous.DataBegin} to {previous.DataEnd}) and '{info.Name}' (bytes {info.DataBegin} to {info.DataEnd}) overlap.");
            }
            previous = info;
        }
    }
}
