using System.Numerics;

namespace DiTNet.Tensors;

/// <summary>
/// A small seeded random stream (SplitMix64) whose whole state is one <see cref="State"/> value,
/// so that a checkpoint can store it and a resumed run draws the same numbers.
/// </summary>
public sealed class RandomSource
{
    /// <summary>Creates a stream from a seed.</summary>
    public RandomSource(ulong seed) => State = seed;

    /// <summary>The stream position; setting it restores an earlier position.</summary>
    public ulong State { get; set; }

    /// <summary>Returns 64 uniformly distributed bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Returns a uniform draw from [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Returns a standard normal draw (Box-Muller; one of the pair is discarded so that the state stays one value).</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble();
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>Returns a uniform integer in [0, <paramref name="maxExclusive"/>).</summary>
    public int NextInt(int maxExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxExclusive);
        return (int)(NextDouble() * maxExclusive);
    }

    /// <summary>Fills <paramref name="destination"/> with standard normal draws.</summary>
    public void FillGaussian<T>(Span<T> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = T.CreateTruncating(NextGaussian());
        }
    }
}
