using System.Numerics;
using DiTNet.Models;
using DiTNet.Tensors;

namespace DiTNet.FlowMatching;

/// <summary>
/// A network that predicts the flow-matching velocity from a noisy mel and its conditions, with a
/// backward pass into its parameters: the contract the loss, the sampler and the trainer rely on.
/// </summary>
public interface IVelocityModel<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Whether dropout (or any other training-only randomness) is active.</summary>
    bool Training { get; set; }

    /// <summary>The stream training-time dropout draws from; its state is part of a training checkpoint.</summary>
    RandomSource DropoutRandom { get; }

    /// <summary>Runs the model on channels-first inputs.</summary>
    /// <param name="x">Noisy mel: <c>[B, M, N]</c>.</param>
    /// <param name="mask">1 for real frames, 0 for padding: <c>[B, 1, N]</c>.</param>
    /// <param name="mu">Condition: <c>[B, U, N]</c>.</param>
    /// <param name="t">Flow time: <c>[B]</c>.</param>
    /// <param name="spks">Speaker embedding: <c>[B, S]</c>.</param>
    /// <param name="cond">Prompt mel, zero where absent: <c>[B, M, N]</c>.</param>
    /// <param name="streaming">Whether to use the streaming (chunk) attention mask.</param>
    /// <returns>The predicted velocity <c>[B, M, N]</c>, a buffer owned by the model and overwritten by the next call.</returns>
    Tensor<T> Forward(Tensor<T> x, Tensor<T> mask, Tensor<T> mu, Tensor<T> t, Tensor<T> spks, Tensor<T> cond, bool streaming = false);

    /// <summary>Back-propagates the gradient of the last forward pass's output.</summary>
    /// <param name="outputGradient">dOutput: <c>[B, M, N]</c>.</param>
    /// <param name="inputGradients">Where to add input gradients, or null.</param>
    /// <remarks>Adds into parameter and input gradients; the caller zeroes them between steps.</remarks>
    void Backward(Tensor<T> outputGradient, DiTInputGradients<T>? inputGradients = null);
}
