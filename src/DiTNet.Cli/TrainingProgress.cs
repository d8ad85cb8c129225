using System.Diagnostics;
using System.Globalization;
using DiTNet.Training;

namespace DiTNet.Cli;

/// <summary>
/// Writes one line per update to a text stream (stderr): step, loss, learning rate, gradient norm, speed and
/// the estimated time left. Plain lines, so it reads the same in a terminal, a pipe or a log file.
/// </summary>
internal sealed class TrainingProgress
{
    private readonly TextWriter _writer;
    private readonly double _budgetSeconds;
    private readonly int _everySteps;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly long _firstStep;
    private double _lastWrite = double.NegativeInfinity;
    private double _lossSum;
    private int _lossCount;

    /// <summary>Creates the display; a line is written every <paramref name="everySteps"/> steps and at least every 15 seconds.</summary>
    /// <param name="budgetSeconds">The time budget in seconds, or 0 for none; the time left is the smaller of both estimates.</param>
    public TrainingProgress(TextWriter writer, long firstStep, long totalSteps, double budgetSeconds, int everySteps)
    {
        _writer = writer;
        _firstStep = firstStep;
        TotalSteps = totalSteps;
        _budgetSeconds = budgetSeconds;
        _everySteps = Math.Max(everySteps, 1);
    }

    /// <summary>The step the run ends at; lowered when a time budget shortens the run.</summary>
    public long TotalSteps { get; set; }

    /// <summary>Seconds since the display was created.</summary>
    public double ElapsedSeconds => _clock.Elapsed.TotalSeconds;

    /// <summary>Records a step and writes a line when one is due.</summary>
    public void Report(TrainingStepResult result)
    {
        _lossSum += result.Loss;
        _lossCount++;
        double elapsed = ElapsedSeconds;
        bool due = result.Step % _everySteps == 0 || result.Step == TotalSteps || elapsed - _lastWrite >= 15.0;
        if (!due)
        {
            return;
        }
        long done = result.Step - _firstStep;
        double stepsPerSecond = done / Math.Max(elapsed, 1e-9);
        double left = (TotalSteps - result.Step) / Math.Max(stepsPerSecond, 1e-9);
        if (_budgetSeconds > 0)
        {
            left = Math.Min(left, Math.Max(_budgetSeconds - elapsed, 0));
        }
        _writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"step {result.Step}/{TotalSteps}  loss {_lossSum / _lossCount:F4}  lr {result.LearningRate:0.00e+0}  grad norm {result.GradientNorm:F3}  {stepsPerSecond:F2} steps/s  {FormatDuration(left)} left{(result.Skipped ? "  (skipped: not finite)" : "")}"));
        _writer.Flush();
        _lastWrite = elapsed;
        _lossSum = 0;
        _lossCount = 0;
    }

    /// <summary>Formats seconds as <c>1h02m03s</c>, <c>2m03s</c> or <c>3s</c>.</summary>
    public static string FormatDuration(double seconds)
    {
        var span = TimeSpan.FromSeconds(Math.Max(0, Math.Round(seconds)));
        return span.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalHours}h{span.Minutes:D2}m{span.Seconds:D2}s")
            : span.TotalMinutes >= 1
                ? string.Create(CultureInfo.InvariantCulture, $"{span.Minutes}m{span.Seconds:D2}s")
                : string.Create(CultureInfo.InvariantCulture, $"{span.Seconds}s");
    }
}
