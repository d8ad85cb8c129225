using DiTNet.Audio;

namespace DiTNet.Tests.Audio;

public partial class MelSpectrogramTests
{
    private const int Bins = MelSpectrogram.Bins;
    private const double BinHz = (double)MelSpectrogram.SampleRate / MelSpectrogram.FftSize;

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1000, 15)]
    [InlineData(500, 7.5)]
    [InlineData(6400, 42)]
    [InlineData(12000, 51.14316230071505)]
    public void HzToSlaneyMel_KnownPoints_MatchHandValues(double hz, double mel)
    {
        // Slaney: 200/3 Hz per mel below 1 kHz (so 1 kHz is mel 15), then 27 mels per factor 6.4,
        // so 6.4 kHz is mel 42 and 12 kHz is 15 + 27·ln 12 / ln 6.4.
        Assert.Equal(mel, MelSpectrogram.HzToSlaneyMel(hz), 1e-9);
        Assert.Equal(hz, MelSpectrogram.SlaneyMelToHz(mel), 1e-6);
    }

    [Fact]
    public void Filters_FirstBand_MatchesHandDerivedTriangle()
    {
        // All 82 edges are equally spaced in mel: step = mel(12 kHz) / 81. The first two edges
        // after 0 Hz lie below 1 kHz, where Hz = mel · 200/3.
        double step = (15 + 27 * Math.Log(12) / Math.Log(6.4)) / 81;
        double center = step * 200 / 3;
        double upper = 2 * step * 200 / 3;
        double peak = 2 / upper;
        var filters = new MelSpectrogram().Filters;

        for (int k = 0; k < 12; k++)
        {
            double hz = k * BinHz;
            double expected = hz <= center ? hz / center * peak : Math.Max(0, (upper - hz) / (upper - center) * peak);
            Assert.True(Math.Abs(filters[k] - expected) <= 1e-12,
                $"filter 0, bin {k} ({hz} Hz): expected {expected}, got {filters[k]}");
        }
    }

    [Fact]
    public void Filters_EveryBand_HasUnitAreaAndPeaksAtItsCenter()
    {
        var filters = new MelSpectrogram().Filters;
        double maxMel = MelSpectrogram.HzToSlaneyMel(12000);

        for (int band = 0; band < MelSpectrogram.MelBands; band++)
        {
            ReadOnlySpan<double> row = filters.Slice(band * Bins, Bins);
            double lower = MelSpectrogram.SlaneyMelToHz(maxMel * band / 81);
            double center = MelSpectrogram.SlaneyMelToHz(maxMel * (band + 1) / 81);
            double upper = MelSpectrogram.SlaneyMelToHz(maxMel * (band + 2) / 81);

            // Slaney's normalisation gives every triangle an area of 1 in Hz. The sum of its samples
            // times the bin width errs only near the three corners, by about (bin width / half-width)²,
            // so the bound is loose for the narrow low bands.
            double halfWidthBins = (upper - lower) / 2 / BinHz;
            double area = 0;
            int argMax = 0;
            for (int k = 0; k < Bins; k++)
            {
                Assert.True(row[k] >= 0, $"filter {band}, bin {k}: negative weight {row[k]}");
                Assert.True(row[k] == 0 || (k * BinHz > lower && k * BinHz < upper),
                    $"filter {band}, bin {k}: weight {row[k]} outside ({lower}, {upper}) Hz");
                area += row[k] * BinHz;
                argMax = row[k] > row[argMax] ? k : argMax;
            }
            double areaTolerance = 1.0 / (halfWidthBins * halfWidthBins);
            Assert.True(Math.Abs(area - 1) <= areaTolerance,
                $"filter {band}: area {area}, allowed 1 ± {areaTolerance:E2} (half-width {halfWidthBins:F1} bins)");
            Assert.True(Math.Abs(argMax * BinHz - center) <= BinHz,
                $"filter {band}: peak at bin {argMax} ({argMax * BinHz} Hz), center {center} Hz");
        }
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(479, 0)]
    [InlineData(480, 1)]
    [InlineData(959, 1)]
    [InlineData(960, 2)]
    [InlineData(24000, 50)]
    [InlineData(87276, 181)]
    public void FrameCount_SampleCounts_FollowFormula(int samples, int frames)
    {
        Assert.Equal(frames, MelSpectrogram.FrameCount(samples));
    }

    [Fact]
    public void FrameCount_Negative_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => MelSpectrogram.FrameCount(-1));
        Assert.Equal("samples", error.ParamName);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(479)]
    [InlineData(720)]
    public void Compute_TooShortForPadding_ThrowsNamingLength(int samples)
    {
        var error = Assert.Throws<ArgumentException>(() => new MelSpectrogram().Compute(new float[samples]));
        Assert.Equal("audio", error.ParamName);
        Assert.Contains($"{samples} samples", error.Message);
    }

    [Fact]
    public void Compute_ShortestInput_ReturnsOneFrame()
    {
        var audio = new float[721];
        audio[360] = 0.5f;

        float[] mel = new MelSpectrogram().Compute(audio);

        Assert.Equal(MelSpectrogram.MelBands, mel.Length);
        Assert.All(mel, value => Assert.True(float.IsFinite(value) && value > Math.Log(1e-5) - 1e-6));
    }

    [Fact]
    public void Compute_Silence_ReturnsLogOfFloor()
    {
        float[] mel = new MelSpectrogram().Compute(new float[4800]);

        // Silence leaves only the 1e-9 under the square root: every band's energy is
        // sqrt(1e-9)·(filter sum) ≈ 3e-5·(a few 1e-2), far below the 1e-5 floor.
        Assert.Equal(MelSpectrogram.MelBands * 10, mel.Length);
        Assert.All(mel, value => Assert.Equal(Math.Log(1e-5), value, 1e-6));
    }

    [Fact]
    public void Compute_Sine1kHz_PeaksInBandContaining1kHz()
    {
        var audio = new float[24000];
        for (int i = 0; i < audio.Length; i++)
        {
            audio[i] = (float)(0.5 * Math.Sin(2 * Math.PI * 1000 * i / 24000.0));
        }

        float[] mel = new MelSpectrogram().Compute(audio);

        int frames = MelSpectrogram.FrameCount(audio.Length);
        double maxMel = MelSpectrogram.HzToSlaneyMel(12000);
        for (int n = 0; n < frames; n++)
        {
            int loudest = 0;
            for (int band = 1; band < MelSpectrogram.MelBands; band++)
            {
                loudest = mel[band * frames + n] > mel[loudest * frames + n] ? band : loudest;
            }
            double lower = MelSpectrogram.SlaneyMelToHz(maxMel * loudest / 81);
            double upper = MelSpectrogram.SlaneyMelToHz(maxMel * (loudest + 2) / 81);
            Assert.True(lower < 1000, $"frame {n}: loudest band {loudest} starts at {lower} Hz, above 1 kHz");
            Assert.True(upper > 1000, $"frame {n}: loudest band {loudest} ends at {upper} Hz, below 1 kHz");
        }
    }
}
