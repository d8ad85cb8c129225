using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests;

public class AttentionTests
{
    // Mask settings, each with its own sizes. They cover padding at the end, streaming chunks, an item
    // that is all padding, and padding at the start and in the middle (rows that attend to every key,
    // the masked softmax). The last has enough frames for several row blocks with different key ranges.
    public static TheoryData<string> Cases() => new(CaseTable.Keys);

    private static readonly Dictionary<string, MaskCase> CaseTable = new()
    {
        ["padding"] = new(Dim: 12, Heads: 3, DimHead: 4, Streaming: false, Chunk: 0,
            Items: [Ones(7, 7), Ones(7, 4)]),
        ["streaming"] = new(Dim: 12, Heads: 3, DimHead: 4, Streaming: true, Chunk: 3,
            Items: [Ones(8, 8), Ones(8, 6)]),
        ["allPadding"] = new(Dim: 12, Heads: 3, DimHead: 4, Streaming: true, Chunk: 3,
            Items: [Ones(7, 5), Ones(7, 0)]),
        ["interiorPadding"] = new(Dim: 10, Heads: 2, DimHead: 6, Streaming: true, Chunk: 3,
            Items: [[0, 0, 1, 1, 0, 1, 1, 1], [1, 0, 1, 0, 1, 1, 0, 0]]),
        ["rowBlocks"] = new(Dim: 4, Heads: 2, DimHead: 2, Streaming: true, Chunk: 10,
            Items: [Ones(100, 90)]),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_MaskCase_MatchesNaiveAttention(string name)
    {
        MaskCase c = CaseTable[name];
        (var layer, var rotary) = CreateLayer(c, dropout: 0, seed: 1);
        var input = GradientCheck.Random(2, c.Items.Length, c.Frames, c.Dim);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), c.Streaming, c.Chunk);

        var output = layer.Forward(input, mask, rotary, training: false, new RandomSource(0));

        double[] expected = NaiveAttention(layer, rotary, input, c);
        // both compute in double; they differ only in summation order
        TensorAssert.AllClose($"attention ({name})", output.Shape, output.Span, expected, 1e-13, 1e-11);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Backward_MaskCase_MatchesFiniteDifferences(string name)
    {
        MaskCase c = CaseTable[name];
        (var layer, var rotary) = CreateLayer(c, dropout: 0, seed: 3);
        var input = GradientCheck.Random(4, c.Items.Length, c.Frames, c.Dim);
        var weights = GradientCheck.Random(5, c.Items.Length, c.Frames, c.Dim);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), c.Streaming, c.Chunk);
        var random = new RandomSource(0);
        double Loss() => GradientCheck.Dot(layer.Forward(input, mask, rotary, training: true, random).Span, weights.Span);

        CheckAllGradients(layer, input, weights, Loss);
    }

    [Fact]
    public void Backward_DropoutActive_MatchesFiniteDifferences()
    {
        MaskCase c = CaseTable["streaming"];
        (var layer, var rotary) = CreateLayer(c, dropout: 0.3, seed: 6);
        var input = GradientCheck.Random(7, c.Items.Length, c.Frames, c.Dim);
        var weights = GradientCheck.Random(8, c.Items.Length, c.Frames, c.Dim);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), c.Streaming, c.Chunk);
        var random = new RandomSource(99);
        double Loss()
        {
            // the same dropout draws for every evaluation, so the loss is a smooth function
            random.State = 99;
            return GradientCheck.Dot(layer.Forward(input, mask, rotary, training: true, random).Span, weights.Span);
        }

        // the dropout must actually drop something for this test to mean anything
        var withoutDropout = layer.Forward(input, mask, rotary, training: false, random).Clone();
        Loss();
        Assert.NotEqual(withoutDropout.ToArray(), layer.Forward(input, mask, rotary, training: true, SeekTo(random, 99)).ToArray());

        CheckAllGradients(layer, input, weights, Loss);
    }

    [Fact]
    public void ForwardBackward_Float_MatchesDoubleWithinBudget()
    {
        var c = new MaskCase(Dim: 48, Heads: 4, DimHead: 8, Streaming: true, Chunk: 16,
            Items: [Ones(90, 90), Ones(90, 61)]);
        (var reference, var rotaryDouble) = CreateLayer(c, dropout: 0, seed: 22);
        var layer = new Attention<float>("attn", c.Dim, c.Heads, c.DimHead, 0);
        foreach ((var source, var target) in reference.Parameters.Zip(layer.Parameters))
        {
            TensorAssert.ToDouble<double>(source.Value.Span).Select(x => (float)x).ToArray().CopyTo(target.Value.Span);
        }
        var rotary = new RotaryEmbedding<float>(c.DimHead);
        rotary.Initialize();
        var inputDouble = GradientCheck.Random(23, 2, c.Frames, c.Dim);
        var dOutDouble = GradientCheck.Random(24, 2, c.Frames, c.Dim);
        var input = new Tensor<float>(inputDouble.Span.ToArray().Select(x => (float)x).ToArray(), 2, c.Frames, c.Dim);
        var dOut = new Tensor<float>(dOutDouble.Span.ToArray().Select(x => (float)x).ToArray(), 2, c.Frames, c.Dim);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), c.Streaming, c.Chunk);

        var expected = reference.Forward(inputDouble, mask, rotaryDouble, false, new RandomSource(0));
        var dInputExpected = new Tensor<double>(2, c.Frames, c.Dim);
        reference.Backward(dOutDouble, dInputExpected);
        var actual = layer.Forward(input, mask, rotary, false, new RandomSource(0));
        var dInput = new Tensor<float>(2, c.Frames, c.Dim);
        layer.Backward(dOut, dInput);

        // the budgets of a float32 implementation against float64 PyTorch: 1e-5 on outputs, 1e-4 on gradients
        TensorAssert.RelativeL2Within("output", actual.Shape, TensorAssert.ToDouble<float>(actual.Span), expected.Span, 1e-5);
        TensorAssert.RelativeL2Within("dInput", dInput.Shape, TensorAssert.ToDouble<float>(dInput.Span), dInputExpected.Span, 1e-4);
        foreach ((var source, var target) in reference.Parameters.Zip(layer.Parameters))
        {
            TensorAssert.RelativeL2Within("d" + target.Name, target.Value.Shape, TensorAssert.ToDouble<float>(target.Gradient.Span), source.Gradient.Span, 1e-4);
        }
    }

    [Fact]
    public void Backward_CalledTwice_AddsIntoGradients()
    {
        MaskCase c = CaseTable["padding"];
        (var layer, var rotary) = CreateLayer(c, dropout: 0, seed: 9);
        var input = GradientCheck.Random(10, c.Items.Length, c.Frames, c.Dim);
        var dOut = GradientCheck.Random(11, c.Items.Length, c.Frames, c.Dim);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), c.Streaming, c.Chunk);
        layer.Forward(input, mask, rotary, training: false, new RandomSource(0));

        var once = new Tensor<double>(input.Shape.ToArray());
        layer.Backward(dOut, once);
        double[] weightOnce = layer.ToQ.Weight.Gradient.ToArray();
        var twice = once.Clone();
        layer.Backward(dOut, twice);

        double[] expectedInput = once.ToArray().Select(x => 2 * x).ToArray();
        double[] expectedWeight = weightOnce.Select(x => 2 * x).ToArray();
        TensorAssert.AllClose("dInput", input.Shape, twice.Span, expectedInput, 1e-14, 1e-12);
        TensorAssert.AllClose("dWeight of to_q", layer.ToQ.Weight.Value.Shape, layer.ToQ.Weight.Gradient.Span, expectedWeight, 1e-14, 1e-12);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Forward_NaNInPaddingFrame_RealFramesMatchCleanRun(bool streaming)
    {
        var c = new MaskCase(Dim: 16, Heads: 4, DimHead: 4, Streaming: streaming, Chunk: 4,
            Items: [Ones(11, 11), Ones(11, 7), [0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0]]);
        (var layer, var rotary) = CreateLayer(c, dropout: 0, seed: 12);
        var input = GradientCheck.Random(13, c.Items.Length, c.Frames, c.Dim);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), c.Streaming, c.Chunk);
        double[] clean = layer.Forward(input, mask, rotary, training: false, new RandomSource(0)).ToArray();

        // poison every padding frame: NaN and infinities in its input row
        for (int b = 0; b < c.Items.Length; b++)
        {
            for (int n = 0; n < c.Frames; n++)
            {
                if (c.Items[b][n] == 0)
                {
                    Span<double> row = input.Row(b * c.Frames + n);
                    row.Fill(double.NaN);
                    row[1] = double.PositiveInfinity;
                    row[2] = double.NegativeInfinity;
                }
            }
        }
        var poisoned = layer.Forward(input, mask, rotary, training: false, new RandomSource(0));

        for (int b = 0; b < c.Items.Length; b++)
        {
            for (int n = 0; n < c.Frames; n++)
            {
                Span<double> row = poisoned.Row(b * c.Frames + n);
                for (int d = 0; d < c.Dim; d++)
                {
                    double expected = clean[(b * c.Frames + n) * c.Dim + d];
                    Assert.True(expected == row[d], $"output [{b}, {n}, {d}]: clean {expected}, with poisoned padding {row[d]}");
                }
            }
        }
    }

    [Fact]
    public void Forward_ThreadCounts_GiveIdenticalBits()
    {
        MaskCase c = CaseTable["interiorPadding"];
        (var layer, var rotary) = CreateLayer(c, dropout: 0, seed: 14);
        var input = GradientCheck.Random(15, c.Items.Length, c.Frames, c.Dim);
        var dOut = GradientCheck.Random(16, c.Items.Length, c.Frames, c.Dim);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), c.Streaming, c.Chunk);

        double[] single = layer.Forward(input, mask, rotary, false, new RandomSource(0), threads: 1).ToArray();
        var dInputSingle = new Tensor<double>(input.Shape.ToArray());
        layer.Backward(dOut, dInputSingle, threads: 1);
        double[] multi = layer.Forward(input, mask, rotary, false, new RandomSource(0), threads: 3).ToArray();
        var dInputMulti = new Tensor<double>(input.Shape.ToArray());
        layer.Backward(dOut, dInputMulti, threads: 3);

        Assert.Equal(single, multi);
        Assert.Equal(dInputSingle.ToArray(), dInputMulti.ToArray());
    }

    [Fact]
    public void Backward_WithoutSavedProbabilities_GivesIdenticalBits()
    {
        MaskCase c = CaseTable["rowBlocks"];
        (var layer, var rotary) = CreateLayer(c, dropout: 0, seed: 17);
        var input = GradientCheck.Random(18, c.Items.Length, c.Frames, c.Dim);
        var dOut = GradientCheck.Random(19, c.Items.Length, c.Frames, c.Dim);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), c.Streaming, c.Chunk);
        double[] saved = layer.Forward(input, mask, rotary, training: true, new RandomSource(0), threads: 2).ToArray();
        var dInputSaved = new Tensor<double>(input.Shape.ToArray());
        layer.Backward(dOut, dInputSaved, threads: 2);
        double[] dWeightSaved = layer.ToK.Weight.Gradient.ToArray();
        layer.ToK.Weight.Gradient.Clear();

        layer.SaveForBackward = false;
        double[] recomputed = layer.Forward(input, mask, rotary, training: true, new RandomSource(0), threads: 2).ToArray();
        var dInputRecomputed = new Tensor<double>(input.Shape.ToArray());
        layer.Backward(dOut, dInputRecomputed, threads: 2);

        Assert.Equal(saved, recomputed);
        Assert.Equal(dInputSaved.ToArray(), dInputRecomputed.ToArray());
        Assert.Equal(dWeightSaved, layer.ToK.Weight.Gradient.ToArray());
    }

    [Fact]
    public void Backward_AfterInferencePass_MatchesTrainingPassBits()
    {
        MaskCase c = CaseTable["streaming"];
        (var layer, var rotary) = CreateLayer(c, dropout: 0, seed: 25);
        var input = GradientCheck.Random(26, c.Items.Length, c.Frames, c.Dim);
        var dOut = GradientCheck.Random(27, c.Items.Length, c.Frames, c.Dim);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), c.Streaming, c.Chunk);
        double[] trained = layer.Forward(input, mask, rotary, training: true, new RandomSource(0)).ToArray();
        var dInputTrained = new Tensor<double>(input.Shape.ToArray());
        layer.Backward(dOut, dInputTrained);

        // an inference pass keeps no probabilities, so Backward recomputes them
        double[] inferred = layer.Forward(input, mask, rotary, training: false, new RandomSource(0)).ToArray();
        var dInputInferred = new Tensor<double>(input.Shape.ToArray());
        layer.Backward(dOut, dInputInferred);

        Assert.Equal(trained, inferred);
        Assert.Equal(dInputTrained.ToArray(), dInputInferred.ToArray());
    }

    [Fact]
    public void ForwardBackward_SteadyLoop_ReusesBuffers()
    {
        var c = new MaskCase(Dim: 16, Heads: 4, DimHead: 4, Streaming: true, Chunk: 8, Items: [Ones(60, 60), Ones(60, 45)]);
        (var layer, var rotary) = CreateLayer(c, dropout: 0.1, seed: 19);
        var input = GradientCheck.Random(20, 2, 60, 16);
        var dOut = GradientCheck.Random(21, 2, 60, 16);
        var dInput = new Tensor<double>(2, 60, 16);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), c.Streaming, c.Chunk);
        var random = new RandomSource(0);
        layer.Forward(input, mask, rotary, true, random, threads: 1);
        layer.Backward(dOut, dInput, threads: 1);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int step = 0; step < 3; step++)
        {
            layer.Forward(input, mask, rotary, true, random, threads: 1);
            layer.Backward(dOut, dInput, threads: 1);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // the probabilities alone are 2·4·60·60 doubles = 230 KB per step; the rest is shape arrays
        Assert.True(allocated < 4096, $"three steady steps allocated {allocated} bytes");
    }

    [Fact]
    public void Forward_WrongInputWidth_ThrowsNamingShape()
    {
        (var layer, var rotary) = CreateLayer(CaseTable["padding"], dropout: 0, seed: 1);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(Ones(7, 7), Ones(7, 4)), false, 0);

        var error = Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor<double>(2, 7, 11), mask, rotary, false, new RandomSource(0)));

        Assert.Contains("[2, 7, 11]", error.Message);
        Assert.Equal("input", error.ParamName);
    }

    [Fact]
    public void Forward_MaskForOtherFrameCount_ThrowsNamingShape()
    {
        (var layer, var rotary) = CreateLayer(CaseTable["padding"], dropout: 0, seed: 1);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(Ones(6, 6), Ones(6, 4)), false, 0);

        var error = Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor<double>(2, 7, 12), mask, rotary, false, new RandomSource(0)));

        Assert.Contains("[2, 7, 12]", error.Message);
        Assert.Contains("6 frames", error.Message);
        Assert.Equal("mask", error.ParamName);
    }

    [Fact]
    public void Forward_RotaryOfOtherHeadWidth_Throws()
    {
        (var layer, _) = CreateLayer(CaseTable["padding"], dropout: 0, seed: 1);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(Ones(7, 7), Ones(7, 4)), false, 0);

        var error = Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor<double>(2, 7, 12), mask, new RotaryEmbedding<double>(6), false, new RandomSource(0)));

        Assert.Equal("rotary", error.ParamName);
    }

    [Fact]
    public void Backward_WrongGradientShape_ThrowsNamingShape()
    {
        MaskCase c = CaseTable["padding"];
        (var layer, var rotary) = CreateLayer(c, dropout: 0, seed: 1);
        var mask = AttentionMask.Build(AttentionMaskTests.MaskTensor(c.Items), false, 0);
        layer.Forward(new Tensor<double>(2, 7, 12), mask, rotary, false, new RandomSource(0));

        var error = Assert.Throws<ArgumentException>(() => layer.Backward(new Tensor<double>(2, 6, 12), new Tensor<double>(2, 7, 12)));

        Assert.Contains("[2, 6, 12]", error.Message);
        Assert.Equal("outputGradient", error.ParamName);
    }

    [Fact]
    public void Backward_BeforeForward_Throws()
    {
        (var layer, _) = CreateLayer(CaseTable["padding"], dropout: 0, seed: 1);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new Tensor<double>(2, 7, 12), new Tensor<double>(2, 7, 12)));
    }

    private static void CheckAllGradients(Attention<double> layer, Tensor<double> input, Tensor<double> weights, Func<double> loss)
    {
        loss();
        var dInput = new Tensor<double>(input.Shape.ToArray());
        layer.Backward(weights, dInput);

        GradientCheck.Check("dInput", input, dInput.Span, loss);
        foreach (var parameter in layer.Parameters)
        {
            GradientCheck.Check("d" + parameter.Name, parameter.Value, parameter.Gradient.Span, loss);
        }
    }

    private static RandomSource SeekTo(RandomSource random, ulong state)
    {
        random.State = state;
        return random;
    }

    private static (Attention<double> Layer, RotaryEmbedding<double> Rotary) CreateLayer(MaskCase c, double dropout, int seed)
    {
        var layer = new Attention<double>("attn", c.Dim, c.Heads, c.DimHead, dropout);
        var random = new Random(seed);
        foreach (var linear in new[] { layer.ToQ, layer.ToK, layer.ToV, layer.ToOut })
        {
            linear.Initialize(random);
        }

        // sharper queries, so that the probabilities are far from uniform and the softmax matters
        Span<double> queryWeight = layer.ToQ.Weight.Value.Span;
        for (int i = 0; i < queryWeight.Length; i++)
        {
            queryWeight[i] *= 4;
        }
        var rotary = new RotaryEmbedding<double>(c.DimHead);
        rotary.Initialize();
        return (layer, rotary);
    }

    // The attention written out with explicit loops in double, straight from the definition.
    private static double[] NaiveAttention(Attention<double> layer, RotaryEmbedding<double> rotary, Tensor<double> input, MaskCase c)
    {
        int batch = c.Items.Length, frames = c.Frames, inner = c.Heads * c.DimHead;
        double[] q = Project(layer.ToQ, input), k = Project(layer.ToK, input), v = Project(layer.ToV, input);
        RotateFirstHead(q, rotary, batch, frames, inner);
        RotateFirstHead(k, rotary, batch, frames, inner);

        var heads = new Tensor<double>(batch, frames, inner);
        var output = new double[batch * frames * c.Dim];
        for (int b = 0; b < batch; b++)
        {
            bool[,] allowed = AllowedByDefinition(c.Items[b], c.Streaming, c.Chunk);
            for (int g = 0; g < c.Heads; g++)
            {
                for (int i = 0; i < frames; i++)
                {
                    var scores = new double[frames];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < frames; j++)
                    {
                        if (!allowed[i, j])
                        {
                            continue;
                        }
                        double dot = 0;
                        for (int d = 0; d < c.DimHead; d++)
                        {
                            dot += q[(b * frames + i) * inner + g * c.DimHead + d] * k[(b * frames + j) * inner + g * c.DimHead + d];
                        }
                        scores[j] = dot / Math.Sqrt(c.DimHead);
                        max = Math.Max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < frames; j++)
                    {
                        scores[j] = allowed[i, j] ? Math.Exp(scores[j] - max) : 0;
                        sum += scores[j];
                    }
                    for (int d = 0; d < c.DimHead; d++)
                    {
                        double o = 0;
                        for (int j = 0; j < frames; j++)
                        {
                            if (allowed[i, j])
                            {
                                o += scores[j] / sum * v[(b * frames + j) * inner + g * c.DimHead + d];
                            }
                        }
                        heads[(b * frames + i) * inner + g * c.DimHead + d] = o;
                    }
                }
            }

            double[] projected = Project(layer.ToOut, heads);
            for (int i = 0; i < frames; i++)
            {
                bool queryValid = allowed[frames - 1, i];
                for (int d = 0; d < c.Dim; d++)
                {
                    int at = (b * frames + i) * c.Dim + d;
                    output[at] = queryValid ? projected[at] : 0;
                }
            }
        }
        return output;
    }

    private static double[] Project(Linear<double> linear, Tensor<double> input)
    {
        int rows = input.Length / linear.InFeatures;
        var output = new double[rows * linear.OutFeatures];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < linear.OutFeatures; o++)
            {
                double sum = linear.Bias!.Value[o];
                for (int i = 0; i < linear.InFeatures; i++)
                {
                    sum += linear.Weight.Value[o * linear.InFeatures + i] * input[r * linear.InFeatures + i];
                }
                output[r * linear.OutFeatures + o] = sum;
            }
        }
        return output;
    }

    private static void RotateFirstHead(double[] x, RotaryEmbedding<double> rotary, int batch, int frames, int width)
    {
        for (int b = 0; b < batch; b++)
        {
            for (int p = 0; p < frames; p++)
            {
                int row = (b * frames + p) * width;
                for (int j = 0; j < rotary.DimHead / 2; j++)
                {
                    double theta = p * rotary.InvFreq.Value[j];
                    double even = x[row + 2 * j], odd = x[row + 2 * j + 1];
                    x[row + 2 * j] = even * Math.Cos(theta) - odd * Math.Sin(theta);
                    x[row + 2 * j + 1] = odd * Math.Cos(theta) + even * Math.Sin(theta);
                }
            }
        }
    }

    private static bool[,] AllowedByDefinition(int[] valid, bool streaming, int chunk)
    {
        int frames = valid.Length;
        var allowed = new bool[frames, frames];
        for (int i = 0; i < frames; i++)
        {
            bool any = false;
            for (int j = 0; j < frames; j++)
            {
                allowed[i, j] = valid[j] == 1 && (!streaming || chunk == 0 || j < (i / chunk + 1) * chunk);
                any |= allowed[i, j];
            }
            for (int j = 0; j < frames && !any; j++)
            {
                allowed[i, j] = true;
            }
        }
        return allowed;
    }

    private static int[] Ones(int frames, int length) => Enumerable.Range(0, frames).Select(j => j < length ? 1 : 0).ToArray();

    private sealed record MaskCase(int Dim, int Heads, int DimHead, bool Streaming, int Chunk, int[][] Items)
    {
        public int Frames => Items[0].Length;
    }
}
