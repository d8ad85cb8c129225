using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// Multi-head self-attention with rotary positions on the first head, the padding and streaming
/// masks, dropout after the output projection and zeroed padding rows.
/// </summary>
public sealed class Attention<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the layer; parameters are named <c>{name}.to_q.weight</c> and so on.</summary>
    public Attention(string name, int dim, int heads, int dimHead, double dropout)
    {
        ToQ = new Linear<T>(name + ".to_q", dim, heads * dimHead);
        ToK = new Linear<T>(name + ".to_k", dim, heads * dimHead);
        ToV = new Linear<T>(name + ".to_v", dim, heads * dimHead);
        ToOut = new Linear<T>(name + ".to_out.0", heads * dimHead, dim);
        Heads = heads;
        DimHead = dimHead;
        Dropout = new Dropout<T>(dropout);
    }

    /// <summary>H, the number of heads.</summary>
    public int Heads { get; }

    /// <summary>Dh, the width of one head.</summary>
    public int DimHead { get; }

    /// <summary>The query projection, <c>Linear(D, H·Dh)</c>.</summary>
    public Linear<T> ToQ { get; }

    /// <summary>The key projection, <c>Linear(D, H·Dh)</c>.</summary>
    public Linear<T> ToK { get; }

    /// <summary>The value projection, <c>Linear(D, H·Dh)</c>.</summary>
    public Linear<T> ToV { get; }

    /// <summary>The output projection, <c>Linear(H·Dh, D)</c>.</summary>
    public Linear<T> ToOut { get; }

    /// <summary>The dropout after the output projection.</summary>
    public Dropout<T> Dropout { get; }

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters =>
        ToQ.Parameters.Concat(ToK.Parameters).Concat(ToV.Parameters).Concat(ToOut.Parameters);

    /// <summary>Attends over the frames of each item.</summary>
    /// <param name="input">a: <c>[B, N, D]</c>; kept by reference for the backward pass.</param>
    /// <returns><c>[B, N, D]</c>, a buffer owned by the layer.</returns>
    public Tensor<T> Forward(Tensor<T> input, AttentionMask mask, RotaryEmbedding<T> rotary, bool training, RandomSource random, int threads = 0)
        => throw new NotSupportedException("Attention is not implemented yet.");

    /// <summary>Back-propagates through the last forward pass.</summary>
    /// <param name="outputGradient">dOut: <c>[B, N, D]</c>.</param>
    /// <param name="inputGradient">dA: <c>[B, N, D]</c>, added into.</param>
    public void Backward(Tensor<T> outputGradient, Tensor<T> inputGradient, int threads = 0)
        => throw new NotSupportedException("Attention is not implemented yet.");
}
