using DiTNet.Models;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Models;

public class DiTTests
{
    private const int Batch = 2, Frames = 7, Dim = 32, Mel = 5;

    private static DiTConfig TinyConfig(bool longSkip, double dropout = 0) => new(
        Dim: Dim, Depth: 2, Heads: 2, DimHead: 8, FFMult: 2, MelDim: Mel, MuDim: 5, SpkDim: 5,
        LongSkipConnection: longSkip, StaticChunkSize: 3, Dropout: dropout);

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Backward_TinyModel_MatchesFiniteDifferences(bool longSkip, bool streaming)
    {
        // Dropout is active; every loss evaluation restores the dropout stream so the same elements drop.
        // Item 1 has 4 real frames of 7. Inputs are checked whole; each parameter at up to 16 elements.
        var model = new DiT<double>(TinyConfig(longSkip, dropout: 0.1)) { Training = true };
        model.Initialize(seed: 1);
        var inputs = TinyInputs<double>(seed: 2, lengths: [Frames, 4]);
        var weights = GradientCheck.Random(9, Batch, Mel, Frames);
        double Loss()
        {
            model.DropoutRandom.State = 77;
            return GradientCheck.Dot(inputs.Run(model, streaming).Span, weights.Span);
        }

        Loss();
        var gradients = inputs.NewGradients();
        model.Backward(weights, gradients);

        GradientCheck.Check("dX", inputs.X, gradients.X!.Span, Loss);
        GradientCheck.Check("dMu", inputs.Mu, gradients.Mu!.Span, Loss);
        GradientCheck.Check("dT", inputs.Time, gradients.Time!.Span, Loss);
        GradientCheck.Check("dSpks", inputs.Spks, gradients.Spks!.Span, Loss);
        GradientCheck.Check("dCond", inputs.Cond, gradients.Cond!.Span, Loss);
        foreach (var parameter in model.Parameters.Where(p => p.Trainable))
        {
            CheckSampled(parameter.Name, parameter.Value, parameter.Gradient.Span, Loss, samples: 16);
        }
    }

    [Fact]
    public void Backward_LongSkipStackHalfZero_BlocksGetZeroGradient()
    {
        // With columns 0..D-1 of the long skip weight zero, the block stack's output is ignored.
        // The input embedding then gets its gradient only through columns D..2D-1: with g the
        // gradient at the long skip's output, dH = g·W[:, D:2D], the conv residual turns it into
        // dP = dH + convᵀ(dH), and the projection bias gradient is the sum of dP over all rows.
        var model = new DiT<double>(TinyConfig(longSkip: true));
        model.Initialize(seed: 3);
        var skip = model.LongSkip!.Weight.Value;
        for (int o = 0; o < Dim; o++)
        {
            skip.Row(o)[..Dim].Clear();
        }
        var inputs = TinyInputs<double>(seed: 4, lengths: [Frames, 5]);
        var outputGradient = GradientCheck.Random(5, Batch, Mel, Frames);
        inputs.Run(model, streaming: false);
        model.Backward(outputGradient, inputs.NewGradients());

        foreach (var parameter in model.Blocks.SelectMany(block => block.Parameters))
        {
            Assert.True(parameter.Gradient.Span.IndexOfAnyExcept(0.0) < 0, $"{parameter.Name} has a nonzero gradient.");
        }
        double[] actual = model.InputEmbed.Proj.Bias!.Gradient.ToArray();

        // g: the gradient at the long skip's output, through the final norm and the output projection.
        // The model's own layers are reused here; their gradients are no longer read.
        var temb = model.TimeEmbed.Forward(inputs.Time);
        var h = model.InputEmbed.Forward(inputs.X, inputs.Cond, inputs.Mu, inputs.Spks);
        var s = new Tensor<double>(Batch, Frames, Dim);
        for (int r = 0; r < Batch * Frames; r++)
        {
            for (int o = 0; o < Dim; o++)
            {
                double sum = 0;
                for (int i = 0; i < Dim; i++)
                {
                    sum += skip.Row(o)[Dim + i] * h.Row(r)[i];
                }
                s.Row(r)[o] = sum;
            }
        }
        var normalized = model.NormOut.Forward(s, temb);
        model.ProjOut.Forward(normalized);
        var dProjected = new Tensor<double>(Batch, Frames, Mel);
        for (int b = 0; b < Batch; b++)
        {
            for (int m = 0; m < Mel; m++)
            {
                for (int n = 0; n < Frames; n++)
                {
                    dProjected[(b * Frames + n) * Mel + m] = outputGradient[(b * Mel + m) * Frames + n];
                }
            }
        }
        var dNormalized = new Tensor<double>(Batch, Frames, Dim);
        model.ProjOut.Backward(dProjected, dNormalized);
        var g = new Tensor<double>(Batch, Frames, Dim);
        model.NormOut.Backward(dNormalized, g, new Tensor<double>(Batch, Dim));

        // dH = g·W[:, D:2D]
        var dH = new Tensor<double>(Batch, Frames, Dim);
        for (int r = 0; r < Batch * Frames; r++)
        {
            for (int i = 0; i < Dim; i++)
            {
                double sum = 0;
                for (int o = 0; o < Dim; o++)
                {
                    sum += g.Row(r)[o] * skip.Row(o)[Dim + i];
                }
                dH.Row(r)[i] = sum;
            }
        }

        // dP = dH + convᵀ(dH); the bias gradient sums dP over rows
        var dP = dH.Clone();
        model.InputEmbed.ConvPositionEmbedding.Backward(dH, dP);
        var expected = new double[Dim];
        for (int r = 0; r < Batch * Frames; r++)
        {
            for (int i = 0; i < Dim; i++)
            {
                expected[i] += dP.Row(r)[i];
            }
        }

        Assert.True(expected.Any(v => Math.Abs(v) > 1e-3), "The expected bias gradient is zero, so the check would be empty.");
        TensorAssert.AllClose("input_embed.proj.bias gradient", [Dim], actual, expected, atol: 1e-14, rtol: 1e-12);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Forward_PaddedItem_MatchesItemAlone(bool streaming)
    {
        // Item 1 has 4 real frames; run alone it has 4 frames and no padding. Float: the GEMMs
        // round each row the same way in both runs only when their blocking agrees, so allow 1e-6.
        var model = new DiT<float>(TinyConfig(longSkip: true));
        model.Initialize(seed: 5);
        var padded = TinyInputs<float>(seed: 6, lengths: [Frames, 4]);
        float[] paddedOutput = padded.Run(model, streaming).ToArray();
        var alone = padded.Item(1, frames: 4);
        float[] aloneOutput = alone.Run(model, streaming).ToArray();

        var actual = new double[Mel * 4];
        var expected = new double[Mel * 4];
        for (int m = 0; m < Mel; m++)
        {
            for (int n = 0; n < 4; n++)
            {
                actual[m * 4 + n] = paddedOutput[(1 * Mel + m) * Frames + n];
                expected[m * 4 + n] = aloneOutput[m * 4 + n];
            }
        }
        TensorAssert.RelativeL2Within("item 1 real frames", [Mel, 4], actual, expected, 1e-6);
    }

    [Fact]
    public void Forward_StreamingLaterChunkChanged_EarlierChunksBitIdentical()
    {
        // Chunks of 3 frames: frames 0-2 and 3-5 must not see any change to frames 6 and later.
        var model = new DiT<float>(TinyConfig(longSkip: true));
        model.Initialize(seed: 7);
        var inputs = TinyInputs<float>(seed: 8, lengths: [Frames, Frames]);
        float[] before = inputs.Run(model, streaming: true).ToArray();
        foreach (var tensor in new[] { inputs.X, inputs.Mu, inputs.Cond })
        {
            int channels = tensor.Dim(1);
            for (int b = 0; b < Batch; b++)
            {
                for (int c = 0; c < channels; c++)
                {
                    tensor[(b * channels + c) * Frames + 6] += 1.5f;
                }
            }
        }
        float[] after = inputs.Run(model, streaming: true).ToArray();

        for (int b = 0; b < Batch; b++)
        {
            for (int m = 0; m < Mel; m++)
            {
                int row = (b * Mel + m) * Frames;
                Assert.Equal(before.AsSpan(row, 6).ToArray(), after.AsSpan(row, 6).ToArray());
                Assert.NotEqual(before[row + 6], after[row + 6]);
            }
        }
    }

    [Fact]
    public void Forward_Training_SameDropoutStateSameOutput()
    {
        var model = new DiT<float>(TinyConfig(longSkip: false, dropout: 0.3)) { Training = true };
        model.Initialize(seed: 9);
        var inputs = TinyInputs<float>(seed: 10, lengths: [Frames, 5]);
        model.DropoutRandom.State = 123;
        float[] first = inputs.Run(model, streaming: false).ToArray();
        float[] second = inputs.Run(model, streaming: false).ToArray();
        model.DropoutRandom.State = 123;
        float[] replay = inputs.Run(model, streaming: false).ToArray();

        Assert.Equal(first, replay);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Forward_ScalarTime_MatchesBroadcastTime()
    {
        var model = new DiT<double>(TinyConfig(longSkip: false));
        model.Initialize(seed: 11);
        var inputs = TinyInputs<double>(seed: 12, lengths: [Frames, Frames]);
        inputs.Time.Span.Fill(0.4);
        double[] expected = inputs.Run(model, streaming: false).ToArray();
        var weights = GradientCheck.Random(13, Batch, Mel, Frames);
        var batchGradients = inputs.NewGradients();
        model.Backward(weights, batchGradients);

        var scalar = new Tensor<double>([0.4], 1);
        double[] actual = model.Forward(inputs.X, inputs.Mask, inputs.Mu, scalar, inputs.Spks, inputs.Cond).ToArray();
        var dScalar = new Tensor<double>(1);
        model.Backward(weights, new DiTInputGradients<double> { Time = dScalar });

        Assert.Equal(expected, actual);
        Assert.Equal(batchGradients.Time![0] + batchGradients.Time[1], dScalar[0], 1e-12);
    }

    [Fact]
    public void Forward_MismatchedMu_ThrowsNamingShapes()
    {
        var model = new DiT<float>(TinyConfig(longSkip: false));
        var inputs = TinyInputs<float>(seed: 14, lengths: [Frames, Frames]);
        var error = Assert.Throws<ArgumentException>(() => model.Forward(
            inputs.X, inputs.Mask, new Tensor<float>(Batch, 5, Frames + 1), inputs.Time, inputs.Spks, inputs.Cond));
        Assert.Equal("mu", error.ParamName);
        Assert.Contains($"[{Batch}, 5, {Frames + 1}]", error.Message);
        Assert.Contains($"[{Batch}, 5, {Frames}]", error.Message);
    }

    [Fact]
    public void Forward_MismatchedMask_ThrowsNamingShapes()
    {
        var model = new DiT<float>(TinyConfig(longSkip: false));
        var inputs = TinyInputs<float>(seed: 15, lengths: [Frames, Frames]);
        var error = Assert.Throws<ArgumentException>(() => model.Forward(
            inputs.X, new Tensor<float>(Batch, Frames), inputs.Mu, inputs.Time, inputs.Spks, inputs.Cond));
        Assert.Equal("mask", error.ParamName);
        Assert.Contains($"[{Batch}, {Frames}]", error.Message);
        Assert.Contains($"[{Batch}, 1, {Frames}]", error.Message);
    }

    [Fact]
    public void Parameters_LongSkip_InPyTorchStateDictOrder()
    {
        var model = new DiT<float>(TinyConfig(longSkip: true));
        string[] names = model.Parameters.Select(p => p.Name).ToArray();
        string[] head =
        [
            "time_embed.time_mlp.0.weight", "time_embed.time_mlp.0.bias",
            "time_embed.time_mlp.2.weight", "time_embed.time_mlp.2.bias",
            "input_embed.proj.weight", "input_embed.proj.bias",
            "input_embed.conv_pos_embed.conv1.0.weight", "input_embed.conv_pos_embed.conv1.0.bias",
            "input_embed.conv_pos_embed.conv2.0.weight", "input_embed.conv_pos_embed.conv2.0.bias",
            "rotary_embed.inv_freq", "transformer_blocks.0.attn_norm.linear.weight",
        ];
        string[] tail =
        [
            "transformer_blocks.1.ff.ff.2.bias", "long_skip_connection.weight",
            "norm_out.linear.weight", "norm_out.linear.bias", "proj_out.weight", "proj_out.bias",
        ];
        Assert.Equal(head, names[..head.Length]);
        Assert.Equal(tail, names[^tail.Length..]);
        Assert.Equal(4 + 6 + 1 + 2 * 14 + 1 + 2 + 2, names.Length);
        Assert.Equal(names.Length, names.Distinct().Count());
    }

    [Fact]
    public void Initialize_Seed_DrawsPyTorchDefaultBounds()
    {
        var model = new DiT<double>(TinyConfig(longSkip: true));
        model.Initialize(seed: 1);
        double linearBound = 1 / Math.Sqrt(Dim);
        double convBound = 1 / Math.Sqrt(Dim / 16 * 31);
        var weight = model.Blocks[1].Attn.ToQ.Weight.Value.ToArray();
        var conv = model.InputEmbed.ConvPositionEmbedding.Conv2Weight.Value.ToArray();

        Assert.InRange(weight.Max(Math.Abs), 0.9 * linearBound, linearBound);
        Assert.InRange(conv.Max(Math.Abs), 0.9 * convBound, convBound);
        Assert.Equal(1.0, model.Rotary.InvFreq.Value[0]);
        Assert.Equal(Math.Pow(10000, -6.0 / 8), model.Rotary.InvFreq.Value[3], 1e-15);
    }

    private static void CheckSampled(string name, Tensor<double> values, ReadOnlySpan<double> analytic, Func<double> loss, int samples)
    {
        // Checks central differences at up to `samples` seeded positions, always including the largest
        // analytic entry, with the relative L2 error GradientCheck.Check uses for whole tensors.
        var positions = new SortedSet<int>();
        if (values.Length <= samples)
        {
            positions.UnionWith(Enumerable.Range(0, values.Length));
        }
        else
        {
            int largest = 0;
            for (int i = 1; i < analytic.Length; i++)
            {
                largest = Math.Abs(analytic[i]) > Math.Abs(analytic[largest]) ? i : largest;
            }
            positions.Add(largest);
            var random = new RandomSource((ulong)name.Length * 7919);
            while (positions.Count < samples)
            {
                positions.Add(random.NextInt(values.Length));
            }
        }

        var subset = new Tensor<double>(positions.Count);
        var subsetAnalytic = new double[positions.Count];
        int[] indices = positions.ToArray();
        for (int j = 0; j < indices.Length; j++)
        {
            subset[j] = values[indices[j]];
            subsetAnalytic[j] = analytic[indices[j]];
        }
        double SubsetLoss()
        {
            for (int j = 0; j < indices.Length; j++)
            {
                values[indices[j]] = subset[j];
            }
            return loss();
        }
        try
        {
            GradientCheck.Check(name, subset, subsetAnalytic, SubsetLoss);
        }
        finally
        {
            // the last loss evaluation wrote a perturbed subset into the tensor
            for (int j = 0; j < indices.Length; j++)
            {
                values[indices[j]] = subset[j];
            }
        }
    }

    internal static ModelInputs<T> TinyInputs<T>(ulong seed, int[] lengths) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var random = new RandomSource(seed);
        Tensor<T> Gaussian(params int[] shape)
        {
            var tensor = new Tensor<T>(shape);
            random.FillGaussian(tensor.Span);
            return tensor;
        }
        var mask = new Tensor<T>(Batch, 1, Frames);
        for (int b = 0; b < Batch; b++)
        {
            mask.Slice(b)[..lengths[b]].Fill(T.One);
        }
        var time = new Tensor<T>(Batch);
        for (int b = 0; b < Batch; b++)
        {
            time[b] = T.CreateTruncating(0.2 + 0.6 * random.NextDouble());
        }
        return new ModelInputs<T>(Gaussian(Batch, Mel, Frames), mask, Gaussian(Batch, 5, Frames), time,
            Gaussian(Batch, 5), Gaussian(Batch, Mel, Frames));
    }
}

/// <summary>One set of DiT inputs, channels-first.</summary>
internal sealed record ModelInputs<T>(Tensor<T> X, Tensor<T> Mask, Tensor<T> Mu, Tensor<T> Time, Tensor<T> Spks, Tensor<T> Cond)
    where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
{
    public Tensor<T> Run(DiT<T> model, bool streaming) => model.Forward(X, Mask, Mu, Time, Spks, Cond, streaming);

    public DiTInputGradients<T> NewGradients() => new()
    {
        X = new Tensor<T>(X.Shape.ToArray()),
        Mu = new Tensor<T>(Mu.Shape.ToArray()),
        Time = new Tensor<T>(Time.Shape.ToArray()),
        Spks = new Tensor<T>(Spks.Shape.ToArray()),
        Cond = new Tensor<T>(Cond.Shape.ToArray()),
    };

    /// <summary>Item <paramref name="index"/> alone, cut to its first <paramref name="frames"/> frames.</summary>
    public ModelInputs<T> Item(int index, int frames)
    {
        Tensor<T> Cut(Tensor<T> source)
        {
            int channels = source.Dim(1), total = source.Dim(2);
            var result = new Tensor<T>(1, channels, frames);
            for (int c = 0; c < channels; c++)
            {
                source.Slice(index).Slice(c * total, frames).CopyTo(result.Span.Slice(c * frames, frames));
            }
            return result;
        }
        var spks = new Tensor<T>(1, Spks.Dim(1));
        Spks.Row(index).CopyTo(spks.Span);
        return new ModelInputs<T>(Cut(X), Cut(Mask), Cut(Mu), new Tensor<T>([Time[index]], 1), spks, Cut(Cond));
    }
}
