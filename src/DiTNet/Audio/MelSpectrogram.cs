using System.Numerics;

namespace DiTNet.Audio;

/// <summary>
/// The log-mel front end of CosyVoice 3: 24 kHz audio to 80 log-mel bands at 50 frames per second.
/// </summary>
/// <remarks>
/// <para>Matches Matcha-TTS's <c>mel_spectrogram</c> as CosyVoice 3 configures it: FFT 1920, hop 480,
/// periodic Hann window of 1920, no centring but reflect padding of (1920 − 480)/2 = 720 samples
/// on each side, magnitude <c>sqrt(re² + im² + 1e-9)</c>, librosa's Slaney mel filters
/// (<c>librosa.filters.mel(sr=24000, n_fft=1920, n_mels=80, fmin=0, fmax=12000, htk=False,
/// norm='slaney')</c>), then <c>ln(max(mel, 1e-5))</c>.</para>
/// <para>Everything runs in double and is rounded to float once at the end. Speech lands
/// roughly in −11.5 (silence: ln 1e-5 ≈ −11.51) to +2.5.</para>
/// <para>An instance holds only read-only tables, so it may be shared between threads.</para>
/// </remarks>
public sealed class MelSpectrogram
{
    /// <summary>Sample rate of the input in Hz.</summary>
    public const int SampleRate = 24000;

    /// <summary>FFT length, equal to the window length, in samples.</summary>
    public const int FftSize = 1920;

    /// <summary>Hop between frames in samples (20 ms, 50 frames per second).</summary>
    public const int HopLength = 480;

    /// <summary>Number of mel bands M.</summary>
    public const int MelBands = 80;

    /// <summary>Lowest filter edge in Hz.</summary>
    public const double MinFrequency = 0;

    /// <summary>Highest filter edge in Hz (the Nyquist frequency).</summary>
    public const double MaxFrequency = 12000;

    /// <summary>Reflect padding on each side of the signal: (FFT size − hop) / 2 samples.</summary>
    public const int Padding = (FftSize - HopLength) / 2;

    /// <summary>Number of FFT bins kept, FFT size / 2 + 1.</summary>
    public const int Bins = FftSize / 2 + 1;

    /// <summary>Floor applied to the mel energy before the logarithm.</summary>
    public const double EnergyFloor = 1e-5;

    // added under the square root so that silent bins have a finite, differentiable magnitude
    private const double MagnitudeEpsilon = 1e-9;

    private readonly MixedRadixFft _fft = new(FftSize);
    private readonly double[] _window = CreatePeriodicHannWindow(FftSize);
    private readonly double[] _filters = CreateSlaneyFilterbank(SampleRate, FftSize, MelBands, MinFrequency, MaxFrequency);

    // nonzero range [start, end) of each filter's row, to skip the zeros in the product
    private readonly int[] _filterStart = new int[MelBands];
    private readonly int[] _filterEnd = new int[MelBands];

    /// <summary>Creates the front end with CosyVoice 3's settings.</summary>
    public MelSpectrogram()
    {
        for (int band = 0; band < MelBands; band++)
        {
            ReadOnlySpan<double> row = _filters.AsSpan(band * Bins, Bins);
            int start = 0;
            while (start < Bins && row[start] == 0)
            {
                start++;
            }
            int end = Bins;
            while (end > start && row[end - 1] == 0)
            {
                end--;
            }
            _filterStart[band] = start;
            _filterEnd[band] = end;
        }
    }

    /// <summary>The mel filterbank: [M, FFT size / 2 + 1], row-major.</summary>
    public ReadOnlySpan<double> Filters => _filters;

    /// <summary>
    /// Returns the number of frames for <paramref name="samples"/> input samples:
    /// <c>⌊(samples + 1440 − 1920) / 480⌋ + 1</c>, or 0 when that is not positive (fewer than 480 samples).
    /// </summary>
    /// <remarks>
    /// <see cref="Compute(ReadOnlySpan{float})"/> needs more than <see cref="Padding"/> samples
    /// for its reflect padding, so inputs of 480 to 720 samples have a frame count here but are
    /// rejected there.
    /// </remarks>
    /// <exception cref="ArgumentException">The sample count is negative.</exception>
    public static int FrameCount(int samples)
    {
        if (samples < 0)
        {
            throw new ArgumentException($"The sample count must be non-negative, got {samples}.", nameof(samples));
        }
        long padded = (long)samples + 2 * Padding;
        return padded < FftSize ? 0 : (int)((padded - FftSize) / HopLength) + 1;
    }

    /// <summary>Computes the log-mel spectrogram of 24 kHz mono audio.</summary>
    /// <param name="audio">Samples: [samples], nominally in [−1, 1].</param>
    /// <returns>The log-mel: [M, N] with N = <see cref="FrameCount"/>, band-major, row-major.</returns>
    /// <exception cref="ArgumentException">The audio has no more than 720 samples (30 ms), too few for the reflect padding.</exception>
    public float[] Compute(ReadOnlySpan<float> audio)
    {
        var mel = new float[MelBands * FrameCountChecked(audio.Length, nameof(audio))];
        Compute(audio, mel);
        return mel;
    }

    /// <summary>Computes the log-mel spectrogram of 24 kHz mono audio into <paramref name="destination"/>.</summary>
    /// <param name="audio">Samples: [samples], nominally in [−1, 1].</param>
    /// <param name="destination">The log-mel: [M, N] with N = <see cref="FrameCount"/>, band-major, row-major.</param>
    /// <exception cref="ArgumentException">
    /// The audio has no more than 720 samples, or <paramref name="destination"/> is not M·N long.
    /// </exception>
    public void Compute(ReadOnlySpan<float> audio, Span<float> destination)
    {
        int frames = FrameCountChecked(audio.Length, nameof(audio));
        if (destination.Length != MelBands * frames)
        {
            throw new ArgumentException(
                $"The destination must hold [{MelBands}, {frames}] = {MelBands * frames} values for {audio.Length} samples, got {destination.Length}.",
                nameof(destination));
        }

        // reflect padding as torch's F.pad(mode="reflect"): the edge sample is not repeated
        double[] padded = new double[audio.Length + 2 * Padding];
        for (int i = 0; i < padded.Length; i++)
        {
            padded[i] = audio[ReflectIndex(i - Padding, audio.Length)];
        }

        var frame = new Complex[FftSize];
        var spectrum = new Complex[FftSize];
        var magnitude = new double[Bins];
        for (int n = 0; n < frames; n++)
        {
            // 1. window the frame
            int start = n * HopLength;
            for (int i = 0; i < FftSize; i++)
            {
                frame[i] = new Complex(padded[start + i] * _window[i], 0);
            }

            // 2. magnitude spectrum
            _fft.Forward(frame, spectrum);
            for (int k = 0; k < Bins; k++)
            {
                double re = spectrum[k].Real;
                double im = spectrum[k].Imaginary;
                magnitude[k] = Math.Sqrt(re * re + im * im + MagnitudeEpsilon);
            }

            // 3. mel energy, floored, then the natural log
            for (int band = 0; band < MelBands; band++)
            {
                ReadOnlySpan<double> filter = _filters.AsSpan(band * Bins, Bins);
                double energy = 0;
                for (int k = _filterStart[band]; k < _filterEnd[band]; k++)
                {
                    energy += filter[k] * magnitude[k];
                }
                destination[band * frames + n] = (float)Math.Log(Math.Max(energy, EnergyFloor));
            }
        }
    }

    /// <summary>
    /// Creates a mel filterbank as librosa 0.10's <c>filters.mel</c> with <c>htk=False, norm='slaney'</c>:
    /// triangles on the Slaney mel scale (linear below 1 kHz, logarithmic above), each scaled to unit area in Hz.
    /// </summary>
    /// <param name="sampleRate">Sample rate in Hz.</param>
    /// <param name="fftSize">FFT length; the filters span its fftSize / 2 + 1 bins.</param>
    /// <param name="melBands">Number of filters M.</param>
    /// <param name="minFrequency">Lower edge of the first filter in Hz.</param>
    /// <param name="maxFrequency">Upper edge of the last filter in Hz.</param>
    /// <returns>The filters: [M, fftSize / 2 + 1], row-major.</returns>
    /// <exception cref="ArgumentException">A size is not positive or the frequency range is empty.</exception>
    public static double[] CreateSlaneyFilterbank(int sampleRate, int fftSize, int melBands, double minFrequency, double maxFrequency)
    {
        if (sampleRate <= 0 || fftSize <= 0 || melBands <= 0)
        {
            throw new ArgumentException(
                $"Sample rate, FFT size and band count must be positive, got {sampleRate}, {fftSize} and {melBands}.", nameof(sampleRate));
        }
        if (!(minFrequency >= 0 && maxFrequency > minFrequency))
        {
            throw new ArgumentException(
                $"The frequency range must satisfy 0 <= min < max, got [{minFrequency}, {maxFrequency}] Hz.", nameof(maxFrequency));
        }

        // M + 2 edges equally spaced in mel, then converted back to Hz
        int bins = fftSize / 2 + 1;
        double minMel = HzToSlaneyMel(minFrequency);
        double maxMel = HzToSlaneyMel(maxFrequency);
        var edges = new double[melBands + 2];
        for (int i = 0; i < edges.Length; i++)
        {
            edges[i] = SlaneyMelToHz(minMel + (maxMel - minMel) * i / (melBands + 1));
        }

        var filters = new double[melBands * bins];
        for (int band = 0; band < melBands; band++)
        {
            double lower = edges[band];
            double center = edges[band + 1];
            double upper = edges[band + 2];
            double areaScale = 2.0 / (upper - lower);
            for (int k = 0; k < bins; k++)
            {
                double frequency = (double)k * sampleRate / fftSize;
                double rising = (frequency - lower) / (center - lower);
                double falling = (upper - frequency) / (upper - center);
                filters[band * bins + k] = Math.Max(0, Math.Min(rising, falling)) * areaScale;
            }
        }
        return filters;
    }

    /// <summary>Converts Hz to the Slaney mel scale: f / (200/3) below 1 kHz, 15 + 27·ln(f / 1000) / ln 6.4 above.</summary>
    public static double HzToSlaneyMel(double hz)
    {
        const double linearHzPerMel = 200.0 / 3;
        const double breakHz = 1000;
        const double breakMel = breakHz / linearHzPerMel;
        double logStep = Math.Log(6.4) / 27;
        return hz >= breakHz ? breakMel + Math.Log(hz / breakHz) / logStep : hz / linearHzPerMel;
    }

    /// <summary>Converts the Slaney mel scale back to Hz; the inverse of <see cref="HzToSlaneyMel"/>.</summary>
    public static double SlaneyMelToHz(double mel)
    {
        const double linearHzPerMel = 200.0 / 3;
        const double breakHz = 1000;
        const double breakMel = breakHz / linearHzPerMel;
        double logStep = Math.Log(6.4) / 27;
        return mel >= breakMel ? breakHz * Math.Exp(logStep * (mel - breakMel)) : mel * linearHzPerMel;
    }

    private static double[] CreatePeriodicHannWindow(int length)
    {
        var window = new double[length];
        for (int i = 0; i < length; i++)
        {
            window[i] = 0.5 - 0.5 * Math.Cos(2.0 * Math.PI * i / length);
        }
        return window;
    }

    private static int ReflectIndex(int index, int length)
    {
        if (index < 0)
        {
            return -index;
        }
        return index >= length ? 2 * (length - 1) - index : index;
    }

    private static int FrameCountChecked(int samples, string paramName)
    {
        if (samples <= Padding)
        {
            throw new ArgumentException(
                $"The audio has {samples} samples; the reflect padding of {Padding} samples on each side needs at least {Padding + 1} (30 ms at 24 kHz).",
                paramName);
        }
        return FrameCount(samples);
    }
}
