using DiTNet.FlowMatching;
using DiTNet.Tensors;
using DiTNet.Tests.FlowMatching;
using DiTNet.Training;

namespace DiTNet.Tests.Training;

public class TrainerTests
{
    private const int MelDim = 6, MuDim = 4, SpkDim = 3;

    private static TrainingOptions Options(int steps) => new()
    {
        BatchSize = 4,
        SegmentFrames = 24,
        PadMultiple = 8,
        StreamingShare = 0.5,
        EmaDecay = 0.9,
        LearningRate = new LearningRateSchedule(0.02, 5, steps, 0.002),
        Seed = 42,
    };

    private static LinearVelocityModel<float> MakeModel(ulong seed)
    {
        var model = new LinearVelocityModel<float>(MelDim, MuDim, SpkDim);
        model.Initialize(seed, 0.1);
        return model;
    }

    [Fact]
    public void TrainStep_ResumedFromState_RepeatsLossesBitForBit()
    {
        var data = SyntheticCorpus.Make(7, MelDim, MuDim, SpkDim, 10, 40, 1);
        var reference = new Trainer<float>(MakeModel(3), data, Options(12));
        var expected = Enumerable.Range(0, 12).Select(_ => reference.TrainStep().Loss).ToArray();

        var first = new Trainer<float>(MakeModel(3), data, Options(12));
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(expected[i], first.TrainStep().Loss);
        }
        var state = first.CaptureState();
        var resumedModel = MakeModel(77);
        var resumed = new Trainer<float>(resumedModel, data, Options(12));
        resumed.RestoreState(state);
        var actual = Enumerable.Range(0, 7).Select(_ => resumed.TrainStep().Loss).ToArray();

        Assert.Equal(expected[5..], actual);
        Assert.Equal(12, resumed.Step);
    }

    [Fact]
    public void TrainStep_SyntheticData_HalvesHeldOutLoss()
    {
        var data = SyntheticCorpus.Make(24, MelDim, MuDim, SpkDim, 10, 40, 2);
        var train = data[..20];
        var heldOut = data[20..];
        var model = MakeModel(5);
        var options = Options(300) with { StreamingShare = 0, EmaDecay = 0 };
        var trainer = new Trainer<float>(model, train, options);

        // one fixed batch of the held-out utterances with fixed draws, judged before and after
        var batch = new TrainingBatch<float>();
        batch.Resize(heldOut.Length, MelDim, MuDim, SpkDim, 40);
        for (int i = 0; i < heldOut.Length; i++)
        {
            batch.SetItem(i, heldOut[i], 0, heldOut[i].Frames, 0);
        }
        var draws = new FlowMatchingDraws<float>(heldOut.Length, MelDim, 40);
        draws.Draw(new RandomSource(9), new RandomSource(10), 0.0);
        var flow = new ConditionalFlowMatching<float>();
        double Loss() => flow.Loss(model, batch.X1, batch.Mask, batch.Mu, batch.Spks, batch.Cond, draws);

        double before = Loss();
        for (int i = 0; i < 300; i++)
        {
            trainer.TrainStep();
        }
        double after = Loss();

        Assert.True(after < 0.5 * before, $"held-out loss went from {before} to {after}.");
    }
}
