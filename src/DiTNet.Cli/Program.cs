using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace DiTNet.Cli;

/// <summary>Entry point of the <c>ditnet</c> command: one verb per file in this folder.</summary>
public static class Program
{
    /// <summary>The exit code of a run stopped by Ctrl-C, as shells report a process ended by SIGINT.</summary>
    public const int InterruptedExitCode = 130;

    private const string Usage = """
        usage: ditnet <verb> [options]

        verbs:
          info WEIGHTS          print a checkpoint's config, parameter count and tensors
          check WEIGHTS IO      run DiTNet on a recorded PyTorch input/output file and compare
          train [options]       train a flow-matching DiT on the shipped speech corpus
          sample [options]      generate mel spectrograms from a trained checkpoint

        Run 'ditnet <verb> --help' for the options of one verb, 'ditnet --version' for the version.
        """;

    /// <summary>Runs one verb and returns the process exit code: 0 success, 1 failed check, 2 usage error, 130 interrupted.</summary>
    public static int Main(string[] args)
    {
        using var interrupt = new CancellationTokenSource();
        if (args.Length > 0 && args[0] == "train")
        {
            // only training stops cleanly on Ctrl-C, by saving its checkpoint; the other verbs end at once as usual.
            // A second Ctrl-C ends training at once too.
            Console.CancelKeyPress += (_, e) =>
            {
                if (!interrupt.IsCancellationRequested)
                {
                    e.Cancel = true;
                    interrupt.Cancel();
                }
            };
        }
        return Run(args, Console.Out, Console.Error, interrupt.Token);
    }

    /// <summary>Runs one verb with results on <paramref name="output"/> and logs and errors on <paramref name="error"/>; returns the exit code.</summary>
    /// <param name="cancellation">Set by Ctrl-C: a training run then saves its checkpoint and returns <see cref="InterruptedExitCode"/>.</param>
    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Length == 0 ? error : output).WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        if (args[0] is "--version" or "version")
        {
            output.WriteLine($"ditnet {Version}");
            return 0;
        }

        using var loggerFactory = LoggerFactory.Create(builder => builder
            .AddProvider(new PlainLoggerProvider(error))
            .SetMinimumLevel(LogLevel.Information));
        string[] rest = args[1..];
        try
        {
            return args[0] switch
            {
                "info" => InfoCommand.Run(rest, output, error),
                "check" => CheckCommand.Run(rest, output, error),
                "train" => TrainCommand.Run(rest, output, loggerFactory, error, cancellation),
                "sample" => SampleCommand.Run(rest, output, loggerFactory),
                _ => UnknownVerb(args[0], error),
            };
        }
        catch (Exception failure) when (IsUserError(failure))
        {
            error.WriteLine($"ditnet {args[0]}: {UserMessage(failure)}");
            return 2;
        }
    }

    /// <summary>The assembly's informational version, such as <c>0.1.0+commit</c>.</summary>
    public static string Version =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(Program).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    /// <summary>Whether an exception comes from the user's input or files rather than from a bug, so a message without a stack trace fits.</summary>
    public static bool IsUserError(Exception failure) =>
        failure is ArgumentException or IOException or InvalidDataException or NotSupportedException
            or UnauthorizedAccessException or JsonException;

    /// <summary>Returns the exception's message without the <c>(Parameter 'name')</c> suffix that <see cref="ArgumentException"/> appends.</summary>
    public static string UserMessage(Exception failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        string message = failure.Message;
        if (failure is ArgumentException { ParamName: { } name })
        {
            string suffix = $" (Parameter '{name}')";
            if (message.EndsWith(suffix, StringComparison.Ordinal))
            {
                message = message[..^suffix.Length];
            }
        }
        if (failure is UnauthorizedAccessException)
        {
            message = $"permission denied: {message}";
        }
        return message;
    }

    private static int UnknownVerb(string verb, TextWriter error)
    {
        error.WriteLine($"ditnet: unknown verb '{verb}'.");
        error.WriteLine(Usage);
        return 2;
    }
}
