using Microsoft.Extensions.Logging;

namespace DiTNet.Cli;

/// <summary>Entry point of the <c>ditnet</c> command: one verb per file in this folder.</summary>
public static class Program
{
    private const string Usage = """
        usage: ditnet <verb> [options]

        verbs:
          info WEIGHTS          print a checkpoint's config, parameter count and tensors
          check WEIGHTS IO      run DiTNet on a recorded PyTorch input/output file and compare
          train [options]       train a flow-matching DiT on the shipped speech corpus
          sample [options]      generate mel spectrograms from a trained checkpoint

        Run 'ditnet <verb> --help' for the options of one verb.
        """;

    /// <summary>Runs one verb and returns the process exit code: 0 success, 1 failed check, 2 usage error.</summary>
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.Out.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        using var loggerFactory = LoggerFactory.Create(builder => builder
            .AddSimpleConsole(options => options.SingleLine = true)
            .SetMinimumLevel(LogLevel.Information));
        string[] rest = args[1..];
        try
        {
            return args[0] switch
            {
                "info" => InfoCommand.Run(rest, Console.Out),
                "check" => CheckCommand.Run(rest, Console.Out),
                "train" => TrainCommand.Run(rest, Console.Out, loggerFactory),
                "sample" => SampleCommand.Run(rest, Console.Out, loggerFactory),
                _ => UnknownVerb(args[0]),
            };
        }
        catch (Exception error) when (error is ArgumentException or IOException or InvalidDataException or NotSupportedException)
        {
            Console.Error.WriteLine($"ditnet {args[0]}: {error.Message}");
            return 2;
        }
    }

    private static int UnknownVerb(string verb)
    {
        Console.Error.WriteLine($"ditnet: unknown verb '{verb}'.");
        Console.Error.WriteLine(Usage);
        return 2;
    }
}
