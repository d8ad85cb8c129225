using System.Diagnostics;
using System.Numerics;

namespace DiTNet.Audio;

/// <summary>
/// A complex forward FFT in double for one fixed length whose prime factors are small
/// (1920 = 2^7·3·5 for the mel front end): recursive decimation in time, one radix per level.
/// </summary>
/// <remarks>
/// Computes <c>X[k] = Σ_n x[n]·exp(−2πi·nk/L)</c> with no scaling. An instance holds only
/// read-only tables, so one instance may serve several threads, each with its own buffers.
/// </remarks>
internal sealed class MixedRadixFft
{
    // Radix 4 first keeps the number of levels low; any factor works, larger ones cost more.
    private static readonly int[] PreferredRadices = [4, 2, 3, 5, 7];

    private readonly int[] _radices;
    private readonly Complex[] _twiddles;

    /// <summary>Plans an FFT of <paramref name="length"/> points.</summary>
    /// <exception cref="ArgumentException">The length is below 1 or has a prime factor above 7.</exception>
    public MixedRadixFft(int length)
    {
        if (length < 1)
        {
            throw new ArgumentException($"The FFT length must be at least 1, got {length}.", nameof(length));
        }
        Length = length;
        _radices = Factor(length);

        // twiddles[j] = exp(-2πi·j/L); a sub-transform of length n = L/s uses every s-th entry
        _twiddles = new Complex[length];
        for (int j = 0; j < length; j++)
        {
            double angle = -2.0 * Math.PI * j / length;
            _twiddles[j] = new Complex(Math.Cos(angle), Math.Sin(angle));
        }
    }

    /// <summary>The transform length L.</summary>
    public int Length { get; }

    /// <summary>Transforms <paramref name="input"/> into <paramref name="output"/>.</summary>
    /// <param name="input">x: [L]; left unchanged.</param>
    /// <param name="output">X: [L]; must not overlap <paramref name="input"/>.</param>
    public void Forward(ReadOnlySpan<Complex> input, Span<Complex> output)
    {
        if (input.Length != Length || output.Length != Length)
        {
            throw new ArgumentException(
                $"The FFT of length {Length} needs input and output of {Length} points, got {input.Length} and {output.Length}.",
                nameof(input));
        }
        Span<Complex> butterfly = stackalloc Complex[MaxRadix];
        Transform(input, 0, 1, Length, output, 0, butterfly);
    }

    private const int MaxRadix = 7;

    // Transforms the n points input[offset + i·stride] into output[0..n).
    private void Transform(ReadOnlySpan<Complex> input, int offset, int stride, int n, Span<Complex> output, int level, Span<Complex> butterfly)
    {
        if (n == 1)
        {
            output[0] = input[offset];
            return;
        }

        // split into p interleaved sub-sequences of length m and transform each into its own block
        int p = _radices[level];
        int m = n / p;
        for (int j = 0; j < p; j++)
        {
            Transform(input, offset + j * stride, stride * p, m, output.Slice(j * m, m), level + 1, butterfly);
        }

        // combine: X[k + q·m] = Σ_j W_n^(j·k) · Y_j[k] · W_p^(j·q), with W_p = W_n^m
        int twiddleStep = Length / n;
        for (int k = 0; k < m; k++)
        {
            for (int j = 0; j < p; j++)
            {
                butterfly[j] = output[j * m + k] * _twiddles[j * k * twiddleStep];
            }
            for (int q = 0; q < p; q++)
            {
                Complex sum = butterfly[0];
                for (int j = 1; j < p; j++)
                {
                    sum += butterfly[j] * _twiddles[(j * q * m % n) * twiddleStep];
                }
                output[q * m + k] = sum;
            }
        }
    }

    private static int[] Factor(int length)
    {
        var radices = new List<int>();
        int rest = length;
        foreach (int radix in PreferredRadices)
        {
            while (rest % radix == 0)
            {
                radices.Add(radix);
                rest /= radix;
            }
        }
        if (rest != 1)
        {
            throw new ArgumentException(
                $"The FFT length {length} has the prime factor(s) {rest}; only 2, 3, 5 and 7 are supported.", nameof(length));
        }
        Debug.Assert(radices.TrueForAll(r => r <= MaxRadix));
        return [.. radices];
    }
}
