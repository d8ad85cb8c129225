using DiTNet.Layers;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Layers;

public class DiTBlockTests
{
    private const int Batch = 2, Frames = 5, Dim = 16, Heads = 2, DimHead = 8, FFDim = 24;

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Backward_RandomInput_MatchesFiniteDifferences(bool training, bool streaming)
    {
        // Item 1 has 3 real frames of 5; each loss evaluation restores the random stream, so
        // every forward pass drops the same elements.
        var block = new DiTBlock<double>(3, Dim, Heads, DimHead, FFDim, dropout: 0.2);
        var random = new Random(1);
        block.AttnNorm.Linear.Initialize(random);
        block.Attn.ToQ.Initialize(random);
        block.Attn.ToK.Initialize(random);
        block.Attn.ToV.Initialize(random);
        block.Attn.ToOut.Initialize(random);
        block.FF.In.Initialize(random);
        block.FF.Out.Initialize(random);
        var rotary = new RotaryEmbedding<double>(DimHead);
        rotary.Initialize();
        var mask = new Tensor<double>([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], Batch, 1, Frames);
        var attentionMask = AttentionMask.Build(mask, streaming, staticChunkSize: 2);
        var input = GradientCheck.Random(2, Batch, Frames, Dim);
        var temb = GradientCheck.Random(3, Batch, Dim);
        var weights = GradientCheck.Random(4, Batch, Frames, Dim);
        var dropoutRandom = new RandomSource(5);
        double Loss()
        {
            dropoutRandom.State = 5;
            return GradientCheck.Dot(block.Forward(input, temb, attentionMask, rotary, training, dropoutRandom).Span, weights.Span);
        }

        Loss();
        var dInput = new Tensor<double>(Batch, Frames, Dim);
        var dTemb = new Tensor<double>(Batch, Dim);
        block.Backward(weights, dInput, dTemb);

        GradientCheck.Check("dInput", input, dInput.Span, Loss);
        GradientCheck.Check("dTemb", temb, dTemb.Span, Loss);
        foreach (var parameter in block.Parameters)
        {
            GradientCheck.Check(parameter.Name, parameter.Value, parameter.Gradient.Span, Loss);
        }
    }

    [Fact]
    public void Parameters_Always_InPyTorchOrder()
    {
        var block = new DiTBlock<float>(7, Dim, Heads, DimHead, FFDim, 0);
        string[] expected =
        [
            "attn_norm.linear.weight", "attn_norm.linear.bias",
            "attn.to_q.weight", "attn.to_q.bias", "attn.to_k.weight", "attn.to_k.bias",
            "attn.to_v.weight", "attn.to_v.bias", "attn.to_out.0.weight", "attn.to_out.0.bias",
            "ff.ff.0.0.weight", "ff.ff.0.0.bias", "ff.ff.2.weight", "ff.ff.2.bias",
        ];
        Assert.Equal(expected.Select(name => "transformer_blocks.7." + name), block.Parameters.Select(p => p.Name));
    }

    [Fact]
    public void Forward_ZeroModulation_ReturnsInput()
    {
        // Zero modulation weights and biases make both gates zero: the block is the identity.
        var block = new DiTBlock<double>(0, Dim, Heads, DimHead, FFDim, 0);
        var random = new Random(1);
        block.Attn.ToQ.Initialize(random);
        block.FF.In.Initialize(random);
        block.FF.Out.Initialize(random);
        var rotary = new RotaryEmbedding<double>(DimHead);
        rotary.Initialize();
        var attentionMask = AttentionMask.Build(new Tensor<double>([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], Batch, 1, Frames), false, 0);
        var input = GradientCheck.Random(2, Batch, Frames, Dim);
        var output = block.Forward(input, GradientCheck.Random(3, Batch, Dim), attentionMask, rotary, false, new RandomSource(0));
        Assert.Equal(input.ToArray(), output.ToArray());
    }
}
