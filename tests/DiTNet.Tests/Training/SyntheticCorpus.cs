using DiTNet.Tensors;
using DiTNet.Training;

namespace DiTNet.Tests.Training;

/// <summary>Utterances whose mel is a fixed linear map of mu plus a speaker offset, so a model can learn them.</summary>
internal static class SyntheticCorpus
{
    public static TrainingExample[] Make(int count, int melDim, int muDim, int spkDim, int minFrames, int maxFrames, ulong seed)
    {
        var random = new RandomSource(seed);
        var map = new double[melDim * muDim];
        for (int i = 0; i < map.Length; i++)
        {
            map[i] = random.NextGaussian() / Math.Sqrt(muDim);
        }
        var examples = new TrainingExample[count];
        for (int e = 0; e < count; e++)
        {
            int frames = minFrames + random.NextInt(maxFrames - minFrames + 1);
            var mu = new float[muDim * frames];
            var spks = new float[spkDim];
            var mel = new float[melDim * frames];
            for (int i = 0; i < mu.Length; i++)
            {
                mu[i] = (float)random.NextGaussian();
            }
            for (int s = 0; s < spkDim; s++)
            {
                spks[s] = (float)random.NextGaussian();
            }
            for (int m = 0; m < melDim; m++)
            {
                for (int n = 0; n < frames; n++)
                {
                    double value = 0.5 * spks[m % spkDim];
                    for (int u = 0; u < muDim; u++)
                    {
                        value += map[m * muDim + u] * mu[u * frames + n];
                    }
                    mel[m * frames + n] = (float)value;
                }
            }
            examples[e] = new TrainingExample($"synthetic-{e}", mel, mu, spks, frames);
        }
        return examples;
    }
}
