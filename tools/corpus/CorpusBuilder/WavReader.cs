using System.Buffers.Binary;

namespace DiTNet.Tools.CorpusBuilder;

/// <summary>Reads mono 16-bit PCM WAV files, the format render.sh writes.</summary>
internal static class WavReader
{
    /// <summary>Reads the samples of a mono 16-bit PCM WAV file, scaled to [−1, 1).</summary>
    /// <exception cref="InvalidDataException">The file is not RIFF/WAVE, not mono 16-bit PCM, or not at the expected rate.</exception>
    public static float[] ReadMono16(string path, int expectedRate)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 12 || !bytes.AsSpan(0, 4).SequenceEqual("RIFF"u8) || !bytes.AsSpan(8, 4).SequenceEqual("WAVE"u8))
        {
            throw new InvalidDataException($"{path}: not a RIFF/WAVE file.");
        }

        // walk the chunks: 4-byte id, 4-byte little-endian size, payload padded to an even size
        int channels = 0, rate = 0, bits = 0, format = 0;
        int position = 12;
        while (position + 8 <= bytes.Length)
        {
            ReadOnlySpan<byte> id = bytes.AsSpan(position, 4);
            int size = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(position + 4, 4));
            int payload = position + 8;
            if (size < 0 || payload + size > bytes.Length)
            {
                throw new InvalidDataException($"{path}: chunk at byte {position} runs past the end of the file.");
            }
            if (id.SequenceEqual("fmt "u8))
            {
                format = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(payload, 2));
                channels = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(payload + 2, 2));
                rate = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(payload + 4, 4));
                bits = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(payload + 14, 2));
            }
            else if (id.SequenceEqual("data"u8))
            {
                // 1 is PCM; 0xFFFE (extensible) is what sox writes for some outputs
                if ((format != 1 && format != 0xFFFE) || channels != 1 || bits != 16 || rate != expectedRate)
                {
                    throw new InvalidDataException(
                        $"{path}: format {format}, {channels} channel(s), {bits} bits, {rate} Hz; expected mono 16-bit PCM at {expectedRate} Hz.");
                }
                var samples = new float[size / 2];
                for (int i = 0; i < samples.Length; i++)
                {
                    samples[i] = BinaryPrimitives.ReadInt16LittleEndian(bytes.AsSpan(payload + 2 * i, 2)) / 32768f;
                }
                return samples;
            }
            position = payload + size + (size & 1);
        }
        throw new InvalidDataException($"{path}: no data chunk.");
    }
}
