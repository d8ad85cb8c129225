using System.Globalization;
using DiTNet.IO;

namespace DiTNet.Cli;

/// <summary>The <c>ditnet check</c> verb: replays a recorded PyTorch run and compares every tensor.</summary>
public static class CheckCommand
{
    private const string Usage = """
        usage: ditnet check WEIGHTS IO [--prefix P] [--double]

        Replays the PyTorch run recorded in IO (a safetensors file whose 'config' metadata
        gives the model and the kind) with the model in WEIGHTS, then prints for each
        output, loss and gradient the relative L2 error ||a - e|| / max(||e||, 1e-7 sqrt(n)),
        the largest absolute error and where it is. Kinds: forward_backward (output and the
        gradients of sum(output * grad_output)), cfm_loss (flow-matching loss with the
        recorded draws, and its parameter gradients), euler_sample (Euler sampling with
        guidance from the recorded noise).

          --prefix P   prefix of the DiT's tensor names in WEIGHTS (default: detected)
          --double     compute in float64 instead of float32

        Exit code: 0 when outputs, losses and samples are within 1e-5 and every gradient
        within 1e-4, 1 when a tensor is over tolerance, 2 on invalid arguments, unreadable
        files or a recording kind that cannot be checked.
        """;

    /// <summary>Runs the verb, writing errors to the standard error stream; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output) => Run(args, output, Console.Error);

    /// <summary>Runs the verb; returns 0 when every tensor is within tolerance, 1 when one is not, 2 on errors.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        var positional = new List<string>();
        string? prefix = null;
        bool useDouble = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-h" or "--help":
                    output.WriteLine(Usage);
                    return 0;
                case "--double":
                    useDouble = true;
                    break;
                case "--prefix" when i + 1 < args.Length:
                    prefix = args[++i];
                    break;
                case var option when option.StartsWith('-'):
                    error.WriteLine($"ditnet check: unknown option or missing value: '{option}'.");
                    error.WriteLine(Usage);
                    return 2;
                default:
                    positional.Add(args[i]);
                    break;
            }
        }
        if (positional.Count != 2)
        {
            error.WriteLine($"ditnet check: expected WEIGHTS and IO, got {positional.Count} file arguments.");
            error.WriteLine(Usage);
            return 2;
        }

        DiTParityReport report;
        try
        {
            RunFiles.RequireFile(positional[0], "WEIGHTS");
            RunFiles.RequireFile(positional[1], "IO");
            report = useDouble
                ? DiTParityCheck.Run<double>(positional[0], positional[1], prefix)
                : DiTParityCheck.Run<float>(positional[0], positional[1], prefix);
        }
        catch (StateDictMismatchException failure)
        {
            error.WriteLine($"ditnet check: {failure.Message}");
            error.WriteLine(
                $"The model is built from the config recorded in '{positional[1]}', so '{positional[0]}' and that file are probably not a pair " +
                $"(weights and recording of the same run), or the weights need {(prefix is null ? "--prefix" : "another --prefix")}.");
            return 2;
        }
        catch (Exception failure) when (Program.IsUserError(failure))
        {
            error.WriteLine($"ditnet check: {Program.UserMessage(failure)}");
            return 2;
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(positional[1])}: {report.Kind} in {(useDouble ? "float64" : "float32")}, streaming {(report.Streaming ? "on" : "off")}, config {DiTConfigJson.ToJson(report.Config)}"));
        WriteTable(report, output);
        return report.Passed ? 0 : 1;
    }

    /// <summary>Writes one line per compared tensor, then a verdict naming every tensor over tolerance.</summary>
    public static void WriteTable(DiTParityReport report, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(report);
        int nameWidth = Math.Max(6, report.Comparisons.Max(comparison => comparison.Name.Length));
        output.WriteLine($"{"tensor".PadRight(nameWidth)}  {"shape",-16}  {"rel. L2",-9}  {"limit",-7}  {"max abs",-9}  {"at",-16}  {"expected",-12}  {"actual",-12}  result");
        foreach (var comparison in report.Comparisons)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{comparison.Name.PadRight(nameWidth)}  {FormatShape(comparison.Shape),-16}  {comparison.RelativeError,-9:0.00E+00}  {comparison.Tolerance,-7:0E+00}  {comparison.MaxAbsError,-9:0.00E+00}  {comparison.MaxAbsCoordinates,-16}  {comparison.Expected,-12:G6}  {comparison.Actual,-12:G6}  {(comparison.Passed ? "ok" : "FAIL")}"));
        }
        if (report.Unchecked.Count > 0)
        {
            output.WriteLine($"not in the recording, so unchecked: {string.Join(", ", report.Unchecked)}");
        }

        var failures = report.Failures.ToList();
        if (failures.Count == 0)
        {
            output.WriteLine(report.Comparisons.Count == 1
                ? "PASS: the 1 tensor is within tolerance."
                : $"PASS: all {report.Comparisons.Count} tensors within tolerance.");
        }
        else
        {
            string counts = report.Comparisons.Count == 1 ? "the 1 tensor is" : $"{failures.Count} of {report.Comparisons.Count} tensors";
            output.WriteLine($"FAIL: {counts} over tolerance: {string.Join(", ", failures.Select(failure => failure.Name))}");
        }
    }

    private static string FormatShape(int[] shape) => "[" + string.Join(", ", shape) + "]";
}
