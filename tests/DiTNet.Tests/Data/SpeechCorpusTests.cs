using System.Text.Json;
using DiTNet.Data;
using DiTNet.IO;
using DiTNet.Tensors;
using DiTNet.Tests.IO;

namespace DiTNet.Tests.Data;

public class SpeechCorpusTests
{
    private static string ShippedCorpusPath
    {
        get
        {
            // the repository root is the first folder above the test assembly holding DiTNet.sln
            var folder = new DirectoryInfo(AppContext.BaseDirectory);
            while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "DiTNet.sln")))
            {
                folder = folder.Parent;
            }
            Assert.True(folder is not null, $"no DiTNet.sln above {AppContext.BaseDirectory}");
            return Path.Combine(folder.FullName, "data", "corpus.safetensors");
        }
    }

    [Fact]
    public void Load_ShippedCorpus_HasTenthHeldOutWithEverySpeaker()
    {
        SpeechCorpus corpus = SpeechCorpus.Load(ShippedCorpusPath);
        int total = corpus.Train.Count + corpus.HeldOut.Count;

        Assert.Equal(80, corpus.MelDim);
        Assert.Equal(80, corpus.SpkDim);
        Assert.InRange(corpus.Speakers.Count, 8, 16);
        Assert.InRange(total, 300, 400);
        Assert.Equal(total / 10, corpus.HeldOut.Count);
        for (int s = 0; s < corpus.Speakers.Count; s++)
        {
            Assert.True(corpus.HeldOut.Any(u => u.Speaker == s), $"speaker {s} ({corpus.Speakers[s]}) has no held-out utterance");
            Assert.True(corpus.Train.Any(u => u.Speaker == s), $"speaker {s} ({corpus.Speakers[s]}) has no training utterance");
        }
        var ids = corpus.Train.Concat(corpus.HeldOut).Select(u => u.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Load_ShippedCorpus_UtterancesHaveConsistentShapesAndRange()
    {
        SpeechCorpus corpus = SpeechCorpus.Load(ShippedCorpusPath);

        foreach (Utterance utterance in corpus.Train.Concat(corpus.HeldOut))
        {
            // 1.5 to 5 s at 50 frames per second
            Assert.InRange(utterance.Frames, 75, 250);
            Assert.Equal(80 * utterance.Frames, utterance.Mel.Length);
            Assert.Equal(80 * utterance.Frames, utterance.Mu.Length);
            Assert.Equal(80, utterance.Spks.Length);
            Assert.False(string.IsNullOrWhiteSpace(utterance.Text), $"utterance {utterance.Id} has no text");

            // ln(1e-5) ≈ −11.513 is the floor; F16 storage rounds it by at most 2^-8
            Assert.InRange(utterance.Mel.Min(), -11.53f, 0f);
            Assert.InRange(utterance.Mel.Max(), -6f, 4f);
        }
    }

    [Fact]
    public void Load_ShippedCorpus_SpeakerVectorsAreStandardizedDeviations()
    {
        SpeechCorpus corpus = SpeechCorpus.Load(ShippedCorpusPath);
        int speakers = corpus.Speakers.Count;

        // each speaker's mean over its training frames, then the average of those means
        var means = new double[speakers][];
        for (int s = 0; s < speakers; s++)
        {
            means[s] = new double[80];
            long frames = 0;
            foreach (Utterance utterance in corpus.Train.Where(u => u.Speaker == s))
            {
                for (int band = 0; band < 80; band++)
                {
                    for (int n = 0; n < utterance.Frames; n++)
                    {
                        means[s][band] += utterance.Mel[band * utterance.Frames + n];
                    }
                }
                frames += utterance.Frames;
            }
            means[s] = [.. means[s].Select(sum => sum / frames)];
        }
        double[] average = [.. Enumerable.Range(0, 80).Select(band => means.Average(m => m[band]))];

        for (int s = 0; s < speakers; s++)
        {
            double[] deviation = [.. means[s].Select((m, band) => m - average[band])];
            double center = deviation.Average();
            double rms = Math.Sqrt(deviation.Sum(d => (d - center) * (d - center)) / 80);
            float[] spks = corpus.Train.First(u => u.Speaker == s).Spks;
            for (int band = 0; band < 80; band++)
            {
                double expected = (deviation[band] - center) / rms;
                Assert.True(Math.Abs(spks[band] - expected) <= 1e-5, $"speaker {s}, band {band}: expected {expected}, got {spks[band]}");
            }
            Assert.All(corpus.Train.Concat(corpus.HeldOut).Where(u => u.Speaker == s), u => Assert.Equal(spks, u.Spks));
        }
    }

    [Fact]
    public void Load_TwoSpeakers_SpeakerVectorsAreOppositeAndStandardized()
    {
        // With two speakers, each deviation from the average of the two means is half their
        // difference, with opposite signs, so the standardized vectors are exact negatives.
        using var folder = new TempFolder();
        string path = folder.File("small.safetensors");
        WriteCorpus(path, SmallCorpus(heldOutLevel: 0f));

        SpeechCorpus corpus = SpeechCorpus.Load(path);
        float[] alice = corpus.Train[0].Spks;
        float[] bob = corpus.Train[2].Spks;

        for (int band = 0; band < 80; band++)
        {
            Assert.True(Math.Abs(alice[band] + bob[band]) <= 1e-6, $"band {band}: alice {alice[band]}, bob {bob[band]}");
        }
        Assert.Equal(0, alice.Average(), 1e-6);
        Assert.Equal(1, Math.Sqrt(alice.Average(v => (double)v * v)), 1e-6);
    }

    [Fact]
    public void Load_HeldOutMelChanged_SpeakerVectorsUnchanged()
    {
        using var folder = new TempFolder();
        string quiet = folder.File("quiet.safetensors");
        string loud = folder.File("loud.safetensors");
        WriteCorpus(quiet, SmallCorpus(heldOutLevel: -10f));
        WriteCorpus(loud, SmallCorpus(heldOutLevel: 3f));

        SpeechCorpus a = SpeechCorpus.Load(quiet);
        SpeechCorpus b = SpeechCorpus.Load(loud);

        Assert.NotEqual(a.HeldOut[0].Mel, b.HeldOut[0].Mel);
        for (int i = 0; i < a.Train.Count; i++)
        {
            Assert.Equal(a.Train[i].Spks, b.Train[i].Spks);
        }
        Assert.Equal(a.HeldOut[0].Spks, b.HeldOut[0].Spks);
    }

    [Fact]
    public void Load_SmallCorpus_SplitsInFileOrder()
    {
        using var folder = new TempFolder();
        string path = folder.File("small.safetensors");
        WriteCorpus(path, SmallCorpus(heldOutLevel: 0f));

        SpeechCorpus corpus = SpeechCorpus.Load(path);

        Assert.Equal(["a0", "a1", "b0"], corpus.Train.Select(u => u.Id));
        Assert.Equal(["a2"], corpus.HeldOut.Select(u => u.Id));
        Assert.Equal(["alice", "bob"], corpus.Speakers);
        Assert.Equal("held out", corpus.HeldOut[0].Text);
        Assert.Equal(5, corpus.HeldOut[0].Frames);
    }

    [Fact]
    public void Load_MissingFile_ThrowsFileNotFound()
    {
        using var folder = new TempFolder();
        string path = folder.File("absent.safetensors");

        var error = Assert.Throws<FileNotFoundException>(() => SpeechCorpus.Load(path));
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void Load_GarbageBytes_ThrowsInvalidData()
    {
        using var folder = new TempFolder();
        string path = folder.File("garbage.safetensors");
        File.WriteAllBytes(path, [.. Enumerable.Range(0, 100).Select(i => (byte)(i * 37))]);

        var error = Assert.Throws<InvalidDataException>(() => SpeechCorpus.Load(path));
        Assert.Contains("not a valid safetensors file", error.Message);
    }

    [Fact]
    public void Load_TruncatedShippedCorpus_ThrowsInvalidData()
    {
        using var folder = new TempFolder();
        string path = folder.File("truncated.safetensors");
        byte[] bytes = File.ReadAllBytes(ShippedCorpusPath);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var error = Assert.Throws<InvalidDataException>(() => SpeechCorpus.Load(path));
        Assert.Contains(path, error.Message);
    }

    [Theory]
    [InlineData("format", "its metadata key 'format'")]
    [InlineData("duplicate id", "appears twice")]
    [InlineData("speaker out of range", "outside the 2 speakers")]
    [InlineData("bad split", "split 'dev'")]
    [InlineData("frames mismatch", "expected [80, 6]")]
    [InlineData("missing tensor", "has no tensor 'mel.a1'")]
    [InlineData("speaker without training", "has no training utterances")]
    [InlineData("non-finite", "non-finite value")]
    [InlineData("bad json", "not valid JSON")]
    [InlineData("missing text", "has no string 'text'")]
    public void Load_CorruptCorpus_ThrowsInvalidDataNamingProblem(string corruption, string expectedMessage)
    {
        using var folder = new TempFolder();
        string path = folder.File("corrupt.safetensors");
        SmallCorpusSpec spec = SmallCorpus(heldOutLevel: 0f);
        spec = corruption switch
        {
            "format" => spec with { Format = "something-else" },
            "duplicate id" => spec with { Entries = [.. spec.Entries, spec.Entries[0]] },
            "speaker out of range" => spec with { Entries = [spec.Entries[0] with { Speaker = 2 }, .. spec.Entries[1..]] },
            "bad split" => spec with { Entries = [spec.Entries[0] with { Split = "dev" }, .. spec.Entries[1..]] },
            "frames mismatch" => spec with { Entries = [spec.Entries[0] with { Frames = 6 }, .. spec.Entries[1..]] },
            "missing tensor" => spec with { SkipTensor = "a1" },
            "speaker without training" => spec with { Entries = [.. spec.Entries.Select(e => e.Speaker == 1 ? e with { Split = "heldout" } : e)] },
            "non-finite" => spec with { Entries = [spec.Entries[0] with { Level = float.NaN }, .. spec.Entries[1..]] },
            "bad json" => spec with { CorpusJsonOverride = "{\"mel_dim\": 80, \"speakers\": [" },
            "missing text" => spec with { Entries = [spec.Entries[0] with { Text = null }, .. spec.Entries[1..]] },
            _ => throw new ArgumentException($"unknown corruption '{corruption}'", nameof(corruption)),
        };
        WriteCorpus(path, spec);

        var error = Assert.Throws<InvalidDataException>(() => SpeechCorpus.Load(path));
        Assert.Contains(expectedMessage, error.Message);
        Assert.Contains(path, error.Message);
    }

    private sealed record EntrySpec(string Id, string? Text, int Speaker, int Frames, string Split, float Level);

    private sealed record SmallCorpusSpec(EntrySpec[] Entries, string Format = SpeechCorpus.FormatName, string? SkipTensor = null, string? CorpusJsonOverride = null);

    // speaker 0 has a0, a1 (train) and a2 (held out); speaker 1 has b0 (train)
    private static SmallCorpusSpec SmallCorpus(float heldOutLevel) => new(
    [
        new EntrySpec("a0", "first", 0, 4, "train", -2f),
        new EntrySpec("a1", "second", 0, 3, "train", -4f),
        new EntrySpec("a2", "held out", 0, 5, "heldout", heldOutLevel),
        new EntrySpec("b0", "third", 1, 6, "train", -6f),
    ]);

    // the log-mel of an entry: a band-dependent slope around its level, so speaker vectors are not flat
    private static float[] MelOf(EntrySpec entry)
    {
        var mel = new float[80 * entry.Frames];
        for (int band = 0; band < 80; band++)
        {
            for (int n = 0; n < entry.Frames; n++)
            {
                mel[band * entry.Frames + n] = entry.Level + 0.05f * band * (entry.Speaker + 1) + 0.1f * n;
            }
        }
        return mel;
    }

    private static void WriteCorpus(string path, SmallCorpusSpec spec)
    {
        var writer = new SafeTensorsWriter();
        var table = new
        {
            mel_dim = 80,
            speakers = new[] { new { name = "alice" }, new { name = "bob" } },
            utterances = spec.Entries.Select(e => new Dictionary<string, object?>
            {
                ["id"] = e.Id,
                ["text"] = e.Text,
                ["speaker"] = e.Speaker,
                ["frames"] = e.Frames,
                ["split"] = e.Split,
            }),
        };
        foreach (EntrySpec entry in spec.Entries.DistinctBy(e => e.Id))
        {
            if (entry.Id != spec.SkipTensor)
            {
                // the tensor keeps the entry's true frame count, so a changed "frames" in the table mismatches it
                EntrySpec original = SmallCorpus(0f).Entries.FirstOrDefault(e => e.Id == entry.Id) ?? entry;
                writer.Add("mel." + entry.Id, new Tensor<float>(MelOf(entry with { Frames = original.Frames }), 80, original.Frames), SafeTensorsDType.F16);
            }
        }
        writer.Write(path, new Dictionary<string, string>
        {
            ["format"] = spec.Format,
            ["corpus"] = spec.CorpusJsonOverride ?? JsonSerializer.Serialize(table),
        });
    }
}
