using System.Numerics;
using DiTNet.Kernels;
using DiTNet.Tensors;

namespace DiTNet.Layers;

/// <summary>
/// The timestep embedding: 256 sinusoidal features of <c>1000·t</c>, then
/// <c>Linear(256, D) → SiLU → Linear(D, D)</c>.
/// </summary>
/// <remarks>
/// The reference computes the frequencies <c>w_k = exp(k · −ln(10000)/127)</c> in float32 even when
/// the model runs in float64, and checkpoints were trained with those values, so this layer
/// rounds them the same way. The angles <c>a_k = 1000·t·w_k</c> reach about
/// 1000, where one float32 ulp is 6e-5; the features are therefore computed in double for every
/// <typeparamref name="T"/> and rounded once.
/// </remarks>
public sealed class TimestepEmbedding<T> : IParameterized<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The number of sinusoidal features: 128 sines, then 128 cosines.</summary>
    public const int FrequencyDim = 256;

    private const int Half = FrequencyDim / 2;
    private const double TimeScale = 1000;

    private static readonly double[] Frequencies = ComputeFrequencies();

    // features: [B, 256]; hidden: SiLU of the first projection, [B, D]
    private readonly Tensor<T> _features = new(0);
    private readonly Tensor<T> _hidden = new(0);
    private readonly Tensor<T> _dHidden = new(0);
    private readonly Tensor<T> _dFeatures = new(0);
    private double[] _times = [];
    private Tensor<T>? _preActivation;

    /// <summary>Creates the embedding; parameters are named <c>time_embed.time_mlp.0.*</c> and <c>time_embed.time_mlp.2.*</c>.</summary>
    public TimestepEmbedding(int dim)
    {
        Dim = dim;
        In = new Linear<T>("time_embed.time_mlp.0", FrequencyDim, dim);
        Out = new Linear<T>("time_embed.time_mlp.2", dim, dim);
    }

    /// <summary>D, the model width.</summary>
    public int Dim { get; }

    /// <summary>The first projection, <c>Linear(256, D)</c>.</summary>
    public Linear<T> In { get; }

    /// <summary>The second projection, <c>Linear(D, D)</c>.</summary>
    public Linear<T> Out { get; }

    /// <inheritdoc/>
    public IEnumerable<Parameter<T>> Parameters => In.Parameters.Concat(Out.Parameters);

    /// <summary>Embeds one flow time per batch item.</summary>
    /// <param name="time">t: <c>[B]</c>.</param>
    /// <returns>temb: <c>[B, D]</c>, a buffer owned by the layer.</returns>
    /// <exception cref="ArgumentException"><paramref name="time"/> is not one-dimensional.</exception>
    public Tensor<T> Forward(Tensor<T> time, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (time.Rank != 1)
        {
            throw new ArgumentException($"time must have shape [B] but has shape {time.ShapeString}.", nameof(time));
        }
        int batch = time.Dim(0);

        // 1. sinusoidal features: all sines, then all cosines
        if (_times.Length != batch)
        {
            _times = new double[batch];
        }
        _features.EnsureShape(batch, FrequencyDim);
        for (int b = 0; b < batch; b++)
        {
            _times[b] = double.CreateTruncating(time[b]);
            Span<T> row = _features.Row(b);
            for (int k = 0; k < Half; k++)
            {
                double angle = TimeScale * _times[b] * Frequencies[k];
                row[k] = T.CreateTruncating(Math.Sin(angle));
                row[Half + k] = T.CreateTruncating(Math.Cos(angle));
            }
        }

        // 2. Linear, SiLU
        _preActivation = In.Forward(_features, threads);
        _hidden.EnsureShape(batch, Dim);
        Activations.SiLU<T>(_preActivation.Span, _hidden.Span);

        // 3. Linear
        return Out.Forward(_hidden, threads);
    }

    /// <summary>Back-propagates through the last forward pass.</summary>
    /// <param name="outputGradient">dTemb: <c>[B, D]</c>.</param>
    /// <param name="timeGradient">dT: <c>[B]</c>, added into, or null when not needed.</param>
    /// <remarks>Adds into <paramref name="timeGradient"/> and the parameter gradients; the caller zeroes them.</remarks>
    public void Backward(Tensor<T> outputGradient, Tensor<T>? timeGradient, int threads = 0)
    {
        if (_preActivation is null)
        {
            throw new InvalidOperationException("Backward was called before Forward.");
        }
        int batch = _times.Length;
        ShapeCheck.Require(outputGradient, nameof(outputGradient), batch, Dim);
        if (timeGradient is not null)
        {
            ShapeCheck.Require(timeGradient, nameof(timeGradient), batch);
        }

        // 3. Linear
        _dHidden.EnsureShape(batch, Dim);
        _dHidden.Clear();
        Out.Backward(outputGradient, _dHidden, threads);

        // 2. SiLU, Linear
        Activations.SiLUBackward<T>(_preActivation.Span, _dHidden.Span, _dHidden.Span);
        _dFeatures.EnsureShape(batch, FrequencyDim);
        _dFeatures.Clear();
        In.Backward(_dHidden, timeGradient is null ? null : _dFeatures, threads);
        if (timeGradient is null)
        {
            return;
        }

        // 1. features: d sin(a)/dt = 1000·w·cos(a), d cos(a)/dt = −1000·w·sin(a)
        for (int b = 0; b < batch; b++)
        {
            Span<T> row = _dFeatures.Row(b);
            double sum = 0;
            for (int k = 0; k < Half; k++)
            {
                double angle = TimeScale * _times[b] * Frequencies[k];
                double rate = TimeScale * Frequencies[k];
                sum += rate * (double.CreateTruncating(row[k]) * Math.Cos(angle) - double.CreateTruncating(row[Half + k]) * Math.Sin(angle));
            }
            timeGradient[b] += T.CreateTruncating(sum);
        }
    }

    /// <summary>The frequencies <c>w_k</c>, k = 0..127, as the reference computes them in float32.</summary>
    internal static ReadOnlySpan<double> FrequencyValues => Frequencies;

    private static double[] ComputeFrequencies()
    {
        // c = ln(10000) / (half − 1) in double; the product k·(−c) is rounded to float32 and so is its exponential
        double c = Math.Log(10000) / (Half - 1);
        float negativeC = (float)-c;
        var frequencies = new double[Half];
        for (int k = 0; k < Half; k++)
        {
            float exponent = (float)k * negativeC;
            frequencies[k] = (float)Math.Exp(exponent);
        }

        // PyTorch's vectorized float32 exp is accurate to one ulp, not correctly rounded, and the
        // reference's w_k are its results. They differ from the correctly rounded values above at
        // 14 of the 128 k; one ulp of w_k moves a_k by up to 6e-5 at t = 1, which shows in the
        // gradient with respect to t (2e-5 relative without this correction, 3e-8 with it).
        foreach (var (k, bits) in PyTorchFrequencyBits)
        {
            frequencies[k] = BitConverter.UInt32BitsToSingle(bits);
        }
        return frequencies;
    }

    // w_k as torch.exp computes them in float32 (PyTorch 1.13 on x86-64 with AVX-512), where they
    // differ from the correctly rounded value given in the comment.
    private static Dictionary<int, uint> PyTorchFrequencyBits => new()
    {
        [4] = 0x3F3F89D0, // 0.74819666 correctly rounded
        [12] = 0x3ED67216, // 0.41883913 correctly rounded
        [16] = 0x3EA07290, // 0.313374 correctly rounded
        [21] = 0x3E5F4C00, // 0.21806337 correctly rounded
        [45] = 0x3D1CB042, // 0.038254026 correctly rounded
        [60] = 0x3C532E82, // 0.012889507 correctly rounded
        [71] = 0x3BBE3554, // 0.0058046966 correctly rounded
        [81] = 0x3B383434, // 0.002810729 correctly rounded
        [92] = 0x3AA5E8EA, // 0.0012657916 correctly rounded
        [98] = 0x3A56BF12, // 0.00081919244 correctly rounded
        [103] = 0x3A156EC4, // 0.00057004037 correctly rounded
        [107] = 0x39DF9C2A, // 0.00042650223 correctly rounded
        [110] = 0x39B3E36C, // 0.00034310986 correctly rounded
        [116] = 0x3968D6F0, // 0.00022205313 correctly rounded
    };
}
