using System.Globalization;
using DiTNet.IO;
using DiTNet.Models;
using Microsoft.Extensions.Logging;

namespace DiTNet.Cli;

/// <summary>The <c>ditnet info</c> verb: prints a checkpoint's config, parameter count, tensors and metadata.</summary>
public static class InfoCommand
{
    private const string Usage = """
        usage: ditnet info WEIGHTS [--prefix P] [--mu-dim U] [--spk-dim S] [--chunk-size C]

        Prints the DiT config read from WEIGHTS (its 'config' metadata, or else inferred from
        the tensor shapes), the parameter count, every tensor's name, dtype and shape, and the
        metadata.

          --prefix P       prefix of the DiT's tensor names (default: detected, e.g. decoder.estimator.)
          --mu-dim U       conditioning channels, when the input width is not 4 x mel_dim
          --spk-dim S      speaker-embedding channels, likewise
          --chunk-size C   streaming chunk size in frames, which the weights do not record
        """;

    /// <summary>Runs the verb, writing errors to the standard error stream; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output) => Run(args, output, Console.Error);

    /// <summary>Runs the verb; returns 0 on success and 2 on invalid arguments or an unreadable file.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        string? path = null, prefix = null;
        int? muDim = null, spkDim = null, chunkSize = null;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            bool hasValue = i + 1 < args.Length;
            switch (arg)
            {
                case "-h" or "--help":
                    output.WriteLine(Usage);
                    return 0;
                case "--prefix" when hasValue:
                    prefix = args[++i];
                    break;
                case "--mu-dim" when hasValue && TryParseCount(args[i + 1], out int mu):
                    muDim = mu;
                    i++;
                    break;
                case "--spk-dim" when hasValue && TryParseCount(args[i + 1], out int spk):
                    spkDim = spk;
                    i++;
                    break;
                case "--chunk-size" when hasValue && TryParseCount(args[i + 1], out int chunk):
                    chunkSize = chunk;
                    i++;
                    break;
                case var option when option.StartsWith('-'):
                    error.WriteLine($"ditnet info: unknown option, or missing or invalid value: '{option}'.");
                    error.WriteLine(Usage);
                    return 2;
                default:
                    if (path is not null)
                    {
                        error.WriteLine($"ditnet info: expected one WEIGHTS file, got '{path}' and '{arg}'.");
                        return 2;
                    }
                    path = arg;
                    break;
            }
        }
        if (path is null)
        {
            error.WriteLine("ditnet info: missing the WEIGHTS file.");
            error.WriteLine(Usage);
            return 2;
        }

        try
        {
            using var file = SafeTensorsFile.Open(RunFiles.RequireFile(path, "WEIGHTS"));
            WriteReport(file, prefix, new DiTConfigHints(muDim, spkDim, chunkSize), output);
            return 0;
        }
        catch (Exception failure) when (Program.IsUserError(failure))
        {
            error.WriteLine($"ditnet info: {Program.UserMessage(failure)}");
            return 2;
        }
    }

    /// <summary>Writes the config, parameter count, tensor list and metadata of an opened file.</summary>
    public static void WriteReport(SafeTensorsFile file, string? prefix, DiTConfigHints hints, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(file);
        long fileBytes = new FileInfo(file.Path).Length;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"file: {file.Path} ({file.Names.Count} tensors, {fileBytes:N0} bytes)"));

        WriteModel(file, prefix, hints, output);

        output.WriteLine("tensors:");
        int nameWidth = file.Names.Count == 0 ? 0 : file.Names.Max(name => name.Length);
        foreach (string name in file.Names)
        {
            var info = file.Info(name);
            output.WriteLine($"  {name.PadRight(nameWidth)}  {info.DType,-5}  {info.ShapeString}");
        }

        output.WriteLine(file.Metadata.Count == 0 ? "metadata: none" : "metadata:");
        foreach (var (key, value) in file.Metadata.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {key}: {value}");
        }
    }

    private static void WriteModel(SafeTensorsFile file, string? prefix, DiTConfigHints hints, TextWriter output)
    {
        var assumptions = new AssumptionLog();
        DiTConfig config;
        try
        {
            prefix ??= DiTCheckpoint.DetectPrefix(file);
            config = DiTCheckpoint.ReadConfig(file, prefix, hints, assumptions);
        }
        catch (InvalidDataException failure)
        {
            // the tensor list is still worth printing for a file that contains no DiT or an ambiguous one
            output.WriteLine($"config: not available: {failure.Message}");
            return;
        }

        bool stored = file.Metadata.ContainsKey(DiTConfigDocument.MetadataKey);
        output.WriteLine($"DiT under prefix '{prefix}', config {(stored ? "from the 'config' metadata" : "inferred from the tensor shapes")}:");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  dim {config.Dim}, depth {config.Depth}, heads {config.Heads}, dim_head {config.DimHead}, ff_mult {config.FFMult}, mel_dim {config.MelDim}, mu_dim {config.MuDim}, spk_dim {config.SpkDim}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  long_skip_connection {config.LongSkipConnection.ToString().ToLowerInvariant()}, static_chunk_size {config.StaticChunkSize}, dropout {config.Dropout}"));
        foreach (string assumption in assumptions.Messages)
        {
            output.WriteLine($"  {assumption}");
        }

        // buffers such as rotary_embed.inv_freq are saved but not trained, so PyTorch's parameter count leaves them out
        long parameters = 0, buffers = 0;
        foreach (string name in file.Names.Where(name => name.StartsWith(prefix, StringComparison.Ordinal)))
        {
            long count = file.Info(name).ElementCount;
            if (name.EndsWith("rotary_embed.inv_freq", StringComparison.Ordinal))
            {
                buffers += count;
            }
            else
            {
                parameters += count;
            }
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  parameters: {parameters:N0} ({parameters / 1e6:F1} M), plus {buffers:N0} buffer values"));
    }

    /// <summary>Collects what config inference logs, so the report can show each assumption.</summary>
    private sealed class AssumptionLog : ILogger
    {
        public List<string> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Messages.Add(formatter(state, exception));
            }
        }
    }

    private static bool TryParseCount(string text, out int value) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
}
