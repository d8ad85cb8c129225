using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// Which keys each query may attend to, built once per forward pass from the padding mask and
/// the streaming chunk size.
/// </summary>
public sealed class AttentionMask
{
    /// <summary>Builds the mask.</summary>
    /// <param name="mask">1 for real frames, 0 for padding: <c>[B, 1, N]</c>.</param>
    /// <param name="streaming">Whether each frame sees only its own chunk and the ones before it.</param>
    /// <param name="staticChunkSize">The chunk size; 0 makes streaming use the plain mask.</param>
    public static AttentionMask Build<T>(Tensor<T> mask, bool streaming, int staticChunkSize)
        where T : unmanaged, IFloatingPointIeee754<T>
        => throw new NotSupportedException("AttentionMask is not implemented yet.");

    /// <summary>B, the batch size.</summary>
    public int Batch { get; private init; }

    /// <summary>N, the frame count.</summary>
    public int Frames { get; private init; }

    /// <summary>Whether query <paramref name="i"/> of item <paramref name="b"/> may see key <paramref name="j"/>.</summary>
    public bool Allowed(int b, int i, int j) => throw new NotSupportedException("AttentionMask is not implemented yet.");

    /// <summary>Whether the attention output row <paramref name="i"/> of item <paramref name="b"/> is kept (padding rows are zeroed).</summary>
    public bool QueryValid(int b, int i) => throw new NotSupportedException("AttentionMask is not implemented yet.");
}
