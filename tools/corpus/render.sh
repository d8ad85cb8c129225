#!/usr/bin/env bash
# Renders every speaker's sentences with espeak-ng and resamples them to 24 kHz mono 16-bit WAV.
# Usage: render.sh OUTPUT_DIR   (writes OUTPUT_DIR/*.wav and OUTPUT_DIR/manifest.tsv)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: render.sh OUTPUT_DIR}"
for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found; install it with: apt-get install -y espeak-ng sox" >&2; exit 1; }
done
mkdir -p "$out"
manifest="$out/manifest.tsv"
printf 'id\tspeaker\ttext\twav\n' > "$manifest"

grep -v '^#' "$here/speakers.tsv" | while IFS=$'\t' read -r speaker sentences voice pitch speed; do
    index=0
    while IFS= read -r text; do
        [ -z "$text" ] && continue
        id=$(printf '%s_%03d' "$speaker" "$index")
        raw="$out/$id.raw.wav"
        wav="$out/$id.wav"
        espeak-ng -v "$voice" -p "$pitch" -s "$speed" -w "$raw" "$text"
        # trim leading and trailing silence, keep 100 ms of it, peak-normalise to -3 dBFS, resample;
        # -R seeds the dither so that rebuilding gives the same file
        sox -R "$raw" -c 1 -b 16 "$wav" \
            silence 1 0.02 0.3% reverse silence 1 0.02 0.3% reverse \
            pad 0.1 0.1 gain -n -3 rate -v 24000
        rm -f "$raw"
        printf '%s\t%s\t%s\t%s\n' "$id" "$speaker" "$text" "$id.wav" >> "$manifest"
        index=$((index + 1))
    done < "$here/sentences/$sentences.txt"
done
