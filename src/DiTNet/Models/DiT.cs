using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Models;

/// <summary>Gradients with respect to the DiT's inputs; a null member is not computed.</summary>
/// <remarks>Backward adds into these tensors; the caller zeroes them.</remarks>
public sealed class DiTInputGradients<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>dX: <c>[B, M, N]</c>.</summary>
    public Tensor<T>? X { get; init; }

    /// <summary>dMu: <c>[B, U, N]</c>.</summary>
    public Tensor<T>? Mu { get; init; }

    /// <summary>dT: <c>[B]</c>.</summary>
    public Tensor<T>? Time { get; init; }

    /// <summary>dSpks: <c>[B, S]</c>.</summary>
    public Tensor<T>? Spks { get; init; }

    /// <summary>dCond: <c>[B, M, N]</c>.</summary>
    public Tensor<T>? Cond { get; init; }
}

/// <summary>
/// The CosyVoice 3 Diffusion Transformer: timestep and input embeddings, L DiT blocks with rotary
/// attention, an optional long skip, the final adaptive norm and the output projection.
/// </summary>
public sealed class DiT<T> : IParameterized<T>, FlowMatching.IVelocityModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a model with zero parameters; call <see cref="Initialize"/> or load a checkpoint.</summary>
    public DiT(DiTConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
    }

    /// <summary>The hyper-parameters.</summary>
    public DiTConfig Config { get; }

    /// <summary>Threads for matrix products; 0 uses all cores.</summary>
    public int Threads { get; set; }

    /// <summary>Whether dropout is active.</summary>
    public bool Training { get; set; }

    /// <summary>The stream dropout draws from; its state is part of a training checkpoint.</summary>
    public RandomSource DropoutRandom { get; } = new(0);

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters => throw new NotSupportedException("DiT is not implemented yet.");

    /// <summary>Draws every weight as PyTorch's default initialization does and sets the rotary frequencies.</summary>
    public void Initialize(int seed) => throw new NotSupportedException("DiT is not implemented yet.");

    /// <summary>Runs the model on channels-first inputs.</summary>
    /// <param name="x">Noisy mel: <c>[B, M, N]</c>.</param>
    /// <param name="mask">1 for real frames, 0 for padding: <c>[B, 1, N]</c>.</param>
    /// <param name="mu">Condition: <c>[B, U, N]</c>.</param>
    /// <param name="t">Flow time: <c>[B]</c>.</param>
    /// <param name="spks">Speaker embedding: <c>[B, S]</c>.</param>
    /// <param name="cond">Prompt mel, zero where absent: <c>[B, M, N]</c>.</param>
    /// <param name="streaming">Whether to use the chunk mask of <see cref="DiTConfig.StaticChunkSize"/>.</param>
    /// <returns>The predicted velocity <c>[B, M, N]</c>, a buffer owned by the model and overwritten by the next call.</returns>
    public Tensor<T> Forward(Tensor<T> x, Tensor<T> mask, Tensor<T> mu, Tensor<T> t, Tensor<T> spks, Tensor<T> cond, bool streaming = false)
        => throw new NotSupportedException("DiT is not implemented yet.");

    /// <summary>Back-propagates the gradient of the last forward pass's output.</summary>
    /// <param name="outputGradient">dOutput: <c>[B, M, N]</c>.</param>
    /// <param name="inputGradients">Where to add input gradients, or null.</param>
    /// <remarks>Adds into parameter and input gradients; the caller zeroes them between steps.</remarks>
    public void Backward(Tensor<T> outputGradient, DiTInputGradients<T>? inputGradients = null)
        => throw new NotSupportedException("DiT is not implemented yet.");

    /// <summary>Sets every parameter gradient to zero.</summary>
    public void ZeroGradients()
    {
        foreach (var parameter in Parameters)
        {
            parameter.Gradient.Clear();
        }
    }
}
