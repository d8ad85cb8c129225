using DiTNet.Models;
using DiTNet.Training;

namespace DiTNet.Tests.Training;

public class TrainingCheckpointTests
{
    private static readonly DiTConfig Tiny = new(32, 2, 2, 16, 2, 8, 6, 4, true, StaticChunkSize: 5, Dropout: 0.1);

    private static TrainingOptions Options() => new()
    {
        BatchSize = 3,
        SegmentFrames = 20,
        PadMultiple = 4,
        StreamingShare = 0.5,
        EmaDecay = 0.9,
        LearningRate = new LearningRateSchedule(2e-3, 2, 8, 1e-4),
        Seed = 11,
    };

    private static DiT<float> MakeModel(int seed)
    {
        var model = new DiT<float>(Tiny) { Threads = 1 };
        model.Initialize(seed);
        return model;
    }

    [Fact]
    public void Resume_FromSavedFile_RepeatsLossesBitForBit()
    {
        var data = SyntheticCorpus.Make(6, Tiny.MelDim, Tiny.MuDim, Tiny.SpkDim, 8, 30, 3);
        var reference = new Trainer<float>(MakeModel(1), data, Options());
        var expected = Enumerable.Range(0, 8).Select(_ => reference.TrainStep().Loss).ToArray();

        string folder = Path.Combine(Path.GetTempPath(), "ditnet-resume-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            string path = Path.Combine(folder, "checkpoint.safetensors");
            var first = new Trainer<float>(MakeModel(1), data, Options());
            var firstLosses = Enumerable.Range(0, 4).Select(_ => first.TrainStep().Loss).ToArray();
            TrainingCheckpoint.Save(path, first.CaptureState(), Tiny);

            var state = TrainingCheckpoint.Load<float>(path);
            var resumed = new Trainer<float>(MakeModel(2), data, Options());
            resumed.RestoreState(state);
            var resumedLosses = Enumerable.Range(0, 4).Select(_ => resumed.TrainStep().Loss).ToArray();

            Assert.Equal(expected[..4], firstLosses);
            Assert.Equal(expected[4..], resumedLosses);
            Assert.Equal(Tiny, TrainingCheckpoint.ReadConfig(state));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void TrainStep_TinyDiT_LowersLoss()
    {
        var data = SyntheticCorpus.Make(12, Tiny.MelDim, Tiny.MuDim, Tiny.SpkDim, 8, 30, 4);
        var options = Options() with { EmaDecay = 0, StreamingShare = 0, LearningRate = new LearningRateSchedule(3e-3, 10, 150, 3e-4) };
        var trainer = new Trainer<float>(MakeModel(3), data, options);

        var losses = Enumerable.Range(0, 150).Select(_ => trainer.TrainStep().Loss).ToArray();

        double early = losses[..15].Average(), late = losses[^15..].Average();
        Assert.True(late < 0.6 * early, $"mean batch loss went from {early:F4} (first 15 steps) to {late:F4} (last 15).");
    }
}
