using System.Text.Json;
using DiTNet.Audio;
using DiTNet.IO;
using Xunit.Abstractions;

namespace DiTNet.Tests.Audio;

public class MelSpectrogramFixtureTests(ITestOutputHelper output)
{
    // A float32 result may differ from the float64 reference by a rounding step on every value,
    // and by more on the quietest bins, where ln amplifies the error of a tiny energy. The
    // reference extractor itself, run in float32, is off by up to 3.4e-3 there.
    private const double MeanAbsTolerance = 2e-4;
    private const double MaxAbsTolerance = 1e-2;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Compute_FixtureClip_MatchesReferenceLogMel(int clip)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(AppContext.BaseDirectory, "Fixtures", "mel_frontend.safetensors"));
        float[] audio = file.ReadTensor<float>($"input.{clip}.audio").Span.ToArray();
        var expected = file.ReadTensor<float>($"output.{clip}.mel");

        float[] actual = new MelSpectrogram().Compute(audio);

        int frames = expected.Dim(1);
        Assert.Equal(MelSpectrogram.MelBands, expected.Dim(0));
        Assert.Equal(MelSpectrogram.FrameCount(audio.Length), frames);
        Assert.Equal(expected.Length, actual.Length);

        double sum = 0, max = 0;
        int worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected.Span[i]);
            sum += error;
            if (error > max || double.IsNaN(error))
            {
                max = error;
                worst = i;
            }
        }
        double mean = sum / actual.Length;
        string report = $"clip {clip} [80, {frames}]: mean abs error {mean:E3} (allowed {MeanAbsTolerance:E1}), "
            + $"max abs error {max:E3} (allowed {MaxAbsTolerance:E1}) at [{worst / frames}, {worst % frames}], "
            + $"expected {expected.Span[worst]}, actual {actual[worst]}";
        output.WriteLine(report);
        Assert.True(mean <= MeanAbsTolerance, report);
        Assert.True(max <= MaxAbsTolerance, report);
    }

    [Fact]
    public void Config_FixtureMetadata_MatchesFrontEndConstants()
    {
        using var file = SafeTensorsFile.Open(Path.Combine(AppContext.BaseDirectory, "Fixtures", "mel_frontend.safetensors"));
        using var config = JsonDocument.Parse(file.Metadata["config"]);
        JsonElement root = config.RootElement;

        Assert.Equal(MelSpectrogram.FftSize, root.GetProperty("n_fft").GetInt32());
        Assert.Equal(MelSpectrogram.MelBands, root.GetProperty("num_mels").GetInt32());
        Assert.Equal(MelSpectrogram.SampleRate, root.GetProperty("sampling_rate").GetInt32());
        Assert.Equal(MelSpectrogram.HopLength, root.GetProperty("hop_size").GetInt32());
        Assert.Equal(MelSpectrogram.FftSize, root.GetProperty("win_size").GetInt32());
        Assert.Equal(MelSpectrogram.MaxFrequency, root.GetProperty("fmax_effective").GetDouble());
        Assert.Equal(MelSpectrogram.EnergyFloor, root.GetProperty("log_clamp").GetDouble());
    }
}
