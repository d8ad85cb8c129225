namespace DiTNet.IO;

/// <summary>The element types of the safetensors format, spelled as in its header.</summary>
public enum SafeTensorsDType
{
    /// <summary>IEEE 754 binary64.</summary>
    F64,

    /// <summary>IEEE 754 binary32.</summary>
    F32,

    /// <summary>IEEE 754 binary16.</summary>
    F16,

    /// <summary>bfloat16: the upper 16 bits of a binary32.</summary>
    BF16,

    /// <summary>Signed 64-bit integer.</summary>
    I64,

    /// <summary>Signed 32-bit integer.</summary>
    I32,

    /// <summary>Signed 16-bit integer.</summary>
    I16,

    /// <summary>Signed 8-bit integer.</summary>
    I8,

    /// <summary>Unsigned 64-bit integer.</summary>
    U64,

    /// <summary>Unsigned 32-bit integer.</summary>
    U32,

    /// <summary>Unsigned 16-bit integer.</summary>
    U16,

    /// <summary>Unsigned 8-bit integer.</summary>
    U8,

    /// <summary>Boolean, one byte per value; any nonzero byte reads as true.</summary>
    BOOL,

    /// <summary>8-bit float with 4 exponent and 3 mantissa bits; recognized in headers but not converted.</summary>
    F8_E4M3,

    /// <summary>8-bit float with 5 exponent and 2 mantissa bits; recognized in headers but not converted.</summary>
    F8_E5M2,
}

/// <summary>Sizes and names of <see cref="SafeTensorsDType"/> values.</summary>
public static class SafeTensorsDTypes
{
    /// <summary>Returns the size of one element in bytes.</summary>
    public static int ElementSize(this SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F64 or SafeTensorsDType.I64 or SafeTensorsDType.U64 => 8,
        SafeTensorsDType.F32 or SafeTensorsDType.I32 or SafeTensorsDType.U32 => 4,
        SafeTensorsDType.F16 or SafeTensorsDType.BF16 or SafeTensorsDType.I16 or SafeTensorsDType.U16 => 2,
        SafeTensorsDType.I8 or SafeTensorsDType.U8 or SafeTensorsDType.BOOL
            or SafeTensorsDType.F8_E4M3 or SafeTensorsDType.F8_E5M2 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>Returns whether the type is one of F64, F32, F16 and BF16, which read as float or double.</summary>
    public static bool IsConvertibleFloat(this SafeTensorsDType dtype) =>
        dtype is SafeTensorsDType.F64 or SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16;

    /// <summary>Parses a header dtype string such as <c>"F32"</c>; the match is exact, as the format spells them in capitals.</summary>
    public static bool TryParse(string text, out SafeTensorsDType dtype)
    {
        dtype = text switch
        {
            "F64" => SafeTensorsDType.F64,
            "F32" => SafeTensorsDType.F32,
            "F16" => SafeTensorsDType.F16,
            "BF16" => SafeTensorsDType.BF16,
            "I64" => SafeTensorsDType.I64,
            "I32" => SafeTensorsDType.I32,
            "I16" => SafeTensorsDType.I16,
            "I8" => SafeTensorsDType.I8,
            "U64" => SafeTensorsDType.U64,
            "U32" => SafeTensorsDType.U32,
            "U16" => SafeTensorsDType.U16,
            "U8" => SafeTensorsDType.U8,
            "BOOL" => SafeTensorsDType.BOOL,
            "F8_E4M3" => SafeTensorsDType.F8_E4M3,
            "F8_E5M2" => SafeTensorsDType.F8_E5M2,
            _ => (SafeTensorsDType)(-1),
        };
        return (int)dtype >= 0;
    }
}
