using DiTNet.Data;

namespace DiTNet.Tests.Data;

public class UtteranceTests
{
    [Fact]
    public void ComputeMu_AdditiveRamp_MatchesHandAverages()
    {
        // mel[b, f] = 10·b + f over 10 bands × 6 frames. The mean of an additive ramp over a block
        // is 10·(mean band) + (mean frame): bands 0-7 average 3.5 and 8-9 average 8.5, frames 0-3
        // average 1.5 and the partial block of frames 4-5 averages 4.5.
        const int bands = 10, frames = 6;
        var mel = new float[bands * frames];
        for (int b = 0; b < bands; b++)
        {
            for (int f = 0; f < frames; f++)
            {
                mel[b * frames + f] = 10 * b + f;
            }
        }

        float[] mu = Utterance.ComputeMu(mel, bands, frames);

        for (int b = 0; b < bands; b++)
        {
            for (int f = 0; f < frames; f++)
            {
                float expected = (b < 8 ? 35f : 85f) + (f < 4 ? 1.5f : 4.5f);
                Assert.True(mu[b * frames + f] == expected, $"mu[{b}, {f}]: expected {expected}, got {mu[b * frames + f]}");
            }
        }
    }

    [Fact]
    public void ComputeMu_SpikeInPartialBlock_SpreadsOverExistingValuesOnly()
    {
        // One value of 32 in the corner block of 2 bands × 2 frames: the mean divides by the 4
        // values there, not by the 8 × 4 a full block would have.
        const int bands = 10, frames = 6;
        var mel = new float[bands * frames];
        mel[9 * frames + 5] = 32;

        float[] mu = Utterance.ComputeMu(mel, bands, frames);

        for (int b = 0; b < bands; b++)
        {
            for (int f = 0; f < frames; f++)
            {
                float expected = b >= 8 && f >= 4 ? 8f : 0f;
                Assert.True(mu[b * frames + f] == expected, $"mu[{b}, {f}]: expected {expected}, got {mu[b * frames + f]}");
            }
        }
    }

    [Fact]
    public void ComputeMu_WrongLength_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => Utterance.ComputeMu(new float[79], 80, 1));
        Assert.Equal("mel", error.ParamName);
        Assert.Contains("[80, 1]", error.Message);
    }

    [Fact]
    public void Constructor_Mel_ComputesMuOfIt()
    {
        var random = new Random(3);
        var mel = new float[80 * 7];
        for (int i = 0; i < mel.Length; i++)
        {
            mel[i] = (float)(random.NextDouble() * 13 - 11.5);
        }

        var utterance = new Utterance("u", "text", 0, 7, mel, new float[80]);

        Assert.Equal(Utterance.ComputeMu(mel, 80, 7), utterance.Mu);
        Assert.Equal(7, utterance.Frames);
    }

    [Fact]
    public void Constructor_MelNotWholeRows_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => new Utterance("u", "text", 0, 7, new float[80 * 7 - 1], new float[80]));
        Assert.Equal("mel", error.ParamName);
    }
}
