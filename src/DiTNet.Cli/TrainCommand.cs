using Microsoft.Extensions.Logging;

namespace DiTNet.Cli;

/// <summary>The <c>ditnet train</c> verb.</summary>
internal static class TrainCommand
{
    /// <summary>Runs the verb; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, ILoggerFactory loggerFactory)
    {
        throw new NotSupportedException("ditnet train is not implemented yet.");
    }
}
