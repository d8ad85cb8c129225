namespace DiTNet.Tests.IO;

/// <summary>A fresh folder under the system temp folder, deleted with its contents on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    /// <summary>Creates the folder.</summary>
    public TempFolder()
    {
        Path = Directory.CreateTempSubdirectory("ditnet-tests-").FullName;
    }

    /// <summary>The folder's full path.</summary>
    public string Path { get; }

    /// <summary>Returns the full path of a file in the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <inheritdoc/>
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Paths of the golden fixtures copied next to the test assembly.</summary>
public static class FixturePaths
{
    /// <summary>The folder holding the fixtures.</summary>
    public static string Folder => System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures");

    /// <summary>The weights file of a case, e.g. <c>tiny_longskip</c>.</summary>
    public static string Weights(string caseName) => System.IO.Path.Combine(Folder, caseName + ".weights.safetensors");

    /// <summary>The input/output file of a case.</summary>
    public static string Io(string caseName) => System.IO.Path.Combine(Folder, caseName + ".io.safetensors");

    /// <summary>The cases whose io file has kind <c>forward_backward</c>.</summary>
    public static TheoryData<string> ForwardBackwardCases => new("tiny_longskip", "tiny_streaming", "tiny_longskip_streaming", "single_frame");

    /// <summary>The cases of kind <c>cfm_loss</c> and <c>euler_sample</c>.</summary>
    public static TheoryData<string> LossAndSampleCases => new("cfm_loss", "euler_cfg");

    /// <summary>Every case that has a weights file.</summary>
    public static TheoryData<string> AllModelCases =>
        new("tiny_longskip", "tiny_streaming", "tiny_longskip_streaming", "single_frame", "cfm_loss", "euler_cfg");
}
