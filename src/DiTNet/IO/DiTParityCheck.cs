using System.Numerics;
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
/// The recording is a safetensors file whose <c>config</c> metadata gives the model and the
/// kind. Kind <c>forward_backward</c> contains <c>input.{x,mask,mu,t,spks,cond}</c>, <c>output</c>,
/// <c>grad_output</c>, and the gradients of <c>sum(output · grad_output)</c>:
/// <c>grad.input.{x,mu,t,spks,cond}</c> and <c>grad.&lt;parameter name&gt;</c>.
/// </remarks>
public static class DiTParityCheck
{
    /// <summary>The largest relative L2 error accepted on outputs, for a float32 run.</summary>
    public const double OutputTolerance = 1e-5;

    /// <summary>The largest relative L2 error accepted on gradients, for a float32 run.</summary>
    public const double GradientTolerance = 1e-4;

    /// <summary>The kinds of recording <see cref="Run{T}"/> can check.</summary>
    public static IReadOnlyList<string> SupportedKinds { get; } = ["forward_backward"];

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
        if (kind != "forward_backward")
        {
            throw new NotSupportedException(
                $"{recordingPath}: a recording of kind '{kind}' cannot be checked yet; supported: {string.Join(", ", SupportedKinds)}.");
        }

        var model = DiTCheckpoint.Load<T>(weightsPath, document.Config, prefix, logger);
        return CheckForwardBackward(model, recording, document);
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
        model.Training = false;
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
        return new DiTParityReport(document.Kind!, model.Config, document.Streaming, comparisons, uncheckedNames);
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
