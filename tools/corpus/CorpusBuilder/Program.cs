using System.Globalization;
using System.Text;
using System.Text.Json;
using DiTNet.Audio;
using DiTNet.Data;
using DiTNet.IO;
using DiTNet.Tensors;

namespace DiTNet.Tools.CorpusBuilder;

/// <summary>
/// Builds the speech corpus file from the WAV files and manifest that render.sh writes:
/// log-mel features by <see cref="MelSpectrogram"/>, stored as F16, with speakers, texts and split.
/// </summary>
internal static class Program
{
    // Held out: the utterances whose index within their speaker satisfies
    // (index + HeldOutShift·speaker) mod HeldOutPeriod == HeldOutPeriod − 1, a tenth of each speaker.
    // The shift makes speakers reading the same sentence list hold out different sentences.
    private const int HeldOutPeriod = 10;
    private const int HeldOutShift = 3;

    private static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: CorpusBuilder SPEAKERS_TSV RENDER_DIR OUTPUT_SAFETENSORS");
            Console.Error.WriteLine("  SPEAKERS_TSV  tools/corpus/speakers.tsv");
            Console.Error.WriteLine("  RENDER_DIR    the folder render.sh wrote (manifest.tsv and the WAV files)");
            return 2;
        }
        try
        {
            Build(args[0], args[1], args[2]);
            return 0;
        }
        catch (Exception error) when (error is IOException or InvalidDataException)
        {
            Console.Error.WriteLine($"error: {error.Message}");
            return 1;
        }
    }

    private sealed record Speaker(string Name, string Sentences, string Voice, int Pitch, int Speed);

    private sealed record Item(string Id, int Speaker, int IndexInSpeaker, string Text, string Wav);

    private static void Build(string speakersPath, string renderDir, string outputPath)
    {
        List<Speaker> speakers = ReadTsv(speakersPath, skipHeader: false)
            .Select(f => new Speaker(f[0], f[1], f[2], int.Parse(f[3], CultureInfo.InvariantCulture), int.Parse(f[4], CultureInfo.InvariantCulture)))
            .ToList();
        var speakerIndex = speakers.Select((s, i) => (s.Name, i)).ToDictionary(p => p.Name, p => p.i);

        var perSpeaker = new int[speakers.Count];
        var items = new List<Item>();
        foreach (string[] fields in ReadTsv(Path.Combine(renderDir, "manifest.tsv"), skipHeader: true))
        {
            if (!speakerIndex.TryGetValue(fields[1], out int speaker))
            {
                throw new InvalidDataException($"manifest: utterance '{fields[0]}' names unknown speaker '{fields[1]}'.");
            }
            items.Add(new Item(fields[0], speaker, perSpeaker[speaker]++, fields[2], Path.Combine(renderDir, fields[3])));
        }

        // features, in parallel; each item writes only its own slot
        var frontEnd = new MelSpectrogram();
        var mels = new float[items.Count][];
        var seconds = new double[items.Count];
        Parallel.For(0, items.Count, i =>
        {
            float[] audio = WavReader.ReadMono16(items[i].Wav, MelSpectrogram.SampleRate);
            seconds[i] = (double)audio.Length / MelSpectrogram.SampleRate;
            mels[i] = frontEnd.Compute(audio);
        });

        // tensors and the metadata table
        var writer = new SafeTensorsWriter();
        var json = new MemoryStream();
        using (var table = new Utf8JsonWriter(json))
        {
            table.WriteStartObject();
            table.WriteNumber("mel_dim", MelSpectrogram.MelBands);
            table.WriteNumber("sample_rate", MelSpectrogram.SampleRate);
            table.WriteNumber("hop_length", MelSpectrogram.HopLength);
            table.WriteStartArray("speakers");
            foreach (Speaker speaker in speakers)
            {
                table.WriteStartObject();
                table.WriteString("name", speaker.Name);
                table.WriteString("language", speaker.Sentences);
                table.WriteString("espeak_voice", speaker.Voice);
                table.WriteNumber("espeak_pitch", speaker.Pitch);
                table.WriteNumber("espeak_speed", speaker.Speed);
                table.WriteEndObject();
            }
            table.WriteEndArray();
            table.WriteStartArray("utterances");
            for (int i = 0; i < items.Count; i++)
            {
                Item item = items[i];
                int frames = mels[i].Length / MelSpectrogram.MelBands;
                bool heldOut = (item.IndexInSpeaker + HeldOutShift * item.Speaker) % HeldOutPeriod == HeldOutPeriod - 1;
                table.WriteStartObject();
                table.WriteString("id", item.Id);
                table.WriteString("text", item.Text);
                table.WriteNumber("speaker", item.Speaker);
                table.WriteNumber("frames", frames);
                table.WriteString("split", heldOut ? SpeechCorpus.HeldOutSplit : SpeechCorpus.TrainSplit);
                table.WriteEndObject();
                writer.Add("mel." + item.Id, new Tensor<float>(mels[i], MelSpectrogram.MelBands, frames), SafeTensorsDType.F16);
            }
            table.WriteEndArray();
            table.WriteEndObject();
        }

        var metadata = new Dictionary<string, string>
        {
            ["format"] = SpeechCorpus.FormatName,
            ["corpus"] = Encoding.UTF8.GetString(json.ToArray()),
            ["features"] = "log-mel: ln(max(Slaney mel energy, 1e-5)) of the magnitude spectrum; 24 kHz, FFT 1920, hop 480, "
                + "periodic Hann 1920, 80 bands 0-12000 Hz, reflect padding 720, no centring (CosyVoice 3)",
            ["source"] = "espeak-ng speech of sentences written for DiTNet, released under CC0 1.0; built by tools/corpus/build.sh",
        };
        writer.Write(outputPath, metadata);

        // summary
        SpeechCorpus corpus = SpeechCorpus.Load(outputPath);
        Console.WriteLine($"wrote {outputPath}: {new FileInfo(outputPath).Length} bytes, {speakers.Count} speakers");
        Summarize("train", corpus.Train);
        Summarize("heldout", corpus.HeldOut);
        Console.WriteLine($"seconds per utterance: min {seconds.Min():F2}, mean {seconds.Average():F2}, max {seconds.Max():F2}");
    }

    private static void Summarize(string split, IReadOnlyList<Utterance> utterances)
    {
        var bySpeaker = utterances.GroupBy(u => u.Speaker).OrderBy(g => g.Key).Select(g => $"{g.Key}:{g.Count()}");
        Console.WriteLine($"{split}: {utterances.Count} utterances, {utterances.Sum(u => u.Frames)} frames; per speaker {string.Join(' ', bySpeaker)}");
    }

    private static IEnumerable<string[]> ReadTsv(string path, bool skipHeader)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path} was not found.", path);
        }
        IEnumerable<string> lines = File.ReadLines(path).Where(line => line.Length > 0 && !line.StartsWith('#'));
        return (skipHeader ? lines.Skip(1) : lines).Select(line => line.Split('\t'));
    }
}
