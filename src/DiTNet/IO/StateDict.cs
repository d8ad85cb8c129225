using System.Numerics;
using System.Text;
using DiTNet.Tensors;

namespace DiTNet.IO;

/// <summary>The outcome of a non-strict <see cref="StateDict.Load"/>: what was left out on each side.</summary>
/// <param name="Loaded">The number of parameters copied from the file.</param>
/// <param name="Missing">Model parameters with no tensor in the file, which keep their values.</param>
/// <param name="Unexpected">File tensors under the prefix that match no parameter, named without the prefix.</param>
public sealed record StateDictLoadResult(int Loaded, IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected);

/// <summary>
/// A file that does not match a model's parameters, with every missing, unexpected and mis-shaped
/// tensor listed at once, as PyTorch's strict <c>load_state_dict</c> reports them.
/// </summary>
/// <remarks>An <see cref="ArgumentException"/> for the file argument, because the file may be valid on its own and
/// only its pairing with this model is wrong.</remarks>
public sealed class StateDictMismatchException : ArgumentException
{
    /// <summary>Creates the exception with its message and lists.</summary>
    public StateDictMismatchException(string message, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
        IReadOnlyList<string> mismatched)
        : base(message, "file")
    {
        _message = message;
        Missing = missing;
        Unexpected = unexpected;
        Mismatched = mismatched;
    }

    private readonly string _message;

    /// <summary>The list of mismatches, without the parameter-name suffix that <see cref="ArgumentException"/> appends.</summary>
    public override string Message => _message;

    /// <summary>Model parameters with no tensor in the file, with their shapes.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>File tensors under the prefix that match no parameter, with their shapes.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>Tensors whose shape or dtype differs, with both shapes.</summary>
    public IReadOnlyList<string> Mismatched { get; }
}

/// <summary>Copies tensors between a safetensors file and a model's parameters by their PyTorch names.</summary>
public static class StateDict
{
    private const int MaxListedPerKind = 40;

    /// <summary>
    /// Copies every tensor into the parameter of the same name, converting F64, F32, F16 or BF16 to
    /// <typeparamref name="T"/>.
    /// </summary>
    /// <param name="prefix">Prepended to each parameter name to find its tensor, e.g. <c>decoder.estimator.</c>;
    /// tensors outside the prefix are ignored.</param>
    /// <param name="strict">Whether missing and unexpected tensors are an error; a shape mismatch always is.</param>
    /// <returns>What was loaded and left out.</returns>
    /// <exception cref="StateDictMismatchException">A tensor has the wrong shape or a non-float dtype, or, when
    /// <paramref name="strict"/>, tensors are missing or unexpected; the model is then left unchanged.</exception>
    public static StateDictLoadResult Load<T>(IParameterized<T> model, SafeTensorsFile file, string prefix = "", bool strict = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(prefix);

        var parameters = ByName(model);
        var missing = new List<string>();
        var mismatched = new List<string>();
        var present = new List<Parameter<T>>();

        // compare every parameter with its tensor before copying anything, so a failed load changes nothing
        foreach (var parameter in parameters.Values)
        {
            string key = prefix + parameter.Name;
            if (!file.Contains(key))
            {
                missing.Add($"{parameter.Name} {parameter.Value.ShapeString}");
                continue;
            }
            var info = file.Info(key);
            if (!info.DType.IsConvertibleFloat())
            {
                mismatched.Add($"{parameter.Name}: file has {info.DType} {info.ShapeString}, model needs a float tensor {parameter.Value.ShapeString}");
            }
            else if (!parameter.Value.HasShape(info.Shape))
            {
                mismatched.Add($"{parameter.Name}: file has {info.ShapeString}, model has {parameter.Value.ShapeString}");
            }
            else
            {
                present.Add(parameter);
            }
        }

        var unexpected = new List<string>();
        foreach (string name in file.Names)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal) && !parameters.ContainsKey(name[prefix.Length..]))
            {
                unexpected.Add($"{name[prefix.Length..]} {file.Info(name).ShapeString}");
            }
        }

        if (mismatched.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
        {
            throw new StateDictMismatchException(
                FormatMismatch(file.Path, prefix, missing, unexpected, mismatched), missing, unexpected, mismatched);
        }

        foreach (var parameter in present)
        {
            file.Read(prefix + parameter.Name, parameter.Value.Span);
        }
        return new StateDictLoadResult(present.Count, StripShapes(missing), StripShapes(unexpected));
    }

    /// <summary>Adds every parameter's value to <paramref name="writer"/> under <paramref name="prefix"/> plus its name.</summary>
    /// <param name="storeAs">The stored type; null stores F32 for float and F64 for double.</param>
    public static void AddTo<T>(SafeTensorsWriter writer, IParameterized<T> model, string prefix = "", SafeTensorsDType? storeAs = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(writer);
        foreach (var parameter in ByName(model).Values)
        {
            writer.Add(prefix + parameter.Name, parameter.Value, storeAs ?? SafeTensorsWriter.NativeDType<T>());
        }
    }

    private static Dictionary<string, Parameter<T>> ByName<T>(IParameterized<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var parameters = new Dictionary<string, Parameter<T>>(StringComparer.Ordinal);
        foreach (var parameter in model.Parameters)
        {
            if (!parameters.TryAdd(parameter.Name, parameter))
            {
                throw new ArgumentException($"The model has two parameters named '{parameter.Name}'.", nameof(model));
            }
        }
        return parameters;
    }

    private static string FormatMismatch(string path, string prefix, List<string> missing, List<string> unexpected, List<string> mismatched)
    {
        var message = new StringBuilder();
        message.Append(path).Append(": the tensors do not match the model");
        if (prefix.Length > 0)
        {
            message.Append(" under prefix '").Append(prefix).Append('\'');
        }
        message.Append($": {missing.Count} missing, {unexpected.Count} unexpected, {mismatched.Count} with a different shape or type.");
        // the names the file lacks are the prefixed ones, so that is how the message lists them
        AppendList(message, "missing", missing.Select(item => prefix + item).ToList());
        AppendList(message, "unexpected", unexpected);
        AppendList(message, "different", mismatched);
        if (missing.Count > 0 && unexpected.Count > 0 && mismatched.Count == 0)
        {
            message.AppendLine().Append("If the names differ only by a leading prefix, pass that prefix.");
        }
        return message.ToString();
    }

    private static void AppendList(StringBuilder message, string label, List<string> items)
    {
        foreach (string item in items.Take(MaxListedPerKind))
        {
            message.AppendLine().Append("  ").Append(label).Append(": ").Append(item);
        }
        if (items.Count > MaxListedPerKind)
        {
            message.AppendLine().Append($"  ... and {items.Count - MaxListedPerKind} more {label}");
        }
    }

    private static string[] StripShapes(List<string> items) => items.Select(item => item[..item.LastIndexOf(" [", StringComparison.Ordinal)]).ToArray();
}
