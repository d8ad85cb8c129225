using ScottPlot;

namespace DiTNet.Cli;

/// <summary>The PNG figures of a training run: loss curves and mel heat maps.</summary>
internal static class RunPlots
{
    /// <summary>Writes the training loss per step and the held-out loss at its evaluation steps, on a log scale.</summary>
    public static void SaveLossCurves(string path, IReadOnlyList<(long Step, double Loss)> training, IReadOnlyList<(long Step, double Loss)> heldOut)
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
            line.LegendText = "held-out (fixed draws)";
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

    private static (double[] Positions, string[] Labels) LogTicks(double low, double high)
    {
        var positions = new List<double>();
        var labels = new List<string>();
        for (int exponent = (int)Math.Floor(Math.Log10(low)); exponent <= (int)Math.Ceiling(Math.Log10(high)); exponent++)
        {
            foreach (double mantissa in new[] { 1.0, 2.0, 5.0 })
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

    /// <summary>Writes one row per utterance: the true mel on the left, the generated one on the right, on one colour scale per row.</summary>
    /// <param name="rows">Per utterance: its name, the true mel and the generated mel, both <c>[M, N]</c>.</param>
    public static void SaveMelComparison(string path, IReadOnlyList<(string Name, float[] Truth, float[] Generated, int MelDim, int Frames)> rows)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2 * Math.Max(rows.Count, 1));
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(Math.Max(rows.Count, 1), 2);
        for (int r = 0; r < rows.Count; r++)
        {
            var (name, truth, generated, melDim, frames) = rows[r];
            double low = Math.Min(truth.Min(), generated.Min());
            double high = Math.Max(truth.Max(), generated.Max());
            AddMel(multiplot.GetPlot(2 * r), $"{name}: true", truth, melDim, frames, low, high);
            AddMel(multiplot.GetPlot(2 * r + 1), $"{name}: generated", generated, melDim, frames, low, high);
        }
        multiplot.SavePng(path, 1400, 260 * Math.Max(rows.Count, 1));
    }

    /// <summary>Writes a single mel heat map.</summary>
    public static void SaveMel(string path, string title, float[] mel, int melDim, int frames)
    {
        var plot = new Plot();
        AddMel(plot, title, mel, melDim, frames, mel.Min(), mel.Max());
        plot.SavePng(path, 1000, 320);
    }

    private static void AddMel(Plot plot, string title, float[] mel, int melDim, int frames, double low, double high)
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
        plot.Axes.Margins(0, 0);
    }
}
