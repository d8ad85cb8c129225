using Microsoft.Extensions.Logging;

namespace DiTNet.Cli;

/// <summary>
/// Writes each log entry as one <c>level: message</c> line to a text stream (stderr in the program), without the
/// category and event id of the console logger's simple format, so log lines read like the progress lines
/// beside them and never mix with the results on stdout.
/// </summary>
internal sealed class PlainLoggerProvider(TextWriter writer) : ILoggerProvider
{
    private readonly Lock _lock = new();

    /// <inheritdoc/>
    public ILogger CreateLogger(string categoryName) => new PlainLogger(this);

    /// <inheritdoc/>
    public void Dispose()
    {
    }

    /// <summary>Returns the short level name the console logger also uses, such as <c>info</c> or <c>warn</c>.</summary>
    public static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => level.ToString().ToLowerInvariant(),
    };

    private void Write(string line)
    {
        lock (_lock)
        {
            writer.WriteLine(line);
            writer.Flush();
        }
    }

    private sealed class PlainLogger(PlainLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            string message = formatter(state, exception);
            if (exception is not null)
            {
                message += Environment.NewLine + exception;
            }
            provider.Write($"{LevelName(logLevel)}: {message}");
        }
    }
}
