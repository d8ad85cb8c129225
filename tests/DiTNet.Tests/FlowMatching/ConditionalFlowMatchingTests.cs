using DiTNet.FlowMatching;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.FlowMatching;

public class ConditionalFlowMatchingTests
{
    private const int Batch = 3, MelDim = 4, MuDim = 3, SpkDim = 2, Frames = 7;
    private static readonly int[] Lengths = [7, 5, 2];

    private sealed record Inputs(Tensor<double> X1, Tensor<double> Mask, Tensor<double> Mu, Tensor<double> Spks, Tensor<double> Cond, FlowMatchingDraws<double> Draws);

    private static Inputs MakeInputs(ulong seed)
    {
        var x1 = GradientCheck.Random(seed, Batch, MelDim, Frames);
        var mu = GradientCheck.Random(seed + 1, Batch, MuDim, Frames);
        var spks = GradientCheck.Random(seed + 2, Batch, SpkDim);
        var cond = GradientCheck.Random(seed + 3, Batch, MelDim, Frames);
        var mask = new Tensor<double>(Batch, 1, Frames);
        for (int b = 0; b < Batch; b++)
        {
            mask.Slice(b)[..Lengths[b]].Fill(1.0);
        }
        var draws = new FlowMatchingDraws<double>(Batch, MelDim, Frames);
        draws.Draw(new RandomSource(seed + 4), new RandomSource(seed + 5), 0.2);
        draws.KeepCondition[0] = true;
        draws.KeepCondition[1] = false;
        return new Inputs(x1, mask, mu, spks, cond, draws);
    }

    [Fact]
    public void Loss_RandomInputs_MatchesDirectFormula()
    {
        var inputs = MakeInputs(10);
        var model = new LinearVelocityModel<double>(MelDim, MuDim, SpkDim);
        model.Initialize(3, 0.5);
        const double sigma = 1e-6;
        double loss = new ConditionalFlowMatching<double>(sigma).Loss(model, inputs.X1, inputs.Mask, inputs.Mu, inputs.Spks, inputs.Cond, inputs.Draws);

        // an independent evaluation: build y and the dropped conditions here, run the model, sum the masked error
        var y = new Tensor<double>(Batch, MelDim, Frames);
        var u = new Tensor<double>(Batch, MelDim, Frames);
        var mu = inputs.Mu.Clone();
        var spks = inputs.Spks.Clone();
        var cond = inputs.Cond.Clone();
        for (int b = 0; b < Batch; b++)
        {
            double t = inputs.Draws.Time[b];
            for (int i = 0; i < MelDim * Frames; i++)
            {
                int j = b * MelDim * Frames + i;
                y[j] = (1 - (1 - sigma) * t) * inputs.Draws.Noise[j] + t * inputs.X1[j];
                u[j] = inputs.X1[j] - (1 - sigma) * inputs.Draws.Noise[j];
            }
            if (!inputs.Draws.KeepCondition[b])
            {
                mu.Slice(b).Clear();
                spks.Slice(b).Clear();
                cond.Slice(b).Clear();
            }
        }
        var pred = model.Forward(y, inputs.Mask, mu, inputs.Draws.Time, spks, cond);
        double sum = 0;
        for (int b = 0; b < Batch; b++)
        {
            for (int m = 0; m < MelDim; m++)
            {
                for (int n = 0; n < Lengths[b]; n++)
                {
                    int j = (b * MelDim + m) * Frames + n;
                    sum += (pred[j] - u[j]) * (pred[j] - u[j]);
                }
            }
        }
        double expected = sum / (Lengths.Sum() * MelDim);

        Assert.True(Math.Abs(loss - expected) <= 1e-12 * expected, $"loss {loss:R} against the direct formula {expected:R}.");
    }

    [Fact]
    public void LossAndBackward_RandomInputs_MatchesFiniteDifferences()
    {
        var inputs = MakeInputs(20);
        var model = new LinearVelocityModel<double>(MelDim, MuDim, SpkDim);
        model.Initialize(4, 0.5);
        var flow = new ConditionalFlowMatching<double>();
        double Loss() => flow.Loss(model, inputs.X1, inputs.Mask, inputs.Mu, inputs.Spks, inputs.Cond, inputs.Draws);

        flow.LossAndBackward(model, inputs.X1, inputs.Mask, inputs.Mu, inputs.Spks, inputs.Cond, inputs.Draws);

        foreach (var parameter in model.Parameters)
        {
            GradientCheck.Check(parameter.Name, parameter.Value, parameter.Gradient.ToArray(), Loss);
        }
    }

    [Fact]
    public void LossAndBackward_CalledTwice_AddsGradients()
    {
        var inputs = MakeInputs(30);
        var model = new LinearVelocityModel<double>(MelDim, MuDim, SpkDim);
        model.Initialize(5, 0.5);
        var flow = new ConditionalFlowMatching<double>();

        flow.LossAndBackward(model, inputs.X1, inputs.Mask, inputs.Mu, inputs.Spks, inputs.Cond, inputs.Draws);
        var once = model.Bias.Gradient.ToArray();
        flow.LossAndBackward(model, inputs.X1, inputs.Mask, inputs.Mu, inputs.Spks, inputs.Cond, inputs.Draws);
        var twice = model.Bias.Gradient.ToArray();

        TensorAssert.AllClose("bias gradient after two calls", [MelDim], twice, once.Select(g => 2 * g).ToArray(), 1e-15, 1e-12);
    }

    [Fact]
    public void Loss_DroppedCondition_IgnoresConditionValues()
    {
        var inputs = MakeInputs(40);
        Array.Fill(inputs.Draws.KeepCondition, false);
        var model = new LinearVelocityModel<double>(MelDim, MuDim, SpkDim);
        model.Initialize(6, 0.5);
        var flow = new ConditionalFlowMatching<double>();
        double before = flow.Loss(model, inputs.X1, inputs.Mask, inputs.Mu, inputs.Spks, inputs.Cond, inputs.Draws);

        new RandomSource(99).FillGaussian(inputs.Mu.Span);
        new RandomSource(98).FillGaussian(inputs.Spks.Span);
        new RandomSource(97).FillGaussian(inputs.Cond.Span);
        double after = flow.Loss(model, inputs.X1, inputs.Mask, inputs.Mu, inputs.Spks, inputs.Cond, inputs.Draws);

        Assert.Equal(before, after);
    }

    [Fact]
    public void Loss_MaskShapeWrong_Throws()
    {
        var inputs = MakeInputs(50);
        var model = new LinearVelocityModel<double>(MelDim, MuDim, SpkDim);
        var flow = new ConditionalFlowMatching<double>();

        var error = Assert.Throws<ArgumentException>(() =>
            flow.Loss(model, inputs.X1, new Tensor<double>(Batch, Frames), inputs.Mu, inputs.Spks, inputs.Cond, inputs.Draws));

        Assert.Equal("mask", error.ParamName);
    }
}
