using System.Numerics;
using DiTNet.FlowMatching;
using DiTNet.Models;
using DiTNet.Tensors;
using Microsoft.Extensions.Logging;

namespace DiTNet.IO;

/// <summary>The result of running DiTNet on a recorded PyTorch run.</summary>
/// <param name="Kind">The recorded kind, e.g. <c>forward_backward</c>.</param>
/// <param name="Config">The model's hyper-parameters.</param>
/// <param name="Streaming">Whether the chunk mask was used.</param>
/// <param name="Comparisons">One entry per compared tensor: the output first, then input and parameter gradients.</param>
/// <param name="Unchecked">Trainable parameters whose gradient the recording does not contain.</param>
public sealed record DiTParityReport(
    string Kind, DiTConfig Config, bool Streaming, IReadOnlyList<TensorComparison> Comparisons, IReadOnlyList<string> Unchecked)
{
    /// <summary>Whether every compared tensor is within its tolerance.</summary>
    public bool Passed => Comparisons.All(comparison => comparison.Passed);

    /// <summary>The comparisons over tolerance.</summary>
    public IEnumerable<TensorComparison> Failures => Comparisons.Where(comparison => !comparison.Passed);
}

/// <summary>
/// Runs DiTNet on the inputs of a recorded PyTorch run and compares every output and gradient.
/// </summary>
/// <remarks>
/// The recording is a safetensors file whose <c>config</c> metadata gives the model and the kind:
/// <list type="bullet">
/// <item><c>forward_backward</c>: <c>input.{x,mask,mu,t,spks,cond}</c>, <c>output</c>, <c>grad_output</c>,
/// and the gradients of <c>sum(output · grad_output)</c>: <c>grad.input.{x,mu,t,spks,cond}</c> and
/// <c>grad.&lt;parameter name&gt;</c>.</item>
/// <item><c>cfm_loss</c>: the flow-matching loss of <c>input.{x1,mask,mu,spks,cond}</c> with the draws
/// <c>draw.t</c>, <c>draw.z</c> and <c>draw.keep_condition</c> (BOOL), its value <c>loss</c> and <c>grad.&lt;parameter name&gt;</c>;
/// the config adds <c>sigma_min</c>.</item>
/// <item><c>euler_sample</c>: Euler sampling from the noise <c>input.x</c> with <c>input.{mask,mu,spks,cond}</c>
/// to <c>output</c>; the config adds <c>n_timesteps</c>, <c>inference_cfg_rate</c> and <c>t_scheduler</c>.</item>
/// </list>
/// </remarks>
public static class DiTParityCheck
{
    /// <summary>The largest relative L2 error accepted on outputs, for a float32 run.</summary>
    public const double OutputTolerance = 1e-5;

    /// <summary>The largest relative L2 error accepted on gradients, for a float32 run.</summary>
    public const double GradientTolerance = 1e-4;

    /// <summary>The kinds of recording <see cref="Run{T}"/> can check.</summary>
    public static IReadOnlyList<string> SupportedKinds { get; } = ["forward_backward", "cfm_loss", "euler_sample"];

    /// <summary>Loads the weights, replays the recorded run in <typeparamref name="T"/> and compares the results.</summary>
    /// <param name="weightsPath">The model's state dict.</param>
    /// <param name="recordingPath">The recorded inputs, outputs and gradients.</param>
    /// <param name="prefix">The prefix of the DiT's names in the weights file; null detects it.</param>
    /// <exception cref="NotSupportedException">The recording's kind is not one of <see cref="SupportedKinds"/>.</exception>
    /// <exception cref="InvalidDataException">A file is corrupt, or the recording lacks a tensor or its config.</exception>
    public static DiTParityReport Run<T>(string weightsPath, string recordingPath, string? prefix = null, ILogger? logger = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var recording = SafeTensorsFile.Open(recordingPath);
        if (!recording.Metadata.TryGetValue(DiTConfigDocument.MetadataKey, out string? json))
        {
            throw new InvalidDataException($"{recordingPath}: the metadata has no '{DiTConfigDocument.MetadataKey}' entry describing the run.");
        }
        DiTConfigDocument document;
        try
        {
            document = DiTConfigJson.ParseDocument(json);
        }
        catch (InvalidDataException error)
        {
            throw new InvalidDataException($"{recordingPath}: {error.Message}", error);
        }

        string kind = document.Kind ?? throw new InvalidDataException($"{recordingPath}: the config metadata has no 'kind'.");
        if (!SupportedKinds.Contains(kind))
        {
            throw new NotSupportedException(
                $"{recordingPath}: a recording of kind '{kind}' cannot be checked yet; supported: {string.Join(", ", SupportedKinds)}.");
        }

        var model = DiTCheckpoint.Load<T>(weightsPath, document.Config, prefix, logger);
        model.Training = false;
        try
        {
            return kind switch
            {
                "cfm_loss" => CheckLoss(model, recording, document),
                "euler_sample" => CheckSample(model, recording, document),
                _ => CheckForwardBackward(model, recording, document),
            };
        }
        catch (InvalidDataException error) when (!error.Message.StartsWith(recordingPath, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{recordingPath}: {error.Message}", error);
        }
    }

    private static DiTParityReport CheckForwardBackward<T>(DiT<T> model, SafeTensorsFile recording, DiTConfigDocument document)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = Read<T>(recording, "input.x");
        var mask = Read<T>(recording, "input.mask");
        var mu = Read<T>(recording, "input.mu");
        var t = Read<T>(recording, "input.t");
        var spks = Read<T>(recording, "input.spks");
        var cond = Read<T>(recording, "input.cond");
        var comparisons = new List<TensorComparison>();

        // forward: the output buffer belongs to the model, so compare it before anything else runs
        var output = model.Forward(x, mask, mu, t, spks, cond, document.Streaming);
        comparisons.Add(Compare("output", output, Read<T>(recording, "output"), OutputTolerance));

        // backward of sum(output · grad_output)
        model.ZeroGradients();
        var inputGradients = new DiTInputGradients<T>
        {
            X = new Tensor<T>(x.Shape.ToArray()),
            Mu = new Tensor<T>(mu.Shape.ToArray()),
            Time = new Tensor<T>(t.Shape.ToArray()),
            Spks = new Tensor<T>(spks.Shape.ToArray()),
            Cond = new Tensor<T>(cond.Shape.ToArray()),
        };
        model.Backward(Read<T>(recording, "grad_output"), inputGradients);

        foreach (var (name, gradient) in new[]
        {
            ("x", inputGradients.X), ("mu", inputGradients.Mu), ("t", inputGradients.Time),
            ("spks", inputGradients.Spks), ("cond", inputGradients.Cond),
        })
        {
            string key = "grad.input." + name;
            if (recording.Contains(key))
            {
                comparisons.Add(Compare(key, gradient, Read<T>(recording, key), GradientTolerance));
            }
        }

        var uncheckedNames = CompareParameterGradients(model, recording, comparisons);
        return new DiTParityReport(document.Kind!, model.Config, document.Streaming, comparisons, uncheckedNames);
    }

    private static DiTParityReport CheckLoss<T>(DiT<T> model, SafeTensorsFile recording, DiTConfigDocument document)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x1 = Read<T>(recording, "input.x1");
        var mask = Read<T>(recording, "input.mask");
        var mu = Read<T>(recording, "input.mu");
        var spks = Read<T>(recording, "input.spks");
        var cond = Read<T>(recording, "input.cond");
        double sigmaMin = document.GetDouble("sigma_min")
            ?? throw new InvalidDataException("the config metadata of a cfm_loss recording has no 'sigma_min'.");

        // replay the recorded draws in place of random ones
        var draws = new FlowMatchingDraws<T>(x1.Dim(0), x1.Dim(1), x1.Dim(2));
        CopyInto(Read<T>(recording, "draw.t"), draws.Time, "draw.t");
        CopyInto(Read<T>(recording, "draw.z"), draws.Noise, "draw.z");
        bool[] keep = recording.ReadBool("draw.keep_condition");
        if (keep.Length != draws.KeepCondition.Length)
        {
            throw new InvalidDataException($"draw.keep_condition has {keep.Length} values for a batch of {draws.KeepCondition.Length}.");
        }
        keep.CopyTo(draws.KeepCondition, 0);

        model.ZeroGradients();
        double loss = new ConditionalFlowMatching<T>(sigmaMin).LossAndBackward(model, x1, mask, mu, spks, cond, draws, document.Streaming);
        var comparisons = new List<TensorComparison>
        {
            Compare("loss", new Tensor<T>([T.CreateTruncating(loss)], 1), Read<T>(recording, "loss"), OutputTolerance),
        };
        var uncheckedNames = CompareParameterGradients(model, recording, comparisons);
        return new DiTParityReport(document.Kind!, model.Config, document.Streaming, comparisons, uncheckedNames);
    }

    private static DiTParityReport CheckSample<T>(DiT<T> model, SafeTensorsFile recording, DiTConfigDocument document)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double steps = document.GetDouble("n_timesteps")
            ?? throw new InvalidDataException("the config metadata of an euler_sample recording has no 'n_timesteps'.");
        double guidance = document.GetDouble("inference_cfg_rate")
            ?? throw new InvalidDataException("the config metadata of an euler_sample recording has no 'inference_cfg_rate'.");
        var schedule = document.GetString("t_scheduler") switch
        {
            "cosine" => TimeSchedule.Cosine,
            "linear" or null => TimeSchedule.Linear,
            var other => throw new InvalidDataException($"t_scheduler '{other}' is not one of cosine and linear."),
        };
        if (steps < 1 || steps != Math.Floor(steps))
        {
            throw new InvalidDataException($"n_timesteps is {steps}, not a positive integer.");
        }

        var sampler = new EulerSampler<T>
        {
            Steps = (int)steps,
            GuidanceWeight = guidance,
            Schedule = schedule,
            Streaming = document.Streaming,
        };
        var output = sampler.Sample(model, Read<T>(recording, "input.x"), Read<T>(recording, "input.mask"),
            Read<T>(recording, "input.mu"), Read<T>(recording, "input.spks"), Read<T>(recording, "input.cond"));
        var comparisons = new List<TensorComparison> { Compare("output", output, Read<T>(recording, "output"), OutputTolerance) };
        return new DiTParityReport(document.Kind!, model.Config, document.Streaming, comparisons, []);
    }

    /// <summary>Compares every recorded <c>grad.&lt;parameter name&gt;</c>; returns the trainable parameters the recording lacks.</summary>
    private static List<string> CompareParameterGradients<T>(DiT<T> model, SafeTensorsFile recording, List<TensorComparison> comparisons)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var parameters = model.Parameters.ToDictionary(parameter => parameter.Name, StringComparer.Ordinal);
        foreach (string key in recording.Names)
        {
            if (key.StartsWith("grad.", StringComparison.Ordinal) && !key.StartsWith("grad.input.", StringComparison.Ordinal)
                && !parameters.ContainsKey(key["grad.".Length..]))
            {
                throw new InvalidDataException(
                    $"{recording.Path}: tensor '{key}' is the gradient of '{key["grad.".Length..]}', which the model does not have.");
            }
        }

        var uncheckedNames = new List<string>();
        foreach (var parameter in parameters.Values.Where(parameter => parameter.Trainable))
        {
            string key = "grad." + parameter.Name;
            if (recording.Contains(key))
            {
                comparisons.Add(Compare(key, parameter.Gradient, Read<T>(recording, key), GradientTolerance));
            }
            else
            {
                uncheckedNames.Add(parameter.Name);
            }
        }
        return uncheckedNames;
    }

    private static void CopyInto<T>(Tensor<T> source, Tensor<T> destination, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!source.HasShape(destination.Shape))
        {
            throw new InvalidDataException($"{name} has shape {source.ShapeString}, expected {destination.ShapeString}.");
        }
        source.Span.CopyTo(destination.Span);
    }

    private static TensorComparison Compare<T>(string name, Tensor<T> actual, Tensor<T> expected, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!actual.HasShape(expected.Shape))
        {
            // a wrong shape cannot be compared element by element, so it is reported as an infinite error
            return new TensorComparison($"{name} (computed {actual.ShapeString}, expected {expected.ShapeString})",
                expected.Shape.ToArray(), double.PositiveInfinity, double.PositiveInfinity, -1, 0, 0, tolerance);
        }
        return TensorComparison.Compare<T>(name, expected.Shape, actual.Span, expected.Span, tolerance);
    }

    private static Tensor<T> Read<T>(SafeTensorsFile recording, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!recording.Contains(name))
        {
            throw new InvalidDataException($"{recording.Path}: the recording has no tensor '{name}'.");
        }
        return recording.ReadTensor<T>(name);
    }
}
