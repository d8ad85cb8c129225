using System.Numerics;
using DiTNet.FlowMatching;
using DiTNet.Tensors;

namespace DiTNet.Training;

/// <summary>A padded batch of utterances in the model's layout, with buffers reused between batches.</summary>
public sealed class TrainingBatch<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _x1;
    private Tensor<T>? _mask;
    private Tensor<T>? _mu;
    private Tensor<T>? _spks;
    private Tensor<T>? _cond;
    private int[] _lengths = [];

    /// <summary>Target mel x1, zero in padding: <c>[B, M, N]</c>.</summary>
    public Tensor<T> X1 => _x1 ?? throw new InvalidOperationException("The batch has not been filled.");

    /// <summary>1 for real frames, 0 for padding: <c>[B, 1, N]</c>.</summary>
    public Tensor<T> Mask => _mask ?? throw new InvalidOperationException("The batch has not been filled.");

    /// <summary>Condition, zero in padding: <c>[B, U, N]</c>.</summary>
    public Tensor<T> Mu => _mu ?? throw new InvalidOperationException("The batch has not been filled.");

    /// <summary>Speaker embeddings: <c>[B, S]</c>.</summary>
    public Tensor<T> Spks => _spks ?? throw new InvalidOperationException("The batch has not been filled.");

    /// <summary>Prompt mel: a prefix of x1 where an item has a prompt, zero elsewhere: <c>[B, M, N]</c>.</summary>
    public Tensor<T> Cond => _cond ?? throw new InvalidOperationException("The batch has not been filled.");

    /// <summary>Real frames of each item.</summary>
    public ReadOnlySpan<int> Lengths => _lengths;

    /// <summary>Frames of each item's prompt (0 where none).</summary>
    public int[] PromptLengths { get; private set; } = [];

    /// <summary>Whether the model should use its streaming mask on this batch.</summary>
    public bool Streaming { get; set; }

    /// <summary>Sizes the buffers for <paramref name="batch"/> items of <paramref name="frames"/> padded frames and clears them.</summary>
    public void Resize(int batch, int melDim, int muDim, int spkDim, int frames)
    {
        ConditionalFlowMatching<T>.Ensure(ref _x1, batch, melDim, frames).Clear();
        ConditionalFlowMatching<T>.Ensure(ref _mask, batch, 1, frames).Clear();
        ConditionalFlowMatching<T>.Ensure(ref _mu, batch, muDim, frames).Clear();
        ConditionalFlowMatching<T>.Ensure(ref _spks, batch, spkDim).Clear();
        ConditionalFlowMatching<T>.Ensure(ref _cond, batch, melDim, frames).Clear();
        if (_lengths.Length != batch)
        {
            _lengths = new int[batch];
            PromptLengths = new int[batch];
        }
        Array.Clear(_lengths);
        Array.Clear(PromptLengths);
    }

    /// <summary>
    /// Copies frames <c>[start, start + length)</c> of <paramref name="example"/> into item <paramref name="item"/>
    /// and sets its mask; the first <paramref name="promptLength"/> of those frames also go to cond.
    /// </summary>
    public void SetItem(int item, TrainingExample example, int start, int length, int promptLength)
    {
        ArgumentNullException.ThrowIfNull(example);
        int frames = X1.Dim(2);
        if (start < 0 || length < 0 || start + length > example.Frames || length > frames || promptLength > length)
        {
            throw new ArgumentException(
                $"Frames [{start}, {start + length}) with a prompt of {promptLength} do not fit an utterance of {example.Frames} frames in a batch of {frames}.",
                nameof(length));
        }
        CopyRows(example.Mel, example.Frames, start, length, X1.Slice(item), frames);
        CopyRows(example.Mu, example.Frames, start, length, Mu.Slice(item), frames);
        CopyRows(example.Mel, example.Frames, start, promptLength, Cond.Slice(item), frames);
        var spks = Spks.Row(item);
        for (int s = 0; s < spks.Length; s++)
        {
            spks[s] = T.CreateTruncating(example.Spks[s]);
        }
        Mask.Slice(item)[..length].Fill(T.One);
        _lengths[item] = length;
        PromptLengths[item] = promptLength;
    }

    private static void CopyRows(float[] source, int sourceFrames, int start, int length, Span<T> destination, int frames)
    {
        int rows = source.Length / sourceFrames;
        for (int r = 0; r < rows; r++)
        {
            var from = source.AsSpan(r * sourceFrames + start, length);
            var to = destination.Slice(r * frames, length);
            for (int n = 0; n < length; n++)
            {
                to[n] = T.CreateTruncating(from[n]);
            }
        }
    }
}
