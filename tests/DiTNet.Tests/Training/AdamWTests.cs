using DiTNet.Tensors;
using DiTNet.Training;
using DiTNet.Tests.Helpers;

namespace DiTNet.Tests.Training;

public class AdamWTests
{
    [Fact]
    public void Update_FirstStep_MovesByLearningRateTimesSign()
    {
        // At update 1 the bias-corrected moments are g and g², so the step is lr·g/(|g| + ε) after the decay p·(1 − lr·λ).
        var weight = new Parameter<double>("w", [1, 3]);
        double[] start = [1.0, -2.0, 0.5];
        double[] gradient = [0.3, -0.1, 2.0];
        start.CopyTo(weight.Value.Span);
        gradient.CopyTo(weight.Gradient.Span);
        var optimizer = new AdamW<double>([weight], beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1);

        optimizer.Update(0.01);

        double[] expected =
        [
            1.0 * (1 - 0.001) - 0.01 * 0.3 / (0.3 + 1e-8),
            -2.0 * (1 - 0.001) + 0.01 * 0.1 / (0.1 + 1e-8),
            0.5 * (1 - 0.001) - 0.01 * 2.0 / (2.0 + 1e-8),
        ];
        TensorAssert.AllClose("w after one step", [1, 3], weight.Value.ToArray(), expected, 1e-15, 1e-14);
    }

    [Fact]
    public void Update_ThreeSteps_MatchesHandComputation()
    {
        var weight = new Parameter<double>("w", [3, 1]);
        var bias = new Parameter<double>("b", [3]);
        double[] start = [0.2, -0.7, 1.5];
        start.CopyTo(weight.Value.Span);
        start.CopyTo(bias.Value.Span);
        double[][] gradients = [[0.5, -1.0, 0.25], [-0.2, -0.8, 0.4], [0.1, 0.3, -0.6]];
        double[] rates = [0.1, 0.05, 0.02];
        const double beta1 = 0.8, beta2 = 0.9, epsilon = 1e-3, decay = 0.5;
        var optimizer = new AdamW<double>([weight, bias], beta1, beta2, epsilon, decay);

        // the textbook form with explicit bias-corrected moments, written out separately from the optimizer
        double[] p = (double[])start.Clone(), q = (double[])start.Clone();
        double[] m = new double[3], v = new double[3];
        for (int k = 1; k <= 3; k++)
        {
            gradients[k - 1].CopyTo(weight.Gradient.Span);
            gradients[k - 1].CopyTo(bias.Gradient.Span);
            optimizer.Update(rates[k - 1]);
            for (int i = 0; i < 3; i++)
            {
                double g = gradients[k - 1][i];
                m[i] = beta1 * m[i] + (1 - beta1) * g;
                v[i] = beta2 * v[i] + (1 - beta2) * g * g;
                double mHat = m[i] / (1 - Math.Pow(beta1, k));
                double vHat = v[i] / (1 - Math.Pow(beta2, k));
                double step = rates[k - 1] * mHat / (Math.Sqrt(vHat) + epsilon * 1);
                p[i] = p[i] * (1 - rates[k - 1] * decay) - step;
                q[i] -= step;
            }
        }

        TensorAssert.AllClose("decayed weight after three steps", [3, 1], weight.Value.ToArray(), p, 1e-14, 1e-12);
        TensorAssert.AllClose("bias (not decayed) after three steps", [3], bias.Value.ToArray(), q, 1e-14, 1e-12);
        Assert.Equal(3, optimizer.StepCount);
    }

    [Fact]
    public void Constructor_BufferNotTrainable_IsSkipped()
    {
        var buffer = new Parameter<double>("inv_freq", [2], trainable: false);
        var weight = new Parameter<double>("w", [2, 2]);

        var optimizer = new AdamW<double>([buffer, weight]);

        Assert.Single(optimizer.Parameters);
        Assert.Same(weight, optimizer.Parameters[0]);
    }
}
