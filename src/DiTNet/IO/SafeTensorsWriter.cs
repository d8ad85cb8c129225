using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Text.Json;
using DiTNet.Tensors;

namespace DiTNet.IO;

/// <summary>
/// Collects tensors of mixed types and writes them as one safetensors file.
/// </summary>
/// <remarks>
/// The writer keeps references, not copies: a tensor must not change between <c>Add</c> and
/// <see cref="Write"/>. Tensors are laid out in ordinal name order. The file is written to a
/// temporary file in the same folder and then renamed over the target, so an interrupted
/// write leaves any existing file as it was.
/// </remarks>
public sealed class SafeTensorsWriter
{
    private const int ChunkBytes = 1 << 20;
    private readonly SortedDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>The number of tensors added.</summary>
    public int Count => _entries.Count;

    /// <summary>Adds a float tensor, stored as <paramref name="storeAs"/> (F64, F32, F16 or BF16) with rounding to nearest even.</summary>
    /// <exception cref="ArgumentException">The name is empty, reserved or already added, or <paramref name="storeAs"/> is not a float type.</exception>
    public SafeTensorsWriter Add<T>(string name, Tensor<T> tensor, SafeTensorsDType storeAs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!storeAs.IsConvertibleFloat())
        {
            throw new ArgumentException($"Tensor '{name}' cannot be stored as {storeAs}; float tensors are stored as F64, F32, F16 or BF16.", nameof(storeAs));
        }
        int[] shape = tensor.Shape.ToArray();
        return AddEntry(name, storeAs, shape, (destination, start, count) => SafeTensorsConvert.Encode<T>(tensor.Span.Slice(start, count), storeAs, destination));
    }

    /// <summary>Adds a float tensor stored in its own precision: F32 for float, F64 for double.</summary>
    public SafeTensorsWriter Add<T>(string name, Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T> =>
        Add(name, tensor, NativeDType<T>());

    /// <summary>Adds a BOOL tensor, one byte per value.</summary>
    /// <param name="shape">The dimensions; their product must equal the number of values.</param>
    public SafeTensorsWriter AddBool(string name, bool[] values, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        CheckCount(name, values.Length, shape);
        return AddEntry(name, SafeTensorsDType.BOOL, shape, (destination, start, count) =>
        {
            for (int i = 0; i < count; i++)
            {
                destination[i] = values[start + i] ? (byte)1 : (byte)0;
            }
        });
    }

    /// <summary>Adds an I64 tensor.</summary>
    /// <param name="shape">The dimensions; their product must equal the number of values.</param>
    public SafeTensorsWriter AddInt64(string name, long[] values, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        CheckCount(name, values.Length, shape);
        return AddEntry(name, SafeTensorsDType.I64, shape, (destination, start, count) =>
        {
            for (int i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(destination.Slice(8 * i), values[start + i]);
            }
        });
    }

    /// <summary>Adds an I32 tensor.</summary>
    /// <param name="shape">The dimensions; their product must equal the number of values.</param>
    public SafeTensorsWriter AddInt32(string name, int[] values, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        CheckCount(name, values.Length, shape);
        return AddEntry(name, SafeTensorsDType.I32, shape, (destination, start, count) =>
        {
            for (int i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(destination.Slice(4 * i), values[start + i]);
            }
        });
    }

    /// <summary>Adds a tensor from bytes already in the stored layout of <paramref name="dtype"/>, e.g. copied from another file.</summary>
    public SafeTensorsWriter AddRaw(string name, SafeTensorsDType dtype, int[] shape, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        long expected = CountElements(name, shape) * dtype.ElementSize();
        if (bytes.Length != expected)
        {
            throw new ArgumentException(
                $"Tensor '{name}' has {bytes.Length} bytes but shape {Tensor<float>.FormatShape(shape)} of {dtype} needs {expected}.", nameof(bytes));
        }
        int elementSize = dtype.ElementSize();
        return AddEntry(name, dtype, shape,
            (destination, start, count) => bytes.AsSpan(start * elementSize, count * elementSize).CopyTo(destination));
    }

    /// <summary>Writes every added tensor and the metadata to <paramref name="path"/>, replacing it atomically.</summary>
    /// <param name="metadata">Entries of the header's <c>__metadata__</c>, or null for none.</param>
    /// <exception cref="IOException">The file cannot be written; an existing file at <paramref name="path"/> is left unchanged.</exception>
    public void Write(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = System.IO.Path.GetFullPath(path);
        string folder = System.IO.Path.GetDirectoryName(fullPath)!;
        string temporary = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                WriteTo(stream, metadata);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            DeleteQuietly(temporary);
            throw;
        }
    }

    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // the folder itself may be missing or unwritable, which is what made the write fail; that error is the one to report
        }
        catch (UnauthorizedAccessException)
        {
            // as above
        }
    }

    /// <summary>Writes the file's bytes to <paramref name="stream"/>.</summary>
    public void WriteTo(Stream stream, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] header = BuildHeader(metadata);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);

        // encode through one bounded buffer, so a large tensor never needs a full-size byte copy
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            foreach (var entry in _entries.Values)
            {
                int elementSize = entry.DType.ElementSize();
                long elementCount = entry.ByteLength / elementSize;
                int chunkElements = ChunkBytes / elementSize;
                for (long start = 0; start < elementCount; start += chunkElements)
                {
                    int count = (int)Math.Min(chunkElements, elementCount - start);
                    Span<byte> bytes = buffer.AsSpan(0, count * elementSize);
                    entry.Encode(bytes, (int)start, count);
                    stream.Write(bytes);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private byte[] BuildHeader(IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata.OrderBy(pair => pair.Key, StringComparer.Ordinal))
                {
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }

            long offset = 0;
            foreach (var (name, entry) in _entries)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", entry.DType.ToString());
                json.WriteStartArray("shape");
                foreach (int dim in entry.Shape)
                {
                    json.WriteNumberValue(dim);
                }
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + entry.ByteLength);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += entry.ByteLength;
            }
            json.WriteEndObject();
        }

        // pad with spaces to a multiple of 8 bytes, as the reference writer does, so the data starts aligned
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private SafeTensorsWriter AddEntry(string name, SafeTensorsDType dtype, int[] shape, SpanAction encode)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name == "__metadata__")
        {
            throw new ArgumentException("The name '__metadata__' is reserved for the header's metadata.", nameof(name));
        }
        if (_entries.ContainsKey(name))
        {
            throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        }
        long byteLength = CountElements(name, shape) * dtype.ElementSize();
        _entries.Add(name, new Entry(dtype, (int[])shape.Clone(), byteLength, encode));
        return this;
    }

    private static long CountElements(string name, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long count = 1;
        foreach (int dim in shape)
        {
            if (dim < 0)
            {
                throw new ArgumentException($"Tensor '{name}' has a negative dimension in shape {Tensor<float>.FormatShape(shape)}.", nameof(shape));
            }
            count = checked(count * dim);
        }
        return count;
    }

    private static void CheckCount(string name, int count, int[] shape)
    {
        long expected = CountElements(name, shape);
        if (expected != count)
        {
            throw new ArgumentException(
                $"Tensor '{name}' has {count} values but shape {Tensor<float>.FormatShape(shape)} needs {expected}.", nameof(shape));
        }
    }

    internal static SafeTensorsDType NativeDType<T>() where T : unmanaged =>
        typeof(T) == typeof(double) ? SafeTensorsDType.F64
        : typeof(T) == typeof(float) ? SafeTensorsDType.F32
        : typeof(T) == typeof(Half) ? SafeTensorsDType.F16
        : throw new NotSupportedException($"{typeof(T).Name} has no safetensors dtype of its own; pass the dtype to store it as.");

    /// <summary>Encodes elements <paramref name="start"/> to <paramref name="start"/> + <paramref name="count"/> into <paramref name="destination"/>.</summary>
    private delegate void SpanAction(Span<byte> destination, int start, int count);

    private sealed record Entry(SafeTensorsDType DType, int[] Shape, long ByteLength, SpanAction Encode);
}

/// <summary>One-call writing of float tensors to a safetensors file.</summary>
public static class SafeTensors
{
    /// <summary>
    /// Writes float tensors, stored as F32 for float and F64 for double, replacing <paramref name="path"/> atomically.
    /// </summary>
    /// <param name="metadata">Entries of the header's <c>__metadata__</c>, or null for none.</param>
    /// <exception cref="ArgumentException">Two tensors share a name, or a name is empty or reserved.</exception>
    public static void Write<T>(string path, IEnumerable<KeyValuePair<string, Tensor<T>>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var writer = new SafeTensorsWriter();
        foreach (var (name, tensor) in tensors)
        {
            writer.Add(name, tensor);
        }
        writer.Write(path, metadata);
    }
}
