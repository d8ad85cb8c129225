using System.Globalization;

namespace DiTNet.Cli;

/// <summary>
/// A verb's <c>--name value</c> options and <c>--flag</c> switches, parsed once; every lookup marks its name as
/// known, so that <see cref="RejectUnknown"/> can name a mistyped option afterwards.
/// </summary>
internal sealed class CommandOptions
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    /// <summary>Parses <paramref name="args"/>; a name followed by another name or by nothing is a switch.</summary>
    /// <exception cref="ArgumentException">An argument does not start with <c>--</c> or is given twice.</exception>
    public CommandOptions(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                throw new ArgumentException($"Unexpected argument '{arg}'; options have the form --name value.");
            }
            string name = arg[2..];
            string? value = null;
            int equals = name.IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }
            else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            if (!_values.TryAdd(name, value))
            {
                throw new ArgumentException($"Option --{name} is given twice.");
            }
        }
    }

    /// <summary>Whether the help was requested.</summary>
    public bool Help => Has("help") || Has("h");

    /// <summary>Returns whether option <paramref name="name"/> was given.</summary>
    public bool Has(string name)
    {
        _known.Add(name);
        return _values.ContainsKey(name);
    }

    /// <summary>Returns the text of option <paramref name="name"/>, or <paramref name="fallback"/> when absent.</summary>
    public string? String(string name, string? fallback = null)
    {
        _known.Add(name);
        if (!_values.TryGetValue(name, out var value))
        {
            return fallback;
        }
        return value ?? throw new ArgumentException($"Option --{name} needs a value.");
    }

    /// <summary>Returns option <paramref name="name"/> as an integer within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        string? text = String(name);
        if (text is null)
        {
            return fallback;
        }
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
        {
            string range = (min, max) switch
            {
                (int.MinValue, int.MaxValue) => "",
                (_, int.MaxValue) => $" ≥ {min}",
                (int.MinValue, _) => $" ≤ {max}",
                _ => $" in [{min}, {max}]",
            };
            throw new ArgumentException($"Option --{name} must be an integer{range}, got '{text}'.");
        }
        return value;
    }

    /// <summary>Returns option <paramref name="name"/> as a number within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public double Double(string name, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        string? text = String(name);
        if (text is null)
        {
            return fallback;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            || !double.IsFinite(value) || value < min || value > max)
        {
            string range = (min, max) switch
            {
                (double.MinValue, double.MaxValue) => "",
                (_, double.MaxValue) => $" ≥ {min.ToString(CultureInfo.InvariantCulture)}",
                (double.MinValue, _) => $" ≤ {max.ToString(CultureInfo.InvariantCulture)}",
                _ => $" in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]",
            };
            throw new ArgumentException($"Option --{name} must be a finite number{range}, got '{text}'.");
        }
        return value;
    }

    /// <summary>Returns option <paramref name="name"/> as true/false (a bare switch is true).</summary>
    public bool Bool(string name, bool fallback)
    {
        _known.Add(name);
        if (!_values.TryGetValue(name, out var text))
        {
            return fallback;
        }
        return text switch
        {
            null or "true" or "on" or "yes" or "1" => true,
            "false" or "off" or "no" or "0" => false,
            _ => throw new ArgumentException($"Option --{name} must be true or false, got '{text}'."),
        };
    }

    /// <summary>Returns option <paramref name="name"/> as one of the enum's names, case-insensitive.</summary>
    public TEnum Enum<TEnum>(string name, TEnum fallback) where TEnum : struct, System.Enum
    {
        string? text = String(name);
        if (text is null)
        {
            return fallback;
        }
        if (!System.Enum.TryParse(text, ignoreCase: true, out TEnum value) || !System.Enum.IsDefined(value))
        {
            throw new ArgumentException(
                $"Option --{name} must be one of {string.Join(", ", System.Enum.GetNames<TEnum>().Select(n => n.ToLowerInvariant()))}, got '{text}'.");
        }
        return value;
    }

    /// <summary>Throws when an option was given that no lookup asked for.</summary>
    /// <exception cref="ArgumentException">An unknown option was given.</exception>
    public void RejectUnknown(string verb)
    {
        var unknown = _values.Keys.Where(name => !_known.Contains(name)).ToArray();
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"Unknown option --{unknown[0]}; run 'ditnet {verb} --help' for the list.");
        }
    }
}
