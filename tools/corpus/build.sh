#!/usr/bin/env bash
# Rebuilds data/corpus.safetensors: renders the sentences with espeak-ng, resamples them with sox,
# then computes log-mel features with DiTNet's MelSpectrogram and writes them as F16.
# Needs espeak-ng and sox (apt-get install -y espeak-ng sox) and the .NET SDK.
# Usage: tools/corpus/build.sh [OUTPUT]   (default: data/corpus.safetensors)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
output="${1:-$root/data/corpus.safetensors}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$here/render.sh" "$work"
mkdir -p "$(dirname "$output")"
dotnet run --project "$here/CorpusBuilder/CorpusBuilder.csproj" -c Release -- "$here/speakers.tsv" "$work" "$output"
