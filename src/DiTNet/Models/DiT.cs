using System.Numerics;
using DiTNet.Layers;
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
/// <remarks>
/// <para>The long skip concatenates the block stack's output, then its input, into <c>[B, N, 2D]</c>
/// and projects it back to D without bias.</para>
/// <para>Every buffer belongs to the model or one of its layers and is reshaped in place, so a loop
/// over batches of one shape allocates nothing after its first step.</para>
/// </remarks>
public sealed class DiT<T> : IParameterized<T>, FlowMatching.IVelocityModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly DiTBlock<T>[] _blocks;

    // time: t broadcast to [B]; concat: the long skip input [B, N, 2D]; the d* tensors are gradients
    private readonly Tensor<T> _time = new(0);
    private readonly Tensor<T> _dTime = new(0);
    private readonly Tensor<T> _concat = new(0);
    private readonly Tensor<T> _dConcat = new(0);
    private readonly Tensor<T> _output = new(0);
    private readonly Tensor<T> _dProjected = new(0);
    private readonly Tensor<T> _dNormOut = new(0);
    private readonly Tensor<T> _dTemb = new(0);
    private readonly Tensor<T> _dCurrent = new(0);
    private readonly Tensor<T> _dNext = new(0);
    private readonly Tensor<T> _dResidual = new(0);
    private int _batch;
    private int _frames;
    private bool _timeBroadcast;
    private bool _forwardDone;

    /// <summary>Creates a model with zero parameters; call <see cref="Initialize"/> or load a checkpoint.</summary>
    public DiT(DiTConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        TimeEmbed = new TimestepEmbedding<T>(config.Dim);
        InputEmbed = new InputEmbedding<T>(config.MelDim, config.MuDim, config.SpkDim, config.Dim);
        Rotary = new RotaryEmbedding<T>(config.DimHead);
        _blocks = new DiTBlock<T>[config.Depth];
        for (int i = 0; i < config.Depth; i++)
        {
            _blocks[i] = new DiTBlock<T>(i, config.Dim, config.Heads, config.DimHead, config.FFDim, config.Dropout);
        }
        LongSkip = config.LongSkipConnection ? new Linear<T>("long_skip_connection", 2 * config.Dim, config.Dim, bias: false) : null;
        NormOut = new AdaLayerNormZeroFinal<T>("norm_out", config.Dim);
        ProjOut = new Linear<T>("proj_out", config.Dim, config.MelDim);
    }

    /// <summary>The hyper-parameters.</summary>
    public DiTConfig Config { get; }

    /// <summary>Threads for matrix products; 0 uses all cores.</summary>
    public int Threads { get; set; }

    /// <summary>Whether dropout is active.</summary>
    public bool Training { get; set; }

    /// <summary>The stream dropout draws from; its state is part of a training checkpoint.</summary>
    /// <remarks>Each block draws for its attention output, then for its feed-forward, blocks in order.</remarks>
    public RandomSource DropoutRandom { get; } = new(0);

    /// <summary>The timestep embedding.</summary>
    public TimestepEmbedding<T> TimeEmbed { get; }

    /// <summary>The input embedding with its convolutional position embedding.</summary>
    public InputEmbedding<T> InputEmbed { get; }

    /// <summary>The rotary frequencies, <c>rotary_embed.inv_freq</c>.</summary>
    public RotaryEmbedding<T> Rotary { get; }

    /// <summary>The L blocks, in order.</summary>
    public IReadOnlyList<DiTBlock<T>> Blocks => _blocks;

    /// <summary>The long skip projection <c>Linear(2D, D)</c> without bias, or null when disabled.</summary>
    public Linear<T>? LongSkip { get; }

    /// <summary>The final adaptive norm.</summary>
    public AdaLayerNormZeroFinal<T> NormOut { get; }

    /// <summary>The output projection, <c>Linear(D, M)</c>.</summary>
    public Linear<T> ProjOut { get; }

    /// <inheritdoc/>
    /// <remarks>In PyTorch's state_dict order.</remarks>
    public IEnumerable<Parameter<T>> Parameters
    {
        get
        {
            IEnumerable<Parameter<T>> parameters = TimeEmbed.Parameters.Concat(InputEmbed.Parameters).Concat(Rotary.Parameters);
            foreach (var block in _blocks)
            {
                parameters = parameters.Concat(block.Parameters);
            }
            if (LongSkip is not null)
            {
                parameters = parameters.Concat(LongSkip.Parameters);
            }
            return parameters.Concat(NormOut.Parameters).Concat(ProjOut.Parameters);
        }
    }

    /// <summary>Draws every weight as PyTorch's default initialization does and sets the rotary frequencies.</summary>
    /// <remarks>
    /// Linear layers draw weight and bias from <c>U(−1/√in, 1/√in)</c>, the convolutions from
    /// <c>U(−1/√(D/16·31), 1/√(D/16·31))</c>, one seeded stream in parameter order. The modulation
    /// layers and proj_out are not zeroed, unlike some F5 and CosyVoice versions: this is the
    /// initialization for training from scratch with PyTorch's defaults.
    /// </remarks>
    public void Initialize(int seed)
    {
        var random = new Random(seed);
        TimeEmbed.In.Initialize(random);
        TimeEmbed.Out.Initialize(random);
        InputEmbed.Proj.Initialize(random);
        InputEmbed.ConvPositionEmbedding.Initialize(random);
        Rotary.Initialize();
        foreach (var block in _blocks)
        {
            block.AttnNorm.Linear.Initialize(random);
            block.Attn.ToQ.Initialize(random);
            block.Attn.ToK.Initialize(random);
            block.Attn.ToV.Initialize(random);
            block.Attn.ToOut.Initialize(random);
            block.FF.In.Initialize(random);
            block.FF.Out.Initialize(random);
        }
        LongSkip?.Initialize(random);
        NormOut.Linear.Initialize(random);
        ProjOut.Initialize(random);
    }

    /// <summary>Runs the model on channels-first inputs.</summary>
    /// <param name="x">Noisy mel: <c>[B, M, N]</c>.</param>
    /// <param name="mask">1 for real frames, 0 for padding: <c>[B, 1, N]</c>.</param>
    /// <param name="mu">Condition: <c>[B, U, N]</c>.</param>
    /// <param name="t">Flow time: <c>[B]</c>, or a scalar (<c>[]</c> or <c>[1]</c>) broadcast to the batch.</param>
    /// <param name="spks">Speaker embedding: <c>[B, S]</c>.</param>
    /// <param name="cond">Prompt mel, zero where absent: <c>[B, M, N]</c>.</param>
    /// <param name="streaming">Whether to use the chunk mask of <see cref="DiTConfig.StaticChunkSize"/>.</param>
    /// <returns>The predicted velocity <c>[B, M, N]</c>, a buffer owned by the model and overwritten by the next call.</returns>
    /// <exception cref="ArgumentException">A shape does not match the others or the configuration.</exception>
    public Tensor<T> Forward(Tensor<T> x, Tensor<T> mask, Tensor<T> mu, Tensor<T> t, Tensor<T> spks, Tensor<T> cond, bool streaming = false)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(t);
        if (x.Rank != 3 || x.Dim(1) != Config.MelDim)
        {
            throw new ArgumentException($"x must have shape [B, {Config.MelDim}, N] but has shape {x.ShapeString}.", nameof(x));
        }
        int batch = x.Dim(0), frames = x.Dim(2), dim = Config.Dim;
        ShapeCheck.Require(mask, nameof(mask), batch, 1, frames);
        ShapeCheck.Require(mu, nameof(mu), batch, Config.MuDim, frames);
        ShapeCheck.Require(spks, nameof(spks), batch, Config.SpkDim);
        ShapeCheck.Require(cond, nameof(cond), batch, Config.MelDim, frames);
        _timeBroadcast = t.Length == 1 && !t.HasShape(batch);
        if (!_timeBroadcast && !t.HasShape(batch))
        {
            throw new ArgumentException($"t must have shape [{batch}] or be a scalar but has shape {t.ShapeString}.", nameof(t));
        }
        _forwardDone = false;

        // 1-2. timestep embedding
        _time.EnsureShape(batch);
        if (_timeBroadcast)
        {
            _time.Span.Fill(t[0]);
        }
        else
        {
            t.Span.CopyTo(_time.Span);
        }
        var temb = TimeEmbed.Forward(_time, Threads);

        // 1, 3. transpose and input embedding
        var h = InputEmbed.Forward(x, cond, mu, spks, Threads);

        // 4-6. the attention mask; the rotary angles come from Rotary; the long skip keeps h
        var attentionMask = AttentionMask.Build(mask, streaming, Config.StaticChunkSize);
        var residual = h;

        // 7. blocks
        foreach (var block in _blocks)
        {
            h = block.Forward(h, temb, attentionMask, Rotary, Training, DropoutRandom, Threads);
        }

        // 8. long skip: Linear(concat(stack output, stack input))
        if (LongSkip is not null)
        {
            _concat.EnsureShape(batch, frames, 2 * dim);
            for (int r = 0; r < batch * frames; r++)
            {
                h.Row(r).CopyTo(_concat.Row(r)[..dim]);
                residual.Row(r).CopyTo(_concat.Row(r)[dim..]);
            }
            h = LongSkip.Forward(_concat, Threads);
        }

        // 9. final adaptive norm
        h = NormOut.Forward(h, temb, Threads);

        // 10. output projection, transposed back to channels-first
        var projected = ProjOut.Forward(h, Threads);
        _output.EnsureShape(batch, Config.MelDim, frames);
        for (int b = 0; b < batch; b++)
        {
            Transpose(projected.Slice(b), frames, Config.MelDim, _output.Slice(b));
        }
        _batch = batch;
        _frames = frames;
        _forwardDone = true;
        return _output;
    }

    /// <summary>Back-propagates the gradient of the last forward pass's output.</summary>
    /// <param name="outputGradient">dOutput: <c>[B, M, N]</c>.</param>
    /// <param name="inputGradients">Where to add input gradients, or null.</param>
    /// <remarks>Adds into parameter and input gradients; the caller zeroes them between steps.</remarks>
    /// <exception cref="ArgumentException">A shape does not match the last forward pass.</exception>
    public void Backward(Tensor<T> outputGradient, DiTInputGradients<T>? inputGradients = null)
    {
        if (!_forwardDone)
        {
            throw new InvalidOperationException("Backward was called before a completed Forward.");
        }
        int batch = _batch, frames = _frames, dim = Config.Dim;
        ShapeCheck.Require(outputGradient, nameof(outputGradient), batch, Config.MelDim, frames);
        var dTimeInput = inputGradients?.Time;
        if (dTimeInput is not null && !(_timeBroadcast ? dTimeInput.Length == 1 : dTimeInput.HasShape(batch)))
        {
            throw new ArgumentException(
                $"The time gradient must have the shape of t ({(_timeBroadcast ? "a scalar" : $"[{batch}]")}) but has shape {dTimeInput.ShapeString}.",
                nameof(inputGradients));
        }

        // 10. output projection
        _dProjected.EnsureShape(batch, frames, Config.MelDim);
        for (int b = 0; b < batch; b++)
        {
            Transpose(outputGradient.Slice(b), Config.MelDim, frames, _dProjected.Slice(b));
        }
        _dNormOut.EnsureShape(batch, frames, dim);
        _dNormOut.Clear();
        ProjOut.Backward(_dProjected, _dNormOut, Threads);

        // 9. final adaptive norm
        _dTemb.EnsureShape(batch, dim);
        _dTemb.Clear();
        _dCurrent.EnsureShape(batch, frames, dim);
        _dCurrent.Clear();
        NormOut.Backward(_dNormOut, _dCurrent, _dTemb, Threads);

        // 8. long skip: split the concatenation's gradient into stack output, then stack input
        _dResidual.EnsureShape(batch, frames, dim);
        _dResidual.Clear();
        if (LongSkip is not null)
        {
            _dConcat.EnsureShape(batch, frames, 2 * dim);
            _dConcat.Clear();
            LongSkip.Backward(_dCurrent, _dConcat, Threads);
            for (int r = 0; r < batch * frames; r++)
            {
                _dConcat.Row(r)[..dim].CopyTo(_dCurrent.Row(r));
                _dConcat.Row(r)[dim..].CopyTo(_dResidual.Row(r));
            }
        }

        // 7. blocks, last first
        var current = _dCurrent;
        var next = _dNext;
        next.EnsureShape(batch, frames, dim);
        for (int i = _blocks.Length - 1; i >= 0; i--)
        {
            next.Clear();
            _blocks[i].Backward(current, next, _dTemb, Threads);
            (current, next) = (next, current);
        }

        // 5. the long skip's saved input joins the stack's input gradient
        System.Numerics.Tensors.TensorPrimitives.Add(current.Span, _dResidual.Span, current.Span);

        // 3. input embedding
        InputEmbed.Backward(current, inputGradients?.X, inputGradients?.Cond, inputGradients?.Mu, inputGradients?.Spks, Threads);

        // 2. timestep embedding; a broadcast scalar t collects the whole batch's gradient
        if (dTimeInput is null)
        {
            TimeEmbed.Backward(_dTemb, null, Threads);
            return;
        }
        if (!_timeBroadcast)
        {
            TimeEmbed.Backward(_dTemb, dTimeInput, Threads);
            return;
        }
        _dTime.EnsureShape(batch);
        _dTime.Clear();
        TimeEmbed.Backward(_dTemb, _dTime, Threads);
        T sum = T.Zero;
        foreach (T value in _dTime.Span)
        {
            sum += value;
        }
        dTimeInput[0] += sum;
    }

    /// <summary>Sets every parameter gradient to zero.</summary>
    public void ZeroGradients()
    {
        foreach (var parameter in Parameters)
        {
            parameter.Gradient.Clear();
        }
    }

    // source: [rows, columns]; destination: [columns, rows]
    private static void Transpose(ReadOnlySpan<T> source, int rows, int columns, Span<T> destination)
    {
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                destination[c * rows + r] = source[r * columns + c];
            }
        }
    }
}
