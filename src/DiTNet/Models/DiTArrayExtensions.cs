using System.Numerics;
using DiTNet.Tensors;
using SystemTensors = System.Numerics.Tensors;

namespace DiTNet.Models;

/// <summary>
/// Runs a <see cref="DiT{T}"/> on flat arrays or on <see cref="SystemTensors.Tensor{T}"/> values, for callers who do
/// not use DiTNet's own tensor type.
/// </summary>
/// <remarks>
/// Every input is row-major and channels-first, as in PyTorch: x <c>[B, M, N]</c>, mask
/// <c>[B, 1, N]</c>, mu <c>[B, U, N]</c>, t <c>[B]</c>, spks <c>[B, S]</c>, cond <c>[B, M, N]</c>.
/// The results are new arrays or tensors that the caller owns.
/// </remarks>
public static class DiTArrayExtensions
{
    /// <summary>Runs the model on flat row-major arrays.</summary>
    /// <param name="x">Noisy mel: <c>[B, M, N]</c>.</param>
    /// <param name="mask">1 for real frames, 0 for padding: <c>[B, 1, N]</c>.</param>
    /// <param name="mu">Condition: <c>[B, U, N]</c>.</param>
    /// <param name="t">Flow time: <c>[B]</c>.</param>
    /// <param name="spks">Speaker embedding: <c>[B, S]</c>.</param>
    /// <param name="cond">Prompt mel, zero where absent: <c>[B, M, N]</c>.</param>
    /// <param name="batch">B.</param>
    /// <param name="frames">N.</param>
    /// <param name="streaming">Whether to use the chunk mask of <see cref="DiTConfig.StaticChunkSize"/>.</param>
    /// <returns>The predicted velocity <c>[B, M, N]</c> in a new array.</returns>
    /// <remarks>The arrays are wrapped, not copied, and the model keeps references for <see cref="Backward{T}"/>: leave them unchanged until then.</remarks>
    /// <exception cref="ArgumentException">An array's length is not the product of its shape.</exception>
    public static T[] Forward<T>(this DiT<T> model, T[] x, T[] mask, T[] mu, T[] t, T[] spks, T[] cond, int batch, int frames, bool streaming = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frames);
        var config = model.Config;
        var output = model.Forward(
            Wrap(x, nameof(x), batch, config.MelDim, frames),
            Wrap(mask, nameof(mask), batch, 1, frames),
            Wrap(mu, nameof(mu), batch, config.MuDim, frames),
            Wrap(t, nameof(t), batch),
            Wrap(spks, nameof(spks), batch, config.SpkDim),
            Wrap(cond, nameof(cond), batch, config.MelDim, frames),
            streaming);
        return output.ToArray();
    }

    /// <summary>Back-propagates the gradient of the last forward pass's output, given as a flat array.</summary>
    /// <param name="outputGradient">dOutput: <c>[B, M, N]</c>.</param>
    /// <param name="batch">B of the last forward pass.</param>
    /// <param name="frames">N of the last forward pass.</param>
    /// <param name="dX">Where to add dX <c>[B, M, N]</c>, or null.</param>
    /// <param name="dMu">Where to add dMu <c>[B, U, N]</c>, or null.</param>
    /// <param name="dTime">Where to add dT <c>[B]</c>, or null.</param>
    /// <param name="dSpks">Where to add dSpks <c>[B, S]</c>, or null.</param>
    /// <param name="dCond">Where to add dCond <c>[B, M, N]</c>, or null.</param>
    /// <remarks>Adds into the given arrays and the parameter gradients; the caller zeroes them between steps.</remarks>
    /// <exception cref="ArgumentException">An array's length is not the product of its shape.</exception>
    public static void Backward<T>(this DiT<T> model, T[] outputGradient, int batch, int frames,
        T[]? dX = null, T[]? dMu = null, T[]? dTime = null, T[]? dSpks = null, T[]? dCond = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var config = model.Config;
        var gradients = new DiTInputGradients<T>
        {
            X = dX is null ? null : Wrap(dX, nameof(dX), batch, config.MelDim, frames),
            Mu = dMu is null ? null : Wrap(dMu, nameof(dMu), batch, config.MuDim, frames),
            Time = dTime is null ? null : Wrap(dTime, nameof(dTime), batch),
            Spks = dSpks is null ? null : Wrap(dSpks, nameof(dSpks), batch, config.SpkDim),
            Cond = dCond is null ? null : Wrap(dCond, nameof(dCond), batch, config.MelDim, frames),
        };
        model.Backward(Wrap(outputGradient, nameof(outputGradient), batch, config.MelDim, frames), gradients);
    }

    /// <summary>Runs the model on System.Numerics.Tensors spans, which may be strided.</summary>
    /// <param name="x">Noisy mel: <c>[B, M, N]</c>.</param>
    /// <param name="mask">1 for real frames, 0 for padding: <c>[B, 1, N]</c>.</param>
    /// <param name="mu">Condition: <c>[B, U, N]</c>.</param>
    /// <param name="t">Flow time: <c>[B]</c>.</param>
    /// <param name="spks">Speaker embedding: <c>[B, S]</c>.</param>
    /// <param name="cond">Prompt mel, zero where absent: <c>[B, M, N]</c>.</param>
    /// <param name="streaming">Whether to use the chunk mask of <see cref="DiTConfig.StaticChunkSize"/>.</param>
    /// <returns>The predicted velocity <c>[B, M, N]</c> as a new dense tensor.</returns>
    /// <remarks>The inputs are copied, so they may change after the call.</remarks>
    /// <exception cref="ArgumentException">An input's shape does not match x's B and N and the model's widths.</exception>
    public static SystemTensors.Tensor<T> Forward<T>(this DiT<T> model,
        SystemTensors.ReadOnlyTensorSpan<T> x, SystemTensors.ReadOnlyTensorSpan<T> mask, SystemTensors.ReadOnlyTensorSpan<T> mu,
        SystemTensors.ReadOnlyTensorSpan<T> t, SystemTensors.ReadOnlyTensorSpan<T> spks, SystemTensors.ReadOnlyTensorSpan<T> cond,
        bool streaming = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        if (x.Rank != 3)
        {
            throw new ArgumentException($"x must be [B, M, N], got {FormatLengths(x.Lengths)}.", nameof(x));
        }
        int batch = checked((int)x.Lengths[0]);
        int frames = checked((int)x.Lengths[2]);
        var config = model.Config;
        var output = model.Forward(
            Copy(x, nameof(x), batch, config.MelDim, frames),
            Copy(mask, nameof(mask), batch, 1, frames),
            Copy(mu, nameof(mu), batch, config.MuDim, frames),
            Copy(t, nameof(t), batch),
            Copy(spks, nameof(spks), batch, config.SpkDim),
            Copy(cond, nameof(cond), batch, config.MelDim, frames),
            streaming);
        return SystemTensors.Tensor.Create(output.ToArray(), [batch, config.MelDim, frames]);
    }

    private static Tensor<T> Wrap<T>(T[] values, string name, params int[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(values, name);
        long expected = 1;
        foreach (int dim in shape)
        {
            expected *= dim;
        }
        if (values.Length != expected)
        {
            throw new ArgumentException(
                $"{name} has {values.Length} elements but its shape {Tensor<T>.FormatShape(shape)} needs {expected}.", name);
        }
        return new Tensor<T>(values, shape);
    }

    private static Tensor<T> Copy<T>(SystemTensors.ReadOnlyTensorSpan<T> values, string name, params int[] shape) where T : unmanaged
    {
        ReadOnlySpan<nint> lengths = values.Lengths;
        bool matches = lengths.Length == shape.Length;
        for (int axis = 0; matches && axis < shape.Length; axis++)
        {
            matches = lengths[axis] == shape[axis];
        }
        if (!matches)
        {
            throw new ArgumentException(
                $"{name} must have shape {Tensor<T>.FormatShape(shape)} to match x and the model, got {FormatLengths(lengths)}.", name);
        }
        var tensor = new Tensor<T>(shape);
        values.FlattenTo(tensor.Span);
        return tensor;
    }

    private static string FormatLengths(ReadOnlySpan<nint> lengths)
    {
        var dims = new int[lengths.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            dims[i] = (int)lengths[i];
        }
        return Tensor<int>.FormatShape(dims);
    }
}
