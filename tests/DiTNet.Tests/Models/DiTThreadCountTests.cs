using DiTNet.Models;
using DiTNet.Tensors;

namespace DiTNet.Tests.Models;

public class DiTThreadCountTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TrainStep_ThreadCounts_GiveIdenticalBits(bool streaming)
    {
        // Wide and long enough (D 128, 2 × 300 frames) that the elementwise passes, the norms'
        // column reductions, the convolutions and the products all split among threads.
        const int Batch = 2, Frames = 300, Mel = 8;
        var config = new DiTConfig(Dim: 128, Depth: 2, Heads: 2, DimHead: 64, FFMult: 2, MelDim: Mel, MuDim: 8, SpkDim: 8,
            LongSkipConnection: true, StaticChunkSize: 50);
        var random = new RandomSource(5);
        Tensor<float> Gaussian(params int[] shape)
        {
            var tensor = new Tensor<float>(shape);
            random.FillGaussian(tensor.Span);
            return tensor;
        }
        Tensor<float> x = Gaussian(Batch, Mel, Frames), mu = Gaussian(Batch, Mel, Frames), cond = Gaussian(Batch, Mel, Frames);
        Tensor<float> spks = Gaussian(Batch, Mel), t = new(Batch), outputGradient = Gaussian(Batch, Mel, Frames);
        t[0] = 0.3f;
        t[1] = 0.8f;
        var mask = new Tensor<float>(Batch, 1, Frames);
        mask.Span.Fill(1);
        mask.Slice(1)[240..].Clear();

        float[][] Run(int threads)
        {
            var model = new DiT<float>(config) { Threads = threads, Training = true };
            model.Initialize(seed: 3);
            float[] output = model.Forward(x, mask, mu, t, spks, cond, streaming).ToArray();
            var gradients = new DiTInputGradients<float>
            {
                X = new Tensor<float>(Batch, Mel, Frames),
                Mu = new Tensor<float>(Batch, Mel, Frames),
                Cond = new Tensor<float>(Batch, Mel, Frames),
                Spks = new Tensor<float>(Batch, Mel),
                Time = new Tensor<float>(Batch),
            };
            model.Backward(outputGradient, gradients);
            float[][] inputs = [output, gradients.X.ToArray(), gradients.Mu.ToArray(), gradients.Cond.ToArray(),
                gradients.Spks.ToArray(), gradients.Time.ToArray()];
            return [.. inputs, .. model.Parameters.Select(p => p.Gradient.ToArray())];
        }

        float[][] one = Run(1), two = Run(2), three = Run(3);
        Assert.Equal(one.Length, two.Length);
        for (int i = 0; i < one.Length; i++)
        {
            Assert.Equal(one[i], two[i]);
            Assert.Equal(one[i], three[i]);
        }
    }
}
