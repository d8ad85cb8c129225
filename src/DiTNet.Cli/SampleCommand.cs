using Microsoft.Extensions.Logging;

namespace DiTNet.Cli;

/// <summary>The <c>ditnet sample</c> verb.</summary>
internal static class SampleCommand
{
    /// <summary>Runs the verb; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, ILoggerFactory loggerFactory)
    {
        throw new NotSupportedException("ditnet sample is not implemented yet.");
    }
}
