using System.Numerics;
using DiTNet.IO;
using DiTNet.Models;
using DiTNet.Tensors;
using DiTNet.Tests.Helpers;
using DiTNet.Tests.IO;

namespace DiTNet.Tests.Models;

public class DiTFixtureTests
{
    // Budgets for a float32 run, judged per whole tensor by relative L2 error: outputs 1e-5 and
    // gradients 1e-4. A float32 PyTorch run lands near 5e-7 on outputs and at 4.7e-5 on the
    // gradient of t, whose angles 1000·t·w_k make it the most sensitive tensor.
    private const double FloatOutputTolerance = 1e-5, FloatGradientTolerance = 1e-4;

    // In double only the fixture's float32 storage differs from the float64 reference: half an
    // ulp, 3e-8 relative on average and 6e-8 at most per element. 2e-7 leaves room for the
    // floor of near-zero tensors and nothing else.
    private const double DoubleTolerance = 2e-7;

    [Theory]
    [MemberData(nameof(FixturePaths.ForwardBackwardCases), MemberType = typeof(FixturePaths))]
    public void ForwardBackward_Float_MatchesPyTorch(string caseName)
        => CheckCase<float>(caseName, FloatOutputTolerance, FloatGradientTolerance);

    [Theory]
    [MemberData(nameof(FixturePaths.ForwardBackwardCases), MemberType = typeof(FixturePaths))]
    public void ForwardBackward_Double_MatchesPyTorch(string caseName)
        => CheckCase<double>(caseName, DoubleTolerance, DoubleTolerance);

    private static void CheckCase<T>(string caseName, double outputTolerance, double gradientTolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var io = SafeTensorsFile.Open(FixturePaths.Io(caseName));
        using var weights = SafeTensorsFile.Open(FixturePaths.Weights(caseName));
        var document = DiTConfigJson.ParseDocument(io.Metadata[DiTConfigDocument.MetadataKey]);
        Assert.Equal("forward_backward", document.Kind);
        var model = new DiT<T>(document.Config) { Threads = 1 };
        StateDict.Load(model, weights);

        var x = io.ReadTensor<T>("input.x");
        var mask = io.ReadTensor<T>("input.mask");
        var mu = io.ReadTensor<T>("input.mu");
        var t = io.ReadTensor<T>("input.t");
        var spks = io.ReadTensor<T>("input.spks");
        var cond = io.ReadTensor<T>("input.cond");
        var output = model.Forward(x, mask, mu, t, spks, cond, document.Streaming);
        TensorAssert.RelativeL2Within($"{caseName} output", output, io.ReadTensor<T>("output"), outputTolerance);

        model.ZeroGradients();
        var gradients = new DiTInputGradients<T>
        {
            X = new Tensor<T>(x.Shape.ToArray()),
            Mu = new Tensor<T>(mu.Shape.ToArray()),
            Time = new Tensor<T>(t.Shape.ToArray()),
            Spks = new Tensor<T>(spks.Shape.ToArray()),
            Cond = new Tensor<T>(cond.Shape.ToArray()),
        };
        model.Backward(io.ReadTensor<T>("grad_output"), gradients);

        TensorAssert.RelativeL2Within($"{caseName} grad.input.x", gradients.X, io.ReadTensor<T>("grad.input.x"), gradientTolerance);
        TensorAssert.RelativeL2Within($"{caseName} grad.input.mu", gradients.Mu, io.ReadTensor<T>("grad.input.mu"), gradientTolerance);
        TensorAssert.RelativeL2Within($"{caseName} grad.input.t", gradients.Time, io.ReadTensor<T>("grad.input.t"), gradientTolerance);
        TensorAssert.RelativeL2Within($"{caseName} grad.input.spks", gradients.Spks, io.ReadTensor<T>("grad.input.spks"), gradientTolerance);
        TensorAssert.RelativeL2Within($"{caseName} grad.input.cond", gradients.Cond, io.ReadTensor<T>("grad.input.cond"), gradientTolerance);
        int checkedParameters = 0;
        foreach (var parameter in model.Parameters.Where(p => p.Trainable))
        {
            string name = "grad." + parameter.Name;
            Assert.True(io.Contains(name), $"{caseName}: the fixture has no {name}.");
            TensorAssert.RelativeL2Within($"{caseName} {name}", parameter.Gradient, io.ReadTensor<T>(name), gradientTolerance);
            checkedParameters++;
        }
        Assert.Equal(weights.Names.Count - 1, checkedParameters);
    }
}
