using System.Text.RegularExpressions;
using DiTNet.IO;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DiTNet.Models;

/// <summary>
/// The hyper-parameters that a DiT state dict does not record; a null member is left to
/// <see cref="DiTConfigInference"/>'s defaults.
/// </summary>
/// <param name="MuDim">U, when the input width 2M + U + S is not 4M (the CosyVoice 3 split U = S = M).</param>
/// <param name="SpkDim">S, likewise; given one of U and S, the other follows from the input width.</param>
/// <param name="StaticChunkSize">The streaming chunk size.</param>
/// <param name="Dropout">The training dropout rate.</param>
public sealed record DiTConfigHints(int? MuDim = null, int? SpkDim = null, int? StaticChunkSize = null, double? Dropout = null);

/// <summary>Reads a <see cref="DiTConfig"/> from the tensor shapes of a DiT state dict.</summary>
/// <remarks>
/// The shapes fix D, L, H, Dh, F, M, the long skip and the sum U + S. They cannot record the
/// split of U + S, the streaming chunk size or the dropout rate; those come from
/// <see cref="DiTConfigHints"/>, or from the rules described on <see cref="Infer(IReadOnlyDictionary{string, int[]}, DiTConfigHints?, ILogger?)"/>.
/// </remarks>
public static partial class DiTConfigInference
{
    private const string InvFreq = "rotary_embed.inv_freq";
    private const string ProjOut = "proj_out.weight";
    private const string InputProj = "input_embed.proj.weight";
    private const string LongSkip = "long_skip_connection.weight";

    /// <summary>Infers the config of the DiT whose tensors are named <paramref name="prefix"/> plus a PyTorch name.</summary>
    /// <exception cref="InvalidDataException">A tensor the inference needs is missing or the shapes disagree.</exception>
    public static DiTConfig Infer(SafeTensorsFile file, string prefix = "", DiTConfigHints? hints = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(prefix);
        var shapes = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (string name in file.Names)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                shapes[name[prefix.Length..]] = file.Info(name).Shape;
            }
        }
        try
        {
            return Infer(shapes, hints, logger);
        }
        catch (InvalidDataException error)
        {
            throw new InvalidDataException($"{file.Path}{(prefix.Length > 0 ? $" (prefix '{prefix}')" : "")}: {error.Message}", error);
        }
    }

    /// <summary>Infers the config from tensor shapes keyed by PyTorch name.</summary>
    /// <remarks>
    /// Dh is twice the length of <c>rotary_embed.inv_freq</c>; H is the row count of
    /// <c>to_q</c> divided by Dh; L counts the blocks; D and M are the columns and rows of
    /// <c>proj_out</c>; F is the row count of the first feed-forward layer; the long skip is on
    /// when its weight exists. Without hints, U = S = M is assumed only when the input width is
    /// 4M, which is the CosyVoice 3 layout; any other width needs <see cref="DiTConfigHints.MuDim"/>
    /// or <see cref="DiTConfigHints.SpkDim"/>. A model shaped exactly like CosyVoice 3 takes its
    /// chunk size 50 and dropout 0.1; any other takes 0 for both. Each assumption is logged.
    /// </remarks>
    /// <exception cref="InvalidDataException">A tensor the inference needs is missing or the shapes disagree.</exception>
    public static DiTConfig Infer(IReadOnlyDictionary<string, int[]> shapes, DiTConfigHints? hints = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        hints ??= new DiTConfigHints();
        logger ??= NullLogger.Instance;

        // D and M from the output projection [M, D]
        int[] projOut = Require(shapes, ProjOut, 2);
        int melDim = projOut[0];
        int dim = projOut[1];

        // L from the block indices, which must run 0..L-1
        int depth = CountBlocks(shapes.Keys);
        if (depth == 0)
        {
            throw new InvalidDataException(
                "the state dict has no transformer_blocks, so heads, dim_head and ff_mult cannot be inferred; pass the config explicitly.");
        }

        // Dh from the rotary frequencies [Dh/2], H from the query projection [H·Dh, D]
        int dimHead = 2 * Require(shapes, InvFreq, 1)[0];
        int[] toQ = Require(shapes, "transformer_blocks.0.attn.to_q.weight", 2);
        Check(toQ[1] == dim, $"transformer_blocks.0.attn.to_q.weight has {toQ[1]} inputs but proj_out.weight has {dim}; both are D.");
        Check(dimHead > 0 && toQ[0] % dimHead == 0,
            $"transformer_blocks.0.attn.to_q.weight has {toQ[0]} outputs, not a multiple of dim_head = 2 · len(rotary_embed.inv_freq) = {dimHead}.");
        int heads = toQ[0] / dimHead;

        // F from the first feed-forward layer [F, D]
        int[] ff = Require(shapes, "transformer_blocks.0.ff.ff.0.0.weight", 2);
        Check(ff[1] == dim, $"transformer_blocks.0.ff.ff.0.0.weight has {ff[1]} inputs but D is {dim}.");
        Check(ff[0] % dim == 0, $"transformer_blocks.0.ff.ff.0.0.weight has {ff[0]} outputs, not a multiple of D = {dim}.");
        int ffMult = ff[0] / dim;

        // 2M + U + S from the input projection [D, 2M + U + S]
        int[] inputProj = Require(shapes, InputProj, 2);
        Check(inputProj[0] == dim, $"input_embed.proj.weight has {inputProj[0]} outputs but D is {dim}.");
        int conditionWidth = inputProj[1] - 2 * melDim;
        Check(conditionWidth >= 2,
            $"input_embed.proj.weight has {inputProj[1]} inputs, too few for 2M + U + S with M = {melDim} and U, S at least 1.");
        var (muDim, spkDim) = SplitCondition(conditionWidth, melDim, hints, logger);

        bool longSkip = shapes.ContainsKey(LongSkip);
        var config = new DiTConfig(dim, depth, heads, dimHead, ffMult, melDim, muDim, spkDim, longSkip);
        config = ApplyUnrecorded(config, hints, logger);
        try
        {
            config.Validate();
        }
        catch (ArgumentException error)
        {
            throw new InvalidDataException($"the inferred config {config} is invalid: {error.Message}", error);
        }
        return config;
    }

    private static (int MuDim, int SpkDim) SplitCondition(int conditionWidth, int melDim, DiTConfigHints hints, ILogger logger)
    {
        if (hints.MuDim is int mu && hints.SpkDim is int spk)
        {
            Check(mu + spk == conditionWidth,
                $"mu_dim {mu} + spk_dim {spk} = {mu + spk}, but input_embed.proj.weight leaves {conditionWidth} inputs for them after 2M.");
            return (mu, spk);
        }
        if (hints.MuDim is int muOnly)
        {
            Check(muOnly > 0 && muOnly < conditionWidth, $"mu_dim {muOnly} leaves no spk_dim in the {conditionWidth} condition inputs.");
            return (muOnly, conditionWidth - muOnly);
        }
        if (hints.SpkDim is int spkOnly)
        {
            Check(spkOnly > 0 && spkOnly < conditionWidth, $"spk_dim {spkOnly} leaves no mu_dim in the {conditionWidth} condition inputs.");
            return (conditionWidth - spkOnly, spkOnly);
        }
        if (conditionWidth == 2 * melDim)
        {
            LogAssumedConditionSplit(logger, melDim);
            return (melDim, melDim);
        }
        throw new InvalidDataException(
            $"input_embed.proj.weight leaves {conditionWidth} inputs for mu_dim + spk_dim after 2 · mel_dim = {2 * melDim}, " +
            "and the weights do not record how they split; pass mu_dim or spk_dim.");
    }

    private static DiTConfig ApplyUnrecorded(DiTConfig config, DiTConfigHints hints, ILogger logger)
    {
        var preset = DiTConfig.CosyVoice3;
        bool likePreset = config with { StaticChunkSize = preset.StaticChunkSize, Dropout = preset.Dropout } == preset;
        int chunkSize = hints.StaticChunkSize ?? (likePreset ? preset.StaticChunkSize : 0);
        double dropout = hints.Dropout ?? (likePreset ? preset.Dropout : 0.0);
        if (hints.StaticChunkSize is null)
        {
            LogAssumedChunkSize(logger, chunkSize, likePreset ? "the CosyVoice 3 value for a model of its shape" : "streaming then uses the plain mask");
        }
        if (hints.Dropout is null)
        {
            LogAssumedDropout(logger, dropout, likePreset ? "the CosyVoice 3 value for a model of its shape" : "dropout only acts in training");
        }
        return config with { StaticChunkSize = chunkSize, Dropout = dropout };
    }

    private static int CountBlocks(IEnumerable<string> names)
    {
        var indices = new SortedSet<int>();
        foreach (string name in names)
        {
            var match = BlockIndex().Match(name);
            if (match.Success)
            {
                Check(int.TryParse(match.Groups[1].ValueSpan, out int index), $"tensor '{name}' has a block index that is too large.");
                indices.Add(index);
            }
        }
        Check(indices.Count == 0 || indices.Max == indices.Count - 1,
            $"the block indices are not 0 to {indices.Count - 1}: found {string.Join(", ", indices)}.");
        return indices.Count;
    }

    private static int[] Require(IReadOnlyDictionary<string, int[]> shapes, string name, int rank)
    {
        if (!shapes.TryGetValue(name, out int[]? shape))
        {
            throw new InvalidDataException($"tensor '{name}' is missing, so the config cannot be inferred; is this a DiT state dict, and is the prefix right?");
        }
        Check(shape.Length == rank, $"tensor '{name}' has rank {shape.Length}, expected {rank}.");
        return shape;
    }

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidDataException(message);
        }
    }

    [GeneratedRegex(@"^transformer_blocks\.(\d+)\.")]
    private static partial Regex BlockIndex();

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Assuming mu_dim = spk_dim = mel_dim = {MelDim}: the weights record only their sum, which is 2 · mel_dim as in CosyVoice 3")]
    private static partial void LogAssumedConditionSplit(ILogger logger, int melDim);

    [LoggerMessage(Level = LogLevel.Information, Message = "Assuming static_chunk_size = {ChunkSize}, which the weights do not record ({Reason})")]
    private static partial void LogAssumedChunkSize(ILogger logger, int chunkSize, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Assuming dropout = {Dropout}, which the weights do not record ({Reason})")]
    private static partial void LogAssumedDropout(ILogger logger, double dropout, string reason);
}
