// Loads DiT weights and samples one mel spectrogram with 10 guided Euler steps, as the README shows.
// Usage: dotnet run --project samples/SampleMel -- WEIGHTS.safetensors [FRAMES]
using DiTNet.FlowMatching;
using DiTNet.IO;
using DiTNet.Models;
using DiTNet.Tensors;

if (args.Length < 1)
{
    Console.Error.WriteLine("usage: SampleMel WEIGHTS.safetensors [FRAMES]");
    return 2;
}

// The config is read from the file's metadata or inferred from the tensor shapes.
DiT<float> model = DiTCheckpoint.Load<float>(args[0]);
DiTConfig config = model.Config;

// Channels-first, as in PyTorch: x, cond [B, M, N]; mask [B, 1, N]; mu [B, U, N]; spks [B, S].
int batch = 1;
int frames = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200;
var noise = new Tensor<float>(batch, config.MelDim, frames);
new RandomSource(seed: 1).FillGaussian(noise.Span);
var mask = new Tensor<float>(batch, 1, frames);
mask.Span.Fill(1f);
var mu = new Tensor<float>(batch, config.MuDim, frames);
var spks = new Tensor<float>(batch, config.SpkDim);
var cond = new Tensor<float>(batch, config.MelDim, frames);

var sampler = new EulerSampler<float> { Steps = 10, GuidanceWeight = 0.7 };
Tensor<float> mel = sampler.Sample(model, noise, mask, mu, spks, cond);

float min = float.PositiveInfinity, max = float.NegativeInfinity;
foreach (float value in mel.Span)
{
    min = Math.Min(min, value);
    max = Math.Max(max, value);
}
Console.WriteLine($"sampled mel {mel.ShapeString}, values from {min:F3} to {max:F3}");
return 0;
