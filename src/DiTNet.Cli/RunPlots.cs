using DiTNet.Training;
using ScottPlot;

namespace DiTNet.Cli;

/// <summary>The PNG figures of a training run: loss curves and mel heat maps.</summary>
internal static class RunPlots
{
    /// <summary>Writes the training loss per step and the held-out loss at its evaluation steps, on a log scale.</summary>
    /// <param name="curveUtterances">The held-out utterances behind each point of <paramref name="heldOut"/>, named in the legend.</param>
    /// <param name="heldOutTotal">All held-out utterances of the run, which metrics.json scores.</param>
    public static void SaveLossCurves(string path, IReadOnlyList<(long Step, double Loss)> training, IReadOnlyList<(long Step, double Loss)> heldOut,
        int curveUtterances, int heldOutTotal)
    {
        var plot = new Plot();
        if (training.Count > 0)
        {
            var line = plot.Add.ScatterLine(training.Select(p => (double)p.Step).ToArray(), training.Select(p => Math.Log10(p.Loss)).ToArray());
            line.LegendText = "training (batch)";
            line.LineWidth = 1;
        }
        if (heldOut.Count > 0)
        {
            var line = plot.Add.Scatter(heldOut.Select(p => (double)p.Step).ToArray(), heldOut.Select(p => Math.Log10(p.Loss)).ToArray());
            line.LegendText = HeldOutLegend(curveUtterances, heldOutTotal);
            line.LineWidth = 2;
            line.MarkerSize = 6;
        }
        // the loss falls by more than a decade, so the points are plotted as log10 and labelled with the loss itself
        var all = training.Select(p => p.Loss).Concat(heldOut.Select(p => p.Loss)).Where(v => v > 0 && double.IsFinite(v)).ToArray();
        if (all.Length > 0)
        {
            var (positions, labels) = LogTicks(all.Min(), all.Max());
            plot.Axes.Left.SetTicks(positions, labels);
        }
        plot.Title("Flow-matching loss");
        plot.XLabel("step");
        plot.YLabel("loss (log scale)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 900, 500);
    }

    /// <summary>Returns the legend of the held-out curve, naming the utterances behind it when they are fewer than metrics.json scores.</summary>
    internal static string HeldOutLegend(int curveUtterances, int heldOutTotal) => curveUtterances < heldOutTotal
        ? $"held-out (first {curveUtterances} of {heldOutTotal} utterances, fixed draws)"
        : $"held-out ({Plural(curveUtterances, "utterance")}, fixed draws)";

    private static (double[] Positions, string[] Labels) LogTicks(double low, double high)
    {
        var ticks = LogTicks(low, high, [1.0, 2.0, 5.0]);
        if (ticks.Positions.Count(p => p >= Math.Log10(low) && p <= Math.Log10(high)) >= 3)
        {
            return ticks;
        }
        // a short run's losses can span less than a factor of 2, which 1-2-5 steps leave without a label inside the axis
        var positions = Enumerable.Range(0, 5).Select(i => Math.Log10(low) + i * (Math.Log10(high) - Math.Log10(low)) / 4).ToArray();
        return (positions, positions.Select(p => Math.Pow(10, p).ToString("G3", System.Globalization.CultureInfo.InvariantCulture)).ToArray());
    }

    private static (double[] Positions, string[] Labels) LogTicks(double low, double high, double[] mantissas)
    {
        var positions = new List<double>();
        var labels = new List<string>();
        for (int exponent = (int)Math.Floor(Math.Log10(low)); exponent <= (int)Math.Ceiling(Math.Log10(high)); exponent++)
        {
            foreach (double mantissa in mantissas)
            {
                double value = mantissa * Math.Pow(10, exponent);
                if (value >= low / 1.5 && value <= high * 1.5)
                {
                    positions.Add(Math.Log10(value));
                    labels.Add(value.ToString("G3", System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        }
        return (positions.ToArray(), labels.ToArray());
    }

    /// <summary>Returns <c>1 file</c> or <c>2 files</c>: the count and the noun, with an <c>s</c> unless the count is 1.</summary>
    public static string Plural(long count, string noun) => count == 1 ? $"1 {noun}" : $"{count} {noun}s";

    /// <summary>
    /// Writes one row per utterance: the true mel on the left, the generated one on the right, on one colour scale per
    /// row shown by a colour bar, with a vertical line where the prompt frames end.
    /// </summary>
    /// <param name="rows">Per utterance: its name, the true mel and the generated mel, both <c>[M, N]</c>.</param>
    /// <param name="promptFraction">The share of true frames given as the prompt; 0 draws no line.</param>
    public static void SaveMelComparison(string path, IReadOnlyList<(string Name, float[] Truth, float[] Generated, int MelDim, int Frames)> rows,
        double promptFraction)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2 * Math.Max(rows.Count, 1));
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(Math.Max(rows.Count, 1), 2);
        for (int r = 0; r < rows.Count; r++)
        {
            var (name, truth, generated, melDim, frames) = rows[r];
            double low = Math.Min(truth.Min(), generated.Min());
            double high = Math.Max(truth.Max(), generated.Max());
            int promptFrames = HeldOutEvaluation.PromptLength(frames, promptFraction);
            string promptNote = promptFrames > 0 ? $", prompt frames 0-{promptFrames - 1}" : "";
            AddMel(multiplot.GetPlot(2 * r), $"{name}: true", truth, melDim, frames, low, high, promptFrames);
            var heatmap = AddMel(multiplot.GetPlot(2 * r + 1), $"{name}: generated{promptNote}", generated, melDim, frames, low, high, promptFrames);
            multiplot.GetPlot(2 * r + 1).Add.ColorBar(heatmap);
        }
        multiplot.SavePng(path, 1400, 260 * Math.Max(rows.Count, 1));
    }

    /// <summary>Writes a single mel heat map.</summary>
    public static void SaveMel(string path, string title, float[] mel, int melDim, int frames)
    {
        var plot = new Plot();
        var heatmap = AddMel(plot, title, mel, melDim, frames, mel.Min(), mel.Max(), promptFrames: 0);
        plot.Add.ColorBar(heatmap);
        plot.SavePng(path, 1000, 320);
    }

    private static ScottPlot.Plottables.Heatmap AddMel(Plot plot, string title, float[] mel, int melDim, int frames, double low, double high, int promptFrames)
    {
        // heat map rows run top to bottom, so band 0 goes in the last row to sit at the bottom of the image
        var intensities = new double[melDim, frames];
        for (int m = 0; m < melDim; m++)
        {
            for (int n = 0; n < frames; n++)
            {
                intensities[melDim - 1 - m, n] = mel[m * frames + n];
            }
        }
        var heatmap = plot.Add.Heatmap(intensities);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(low, high);
        plot.Title(title);
        plot.XLabel("frame");
        plot.YLabel("mel band");
        if (promptFrames > 0)
        {
            // cells are centred on whole frame numbers, so the boundary after the last prompt frame is at promptFrames - 0.5
            var line = plot.Add.VerticalLine(promptFrames - 0.5);
            line.Color = Colors.White;
            line.LineWidth = 1.5f;
            line.LinePattern = LinePattern.Dashed;
        }
        plot.Axes.Margins(0, 0);
        return heatmap;
    }
}
