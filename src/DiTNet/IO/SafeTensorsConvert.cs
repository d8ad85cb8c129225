using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace DiTNet.IO;

/// <summary>Converts between stored little-endian bytes and float or double values.</summary>
internal static class SafeTensorsConvert
{
    /// <summary>Returns whether <typeparamref name="T"/> has the same bytes as <paramref name="dtype"/> on this machine, so bytes can be copied as they are.</summary>
    public static bool IsNative<T>(SafeTensorsDType dtype) where T : unmanaged =>
        BitConverter.IsLittleEndian
        && ((typeof(T) == typeof(float) && dtype == SafeTensorsDType.F32)
            || (typeof(T) == typeof(double) && dtype == SafeTensorsDType.F64));

    /// <summary>Decodes <paramref name="destination"/>.Length values of <paramref name="dtype"/> from <paramref name="source"/>.</summary>
    public static void Decode<T>(ReadOnlySpan<byte> source, SafeTensorsDType dtype, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(source.Length == destination.Length * dtype.ElementSize());
        if (IsNative<T>(dtype))
        {
            source.CopyTo(MemoryMarshal.AsBytes(destination));
            return;
        }
        switch (dtype)
        {
            case SafeTensorsDType.F64:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = T.CreateTruncating(BinaryPrimitives.ReadDoubleLittleEndian(source.Slice(8 * i)));
                }
                break;
            case SafeTensorsDType.F32:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = T.CreateTruncating(BinaryPrimitives.ReadSingleLittleEndian(source.Slice(4 * i)));
                }
                break;
            case SafeTensorsDType.F16 when typeof(T) == typeof(float) && BitConverter.IsLittleEndian:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), MemoryMarshal.Cast<T, float>(destination));
                break;
            case SafeTensorsDType.F16:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = T.CreateTruncating((float)BinaryPrimitives.ReadHalfLittleEndian(source.Slice(2 * i)));
                }
                break;
            case SafeTensorsDType.BF16:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = T.CreateTruncating(BFloat16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source.Slice(2 * i))));
                }
                break;
            default:
                throw new UnreachableException($"Decode called with {dtype}, which is not a float type.");
        }
    }

    /// <summary>Encodes <paramref name="source"/> as <paramref name="dtype"/> into <paramref name="destination"/>, rounding to nearest even.</summary>
    public static void Encode<T>(ReadOnlySpan<T> source, SafeTensorsDType dtype, Span<byte> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(destination.Length == source.Length * dtype.ElementSize());
        if (IsNative<T>(dtype))
        {
            MemoryMarshal.AsBytes(source).CopyTo(destination);
            return;
        }
        switch (dtype)
        {
            case SafeTensorsDType.F64:
                for (int i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteDoubleLittleEndian(destination.Slice(8 * i), double.CreateTruncating(source[i]));
                }
                break;
            case SafeTensorsDType.F32:
                for (int i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(destination.Slice(4 * i), float.CreateTruncating(source[i]));
                }
                break;
            case SafeTensorsDType.F16 when typeof(T) == typeof(float) && BitConverter.IsLittleEndian:
                // rounds to nearest even, as the (Half) conversion does
                TensorPrimitives.ConvertToHalf(MemoryMarshal.Cast<T, float>(source), MemoryMarshal.Cast<byte, Half>(destination));
                break;
            case SafeTensorsDType.F16:
                for (int i = 0; i < source.Length; i++)
                {
                    // Half's conversion from double rounds once, so a double source is not rounded twice
                    BinaryPrimitives.WriteHalfLittleEndian(destination.Slice(2 * i), (Half)double.CreateTruncating(source[i]));
                }
                break;
            case SafeTensorsDType.BF16 when typeof(T) == typeof(float):
                ReadOnlySpan<float> floats = MemoryMarshal.Cast<T, float>(source);
                for (int i = 0; i < floats.Length; i++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(2 * i), SingleToBFloat16(floats[i]));
                }
                break;
            case SafeTensorsDType.BF16:
                for (int i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(2 * i), DoubleToBFloat16(double.CreateTruncating(source[i])));
                }
                break;
            default:
                throw new UnreachableException($"Encode called with {dtype}, which is not a float type.");
        }
    }

    /// <summary>Widens bfloat16 bits to a float exactly.</summary>
    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Rounds a float to bfloat16 bits, to nearest with ties to even; a NaN stays a (quiet) NaN.</summary>
    public static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            // keep the sign and set the quiet bit, because truncating could leave an all-zero mantissa, which is infinity
            return (ushort)((bits >> 16) | 0x0040);
        }
        uint roundingBias = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>Rounds a double to bfloat16 bits once, to nearest with ties to even.</summary>
    public static ushort DoubleToBFloat16(double value)
    {
        float single = (float)value;
        uint bits = BitConverter.SingleToUInt32Bits(single);

        // Rounding to float and then to bfloat16 equals rounding once, except when the float lands
        // exactly on a bfloat16 midpoint. There the discarded part of the double decides the direction.
        if ((bits & 0xFFFF) == 0x8000 && (double)single != value && float.IsFinite(single))
        {
            bool roundAway = Math.Abs(value) > Math.Abs((double)single);
            return (ushort)((bits >> 16) + (roundAway ? 1u : 0u));
        }
        return SingleToBFloat16(single);
    }
}
