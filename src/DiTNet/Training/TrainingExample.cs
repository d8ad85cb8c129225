namespace DiTNet.Training;

/// <summary>One utterance to train or evaluate on, channels-first as the model takes it.</summary>
/// <param name="Id">A name for logs and plots.</param>
/// <param name="Mel">Target mel x1: <c>[M, N]</c>, row-major.</param>
/// <param name="Mu">Condition: <c>[U, N]</c>, row-major.</param>
/// <param name="Spks">Speaker embedding: <c>[S]</c>.</param>
/// <param name="Frames">N, the number of frames.</param>
public sealed record TrainingExample(string Id, float[] Mel, float[] Mu, float[] Spks, int Frames)
{
    /// <summary>M, the mel channels.</summary>
    public int MelDim => Frames == 0 ? 0 : Mel.Length / Frames;

    /// <summary>U, the condition channels.</summary>
    public int MuDim => Frames == 0 ? 0 : Mu.Length / Frames;

    /// <summary>S, the speaker-embedding channels.</summary>
    public int SpkDim => Spks.Length;
}
