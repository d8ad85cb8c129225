using System.Globalization;
using System.Numerics;
using DiTNet.Tensors;

namespace DiTNet.Training;

/// <summary>
/// Draws training batches from a seeded stream: a fresh shuffle of the utterances each epoch, a random crop
/// of at most <see cref="SegmentFrames"/> frames per item, a random prompt prefix for a share of the items and
/// the streaming choice per batch. Its whole state is <see cref="Random"/>, the order and the position.
/// </summary>
public sealed class BatchSampler
{
    private readonly IReadOnlyList<TrainingExample> _examples;
    private int[] _order;

    /// <summary>Creates the sampler; the first epoch's order is drawn from <paramref name="seed"/>.</summary>
    /// <param name="batchSize">Items per batch.</param>
    /// <param name="segmentFrames">The longest crop, in frames; longer utterances are cropped at a random start.</param>
    /// <param name="padMultiple">Batches are padded to a multiple of this many frames, so that few distinct shapes occur.</param>
    /// <param name="promptShare">The share of items that get a prompt prefix in cond.</param>
    /// <param name="maxPromptFraction">The longest prompt as a fraction of the item's frames.</param>
    /// <param name="streamingShare">The share of batches trained with the streaming mask.</param>
    public BatchSampler(IReadOnlyList<TrainingExample> examples, int batchSize, int segmentFrames, int padMultiple,
        double promptShare, double maxPromptFraction, double streamingShare, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0)
        {
            throw new ArgumentException("The training set is empty.", nameof(examples));
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(segmentFrames);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(padMultiple);
        CheckShare(promptShare, nameof(promptShare));
        CheckShare(maxPromptFraction, nameof(maxPromptFraction));
        CheckShare(streamingShare, nameof(streamingShare));
        var first = examples[0];
        foreach (var example in examples)
        {
            if (example.Frames <= 0 || example.MelDim != first.MelDim || example.MuDim != first.MuDim || example.SpkDim != first.SpkDim)
            {
                throw new ArgumentException(
                    $"Utterance '{example.Id}' has {example.Frames} frames and M, U, S = {example.MelDim}, {example.MuDim}, {example.SpkDim}; " +
                    $"every utterance needs frames and the widths of the first, {first.MelDim}, {first.MuDim}, {first.SpkDim}.", nameof(examples));
            }
        }
        _examples = examples;
        BatchSize = batchSize;
        SegmentFrames = segmentFrames;
        PadMultiple = padMultiple;
        PromptShare = promptShare;
        MaxPromptFraction = maxPromptFraction;
        StreamingShare = streamingShare;
        Random = new RandomSource(seed);
        _order = new int[examples.Count];
        Shuffle();
    }

    /// <summary>Items per batch.</summary>
    public int BatchSize { get; }

    /// <summary>The longest crop, in frames.</summary>
    public int SegmentFrames { get; }

    /// <summary>Batches are padded to a multiple of this many frames.</summary>
    public int PadMultiple { get; }

    /// <summary>The share of items that get a prompt prefix.</summary>
    public double PromptShare { get; }

    /// <summary>The longest prompt as a fraction of the item's frames.</summary>
    public double MaxPromptFraction { get; }

    /// <summary>The share of batches trained with the streaming mask.</summary>
    public double StreamingShare { get; }

    /// <summary>The stream for shuffles, crops, prompts and the streaming choice.</summary>
    public RandomSource Random { get; }

    /// <summary>Completed passes over the data.</summary>
    public int Epoch { get; private set; }

    /// <summary>The next position in the current epoch's order.</summary>
    public int Position { get; private set; }

    /// <summary>Fills <paramref name="batch"/> with the next <see cref="BatchSize"/> items.</summary>
    public void Next<T>(TrainingBatch<T> batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(batch);
        Span<int> picks = stackalloc int[BatchSize];
        Span<int> starts = stackalloc int[BatchSize];
        Span<int> lengths = stackalloc int[BatchSize];
        Span<int> prompts = stackalloc int[BatchSize];
        int longest = 0;

        // draw every item's utterance, crop and prompt first, so that the padded length is known
        for (int i = 0; i < BatchSize; i++)
        {
            if (Position == _order.Length)
            {
                Epoch++;
                Shuffle();
            }
            var example = _examples[_order[Position++]];
            picks[i] = _order[Position - 1];
            int length = Math.Min(example.Frames, SegmentFrames);
            starts[i] = Random.NextInt(example.Frames - length + 1);
            lengths[i] = length;
            prompts[i] = Random.NextDouble() < PromptShare ? Random.NextInt((int)(MaxPromptFraction * length) + 1) : 0;
            longest = Math.Max(longest, length);
        }
        batch.Streaming = Random.NextDouble() < StreamingShare;

        var first = _examples[0];
        int frames = (longest + PadMultiple - 1) / PadMultiple * PadMultiple;
        batch.Resize(BatchSize, first.MelDim, first.MuDim, first.SpkDim, frames);
        for (int i = 0; i < BatchSize; i++)
        {
            batch.SetItem(i, _examples[picks[i]], starts[i], lengths[i], prompts[i]);
        }
    }

    /// <summary>Returns the order, position and epoch as text for a checkpoint.</summary>
    public string SaveOrder() =>
        string.Join(',', _order.Select(i => i.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Restores the state written by <see cref="SaveOrder"/> with its position and epoch.</summary>
    /// <exception cref="ArgumentException">The order is not a permutation of this training set.</exception>
    public void Restore(string order, int position, int epoch, ulong randomState)
    {
        ArgumentNullException.ThrowIfNull(order);
        int[] parsed = order.Length == 0 ? [] : order.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        if (parsed.Length != _examples.Count || parsed.Order().Where((value, index) => value != index).Any())
        {
            throw new ArgumentException(
                $"The saved data order has {parsed.Length} entries but the training set has {_examples.Count} utterances; resume with the same corpus.", nameof(order));
        }
        if (position < 0 || position > parsed.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(position), position, $"The position must be in [0, {parsed.Length}].");
        }
        _order = parsed;
        Position = position;
        Epoch = epoch;
        Random.State = randomState;
    }

    private void Shuffle()
    {
        for (int i = 0; i < _order.Length; i++)
        {
            _order[i] = i;
        }

        // Fisher-Yates, from the end
        for (int i = _order.Length - 1; i > 0; i--)
        {
            int j = Random.NextInt(i + 1);
            (_order[i], _order[j]) = (_order[j], _order[i]);
        }
        Position = 0;
    }

    private static void CheckShare(double value, string name)
    {
        if (!(value >= 0 && value <= 1))
        {
            throw new ArgumentOutOfRangeException(name, value, "A share must be in [0, 1].");
        }
    }
}
