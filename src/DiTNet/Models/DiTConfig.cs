namespace DiTNet.Models;

/// <summary>
/// The hyper-parameters of a DiT, named as in the CosyVoice configuration.
/// </summary>
/// <param name="Dim">D, the model width.</param>
/// <param name="Depth">L, the number of blocks.</param>
/// <param name="Heads">H, the attention heads.</param>
/// <param name="DimHead">Dh, the width of one head; the attention inner width is H·Dh.</param>
/// <param name="FFMult">The feed-forward width F is <c>FFMult · D</c>.</param>
/// <param name="MelDim">M, mel channels of x, cond and the output.</param>
/// <param name="MuDim">U, channels of the condition mu.</param>
/// <param name="SpkDim">S, channels of the speaker embedding.</param>
/// <param name="LongSkipConnection">Whether the block stack's output and input are concatenated and projected back to D.</param>
/// <param name="StaticChunkSize">Chunk size of the streaming attention mask; 0 makes streaming use the plain mask.</param>
/// <param name="Dropout">Dropout rate after the attention output and inside the feed-forward, in training only.</param>
public sealed record DiTConfig(
    int Dim,
    int Depth,
    int Heads,
    int DimHead,
    int FFMult,
    int MelDim,
    int MuDim,
    int SpkDim,
    bool LongSkipConnection,
    int StaticChunkSize = 0,
    double Dropout = 0.0)
{
    /// <summary>The published CosyVoice 3 estimator: about 331 M parameters.</summary>
    public static DiTConfig CosyVoice3 { get; } = new(
        Dim: 1024, Depth: 22, Heads: 16, DimHead: 64, FFMult: 2, MelDim: 80, MuDim: 80, SpkDim: 80,
        LongSkipConnection: false, StaticChunkSize: 50, Dropout: 0.1);

    /// <summary>The attention inner width, H·Dh.</summary>
    public int InnerDim => Heads * DimHead;

    /// <summary>The feed-forward width F.</summary>
    public int FFDim => FFMult * Dim;

    /// <summary>The input embedding's input width, <c>2M + U + S</c>.</summary>
    public int InputDim => 2 * MelDim + MuDim + SpkDim;

    /// <summary>Throws when a value cannot describe a working model.</summary>
    /// <exception cref="ArgumentException">A width is not positive, D is not divisible by the 16 convolution groups, Dh is odd, or the dropout rate is outside [0, 1).</exception>
    public void Validate()
    {
        Require(Dim > 0 && Dim % 16 == 0, $"Dim must be a positive multiple of 16 (the convolution groups), got {Dim}.");
        Require(Depth >= 0, $"Depth must be non-negative, got {Depth}.");
        Require(Heads > 0, $"Heads must be positive, got {Heads}.");
        Require(DimHead > 0 && DimHead % 2 == 0, $"DimHead must be a positive even number (rotary pairs), got {DimHead}.");
        Require(FFMult > 0, $"FFMult must be positive, got {FFMult}.");
        Require(MelDim > 0 && MuDim > 0 && SpkDim > 0,
            $"MelDim, MuDim and SpkDim must be positive, got {MelDim}, {MuDim} and {SpkDim}.");
        Require(StaticChunkSize >= 0, $"StaticChunkSize must be non-negative, got {StaticChunkSize}.");
        Require(Dropout >= 0 && Dropout < 1, $"Dropout must be in [0, 1), got {Dropout}.");
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message);
        }
    }
}
