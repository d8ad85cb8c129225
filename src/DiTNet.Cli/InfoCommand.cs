namespace DiTNet.Cli;

/// <summary>The <c>ditnet info</c> verb.</summary>
internal static class InfoCommand
{
    /// <summary>Runs the verb; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output)
    {
        throw new NotSupportedException("ditnet info is not implemented yet.");
    }
}
