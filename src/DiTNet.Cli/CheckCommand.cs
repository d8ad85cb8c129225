namespace DiTNet.Cli;

/// <summary>The <c>ditnet check</c> verb.</summary>
internal static class CheckCommand
{
    /// <summary>Runs the verb; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output)
    {
        throw new NotSupportedException("ditnet check is not implemented yet.");
    }
}
