using System.Numerics;
using DiTNet.Kernels;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// Layer normalization over the last axis without affine parameters: biased variance and
/// epsilon 1e-6, as PyTorch's <c>LayerNorm(D, elementwise_affine=False, eps=1e-6)</c>.
/// </summary>
public sealed class LayerNorm<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T> _output = new(0);
    private readonly Tensor<T> _mean = new(0);
    private readonly Tensor<T> _rstd = new(0);
    private Tensor<T>? _input;

    /// <summary>Creates a layer norm over rows of width <paramref name="dim"/>.</summary>
    public LayerNorm(int dim)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        Dim = dim;
    }

    /// <summary>D, the normalized width.</summary>
    public int Dim { get; }

    /// <summary>Normalizes every row of <paramref name="input"/>.</summary>
    /// <param name="input">x: <c>[B, N, D]</c> or any shape ending in D; kept by reference for the backward pass.</param>
    /// <returns>y: shaped like the input, a buffer owned by the layer and overwritten by the next call.</returns>
    /// <exception cref="ArgumentException">The last dimension of <paramref name="input"/> is not D.</exception>
    public Tensor<T> Forward(Tensor<T> input)
    {
        ShapeCheck.RequireWidth(input, nameof(input), Math.Max(input.Rank, 1), Dim);
        int rows = input.Length / Dim;
        _output.EnsureShape(input.Shape);
        _mean.EnsureShape(rows);
        _rstd.EnsureShape(rows);
        for (int r = 0; r < rows; r++)
        {
            (_mean[r], _rstd[r]) = Norms.LayerNormModulate<T>(input.Row(r), [], [], _output.Row(r));
        }
        _input = input;
        return _output;
    }

    /// <summary>Back-propagates through the last forward pass.</summary>
    /// <param name="outputGradient">dY: shaped like the last output.</param>
    /// <param name="inputGradient">dX: shaped like the last input, added into.</param>
    /// <remarks>Adds into <paramref name="inputGradient"/>; the caller zeroes it.</remarks>
    /// <exception cref="ArgumentException">A gradient's shape differs from the last forward pass's.</exception>
    public void Backward(Tensor<T> outputGradient, Tensor<T> inputGradient)
    {
        if (_input is null)
        {
            throw new InvalidOperationException("Backward was called before Forward.");
        }
        ShapeCheck.Require(outputGradient, nameof(outputGradient), _output.Shape);
        ShapeCheck.Require(inputGradient, nameof(inputGradient), _input.Shape);
        int rows = _input.Length / Dim;
        for (int r = 0; r < rows; r++)
        {
            Norms.LayerNormModulateBackward<T>(_input.Row(r), _mean[r], _rstd[r], [], outputGradient.Row(r),
                inputGradient.Row(r), [], []);
        }
    }
}
