using DiTNet.Training;

namespace DiTNet.Tests.Training;

public class LearningRateScheduleTests
{
    [Theory]
    [InlineData(1, 0.25)]
    [InlineData(4, 1.0)]
    [InlineData(9, 0.55)]
    [InlineData(14, 0.1)]
    [InlineData(20, 0.1)]
    public void At_Cosine_MatchesFormula(long step, double expected)
    {
        // 4 warm-up steps to 1.0, then half a cosine over 10 steps to 0.1: the midpoint (step 9) is 0.55
        var schedule = new LearningRateSchedule(1.0, 4, 14, 0.1, LearningRateDecay.Cosine);

        Assert.Equal(expected, schedule.At(step), 12);
    }

    [Theory]
    [InlineData(1, 0.5)]
    [InlineData(6, 0.6)]
    [InlineData(12, 0.0)]
    public void At_Linear_MatchesFormula(long step, double expected)
    {
        var schedule = new LearningRateSchedule(1.0, 2, 12, 0.0, LearningRateDecay.Linear);

        Assert.Equal(expected, schedule.At(step), 12);
    }

    [Fact]
    public void At_NoWarmup_StartsAtPeak()
    {
        var schedule = new LearningRateSchedule(0.3, 0, 100, 0.0, LearningRateDecay.Constant);

        Assert.Equal(0.3, schedule.At(1));
        Assert.Equal(0.3, schedule.At(500));
    }
}
