using DiTNet.IO;
using DiTNet.Models;
using DiTNet.Tensors;

namespace DiTNet.FlowMatching;

/// <summary>One tensor of a replayed fixture against its recorded value.</summary>
/// <param name="Name">The recorded tensor's name, such as <c>loss</c> or <c>grad.proj_out.weight</c>.</param>
/// <param name="Shape">Its shape.</param>
/// <param name="RelativeError"><c>‖actual − expected‖₂ / max(‖expected‖₂, 1e-7·√numel)</c>.</param>
/// <param name="Tolerance">The largest relative error accepted.</param>
/// <param name="MaxAbsError">The largest elementwise |actual − expected|.</param>
/// <param name="WorstIndex">The flat index of that element.</param>
public sealed record FixtureComparison(string Name, int[] Shape, double RelativeError, double Tolerance, double MaxAbsError, int WorstIndex)
{
    /// <summary>Whether the error is within the tolerance (a NaN error fails).</summary>
    public bool Passed => RelativeError <= Tolerance;
}

/// <summary>
/// Replays a recorded PyTorch flow-matching run (kind <c>cfm_loss</c> or <c>euler_sample</c>) in float and
/// compares every recorded result: losses and samples within 1e-5, parameter gradients within 1e-4, by relative L2.
/// </summary>
public static class FlowMatchingFixture
{
    /// <summary>Tolerance for losses and samples.</summary>
    public const double OutputTolerance = 1e-5;

    /// <summary>Tolerance for gradients.</summary>
    public const double GradientTolerance = 1e-4;

    /// <summary>Returns whether a recorded run of this kind can be replayed here.</summary>
    public static bool Handles(string? kind) => kind is "cfm_loss" or "euler_sample";

    /// <summary>Loads the weights, replays the recorded run and compares its results.</summary>
    /// <param name="weightsPath">The model's state dict.</param>
    /// <param name="ioPath">The recorded inputs, draws and results, with the run's <c>config</c> metadata.</param>
    /// <param name="threads">Threads for matrix products; 0 uses all cores.</param>
    /// <exception cref="InvalidDataException">The recording's kind is not one this class replays, or a tensor is missing.</exception>
    public static IReadOnlyList<FixtureComparison> Replay(string weightsPath, string ioPath, int threads = 0)
    {
        using var io = SafeTensorsFile.Open(ioPath);
        if (!io.Metadata.TryGetValue(DiTConfigDocument.MetadataKey, out string? json))
        {
            throw new InvalidDataException($"{ioPath}: no 'config' metadata, so the recorded run is unknown.");
        }
        var document = DiTConfigJson.ParseDocument(json);
        var model = DiTCheckpoint.Load<float>(weightsPath, document.Config);
        model.Threads = threads;
        return document.Kind switch
        {
            "cfm_loss" => ReplayLoss(model, io, document),
            "euler_sample" => ReplaySample(model, io, document),
            _ => throw new InvalidDataException($"{ioPath}: kind '{document.Kind}' is not a flow-matching run (cfm_loss or euler_sample)."),
        };
    }

    private static List<FixtureComparison> ReplayLoss(DiT<float> model, SafeTensorsFile io, DiTConfigDocument document)
    {
        var x1 = io.ReadTensor<float>("input.x1");
        var draws = new FlowMatchingDraws<float>(x1.Dim(0), x1.Dim(1), x1.Dim(2));
        io.ReadTensor<float>("draw.t").Span.CopyTo(draws.Time.Span);
        io.ReadTensor<float>("draw.z").Span.CopyTo(draws.Noise.Span);
        io.ReadBool("draw.keep_condition").CopyTo(draws.KeepCondition, 0);
        var flow = new ConditionalFlowMatching<float>(document.GetDouble("sigma_min") ?? 1e-6);

        model.ZeroGradients();
        double loss = flow.LossAndBackward(model, x1, io.ReadTensor<float>("input.mask"), io.ReadTensor<float>("input.mu"),
            io.ReadTensor<float>("input.spks"), io.ReadTensor<float>("input.cond"), draws, document.Streaming);

        var results = new List<FixtureComparison>
        {
            Compare("loss", new Tensor<float>([(float)loss], 1), io.ReadTensor<float>("loss"), OutputTolerance),
        };
        foreach (var parameter in model.Parameters.Where(p => p.Trainable))
        {
            string name = "grad." + parameter.Name;
            if (!io.Contains(name))
            {
                throw new InvalidDataException($"{io.Path}: no recorded gradient '{name}' for trainable parameter {parameter}.");
            }
            results.Add(Compare(name, parameter.Gradient, io.ReadTensor<float>(name), GradientTolerance));
        }
        return results;
    }

    private static List<FixtureComparison> ReplaySample(DiT<float> model, SafeTensorsFile io, DiTConfigDocument document)
    {
        string schedule = document.GetString("t_scheduler") ?? "linear";
        var sampler = new EulerSampler<float>
        {
            Steps = (int)(document.GetDouble("n_timesteps") ?? 10),
            GuidanceWeight = document.GetDouble("inference_cfg_rate") ?? 0.7,
            Schedule = schedule == "cosine" ? TimeSchedule.Cosine : TimeSchedule.Linear,
            Streaming = document.Streaming,
        };
        var sample = sampler.Sample(model, io.ReadTensor<float>("input.x"), io.ReadTensor<float>("input.mask"),
            io.ReadTensor<float>("input.mu"), io.ReadTensor<float>("input.spks"), io.ReadTensor<float>("input.cond"));
        return [Compare("output", sample, io.ReadTensor<float>("output"), OutputTolerance)];
    }

    private static FixtureComparison Compare(string name, Tensor<float> actual, Tensor<float> expected, double tolerance)
    {
        if (!actual.HasShape(expected.Shape))
        {
            return new FixtureComparison(name, expected.Shape.ToArray(), double.PositiveInfinity, tolerance, double.PositiveInfinity, -1);
        }
        double diff = 0, norm = 0, worst = -1;
        int worstIndex = -1;
        var a = actual.Span;
        var e = expected.Span;
        for (int i = 0; i < e.Length; i++)
        {
            double d = (double)a[i] - e[i];
            diff += d * d;
            norm += (double)e[i] * e[i];
            if (!(Math.Abs(d) <= worst))
            {
                worst = Math.Abs(d);
                worstIndex = i;
            }
        }
        double error = Math.Sqrt(diff) / Math.Max(Math.Sqrt(norm), 1e-7 * Math.Sqrt(e.Length));
        return new FixtureComparison(name, expected.Shape.ToArray(), double.IsNaN(error) ? double.PositiveInfinity : error, tolerance, worst, worstIndex);
    }
}
