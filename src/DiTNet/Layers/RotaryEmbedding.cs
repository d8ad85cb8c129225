using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// Rotary position embedding with interleaved pairs, applied to the first head's channels only.
/// Owns the buffer <c>rotary_embed.inv_freq</c> <c>[Dh/2]</c>.
/// </summary>
public sealed class RotaryEmbedding<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the embedding for heads of width <paramref name="dimHead"/>.</summary>
    public RotaryEmbedding(int dimHead)
    {
        DimHead = dimHead;
        InvFreq = new Parameter<T>("rotary_embed.inv_freq", [dimHead / 2], trainable: false);
    }

    /// <summary>Dh, the width of one head.</summary>
    public int DimHead { get; }

    /// <summary>The inverse frequencies <c>1 / 10000^(2j / Dh)</c>, a buffer that is loaded but not trained.</summary>
    public Parameter<T> InvFreq { get; }

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters => [InvFreq];

    /// <summary>Sets <see cref="InvFreq"/> to its defining values.</summary>
    public void Initialize() => throw new NotSupportedException("RotaryEmbedding is not implemented yet.");
}
