using System.Numerics;
using DiTNet.Kernels;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// The block's feed-forward network: <c>Linear(D, F) → GELU (tanh approximation) → dropout → Linear(F, D)</c>.
/// </summary>
public sealed class FeedForward<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // activation: GELU of the first projection, then dropout, [B, N, F]; dActivation: its gradient
    private readonly Tensor<T> _activation = new(0);
    private readonly Tensor<T> _dActivation = new(0);
    private Tensor<T>? _preActivation;

    // GELU and its derivative run on row ranges among the kernel threads; the delegates are made once
    private readonly Action<int, int> _geluRows;
    private readonly Action<int, int> _geluGradientRows;

    /// <summary>Creates the layer; parameters are named <c>{name}.ff.0.0.*</c> and <c>{name}.ff.2.*</c>, as in PyTorch.</summary>
    public FeedForward(string name, int dim, int innerDim, double dropout)
    {
        In = new Linear<T>(name + ".ff.0.0", dim, innerDim);
        Out = new Linear<T>(name + ".ff.2", innerDim, dim);
        Dropout = new Dropout<T>(dropout);
        _geluRows = GeluRows;
        _geluGradientRows = GeluGradientRows;
    }

    /// <summary>The first projection, <c>Linear(D, F)</c>.</summary>
    public Linear<T> In { get; }

    /// <summary>The second projection, <c>Linear(F, D)</c>.</summary>
    public Linear<T> Out { get; }

    /// <summary>The dropout between the activation and the second projection.</summary>
    public Dropout<T> Dropout { get; }

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters => In.Parameters.Concat(Out.Parameters);

    /// <summary>Applies the network to every row.</summary>
    /// <param name="input">f: <c>[B, N, D]</c>; kept by reference for the backward pass.</param>
    /// <param name="training">Whether dropout is active.</param>
    /// <param name="random">The stream dropout draws from.</param>
    /// <returns><c>[B, N, D]</c>, a buffer owned by the layer.</returns>
    /// <exception cref="ArgumentException">The last dimension of <paramref name="input"/> is not D.</exception>
    public Tensor<T> Forward(Tensor<T> input, bool training, RandomSource random, int threads = 0)
    {
        ShapeCheck.RequireWidth(input, nameof(input), 3, In.InFeatures);

        // 1. first projection
        _preActivation = In.Forward(input, threads);

        // 2. GELU, then dropout
        _activation.EnsureShape(_preActivation.Shape);
        ParallelRanges.Run(_preActivation.Length / In.OutFeatures, In.OutFeatures, threads, _geluRows);
        Dropout.Forward(_activation.Span, training, random);

        // 3. second projection
        return Out.Forward(_activation, threads);
    }

    /// <summary>Back-propagates through the last forward pass.</summary>
    /// <param name="outputGradient">dOut: <c>[B, N, D]</c>.</param>
    /// <param name="inputGradient">dF: <c>[B, N, D]</c>, added into.</param>
    /// <remarks>Adds into <paramref name="inputGradient"/> and the parameter gradients; the caller zeroes them.</remarks>
    public void Backward(Tensor<T> outputGradient, Tensor<T> inputGradient, int threads = 0)
    {
        if (_preActivation is null)
        {
            throw new InvalidOperationException("Backward was called before Forward.");
        }

        // 3. second projection
        _dActivation.EnsureShape(_activation.Shape);
        _dActivation.Clear();
        Out.Backward(outputGradient, _dActivation, threads);

        // 2. dropout, then GELU, in place
        Dropout.Backward(_dActivation.Span);
        ParallelRanges.Run(_preActivation.Length / In.OutFeatures, In.OutFeatures, threads, _geluGradientRows);

        // 1. first projection
        In.Backward(_dActivation, inputGradient, threads);
    }

    // Rows [start, end) of the activation: GELU of the first projection.
    private void GeluRows(int start, int end)
    {
        int width = In.OutFeatures;
        Activations.GeluTanh<T>(_preActivation!.Span[(start * width)..(end * width)], _activation.Span[(start * width)..(end * width)]);
    }

    // Rows [start, end) of the activation gradient, in place: dPre = dAct·GELU'(pre).
    private void GeluGradientRows(int start, int end)
    {
        int width = In.OutFeatures;
        Span<T> gradient = _dActivation.Span[(start * width)..(end * width)];
        Activations.GeluTanhBackward<T>(_preActivation!.Span[(start * width)..(end * width)], gradient, gradient);
    }
}
