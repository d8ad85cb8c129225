#!/usr/bin/env bash
# Times the whole DiT (an inference forward pass and a training step) in DiTNet and in PyTorch on
# the peer's shapes S, M and L, plus L with the streaming mask. The two programs alternate ROUNDS
# times so that both see the same machine load. Prints a markdown table of the medians.
#
#   benchmarks/model-vs-pytorch.sh [THREADS=2] [ROUNDS=3] [REPEATS=5]
#
# Each run prints the median of REPEATS timed calls after one warm-up call; the table shows the
# median over the rounds. The load average is printed before and after, since other processes on
# the machine slow both sides.
#
# Needs the peer's packages once: apt-get install -y python3-torch python3-numpy libopenblas0-pthread
set -euo pipefail

threads=${1:-2}
rounds=${2:-3}
repeats=${3:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
peer=${PEER:-$root/../shared/peer/torch_dit.py}
[ -f "$peer" ] || peer=/work/shared/peer/torch_dit.py
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

dotnet build -c Release "$root/benchmarks/DiTNet.Benchmarks" >/dev/null
bench="$root/benchmarks/DiTNet.Benchmarks/bin/Release/net10.0/DiTNet.Benchmarks.dll"

cases=("S" "M" "L" "L --streaming")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load before: $load_before" >&2
for round in $(seq "$rounds"); do
    for case in "${cases[@]}"; do
        # shellcheck disable=SC2086 # the case holds the shape and an optional flag
        dotnet "$bench" model --shape $case --threads "$threads" --repeats "$repeats" >>"$out/ditnet.jsonl"
        # shellcheck disable=SC2086
        /usr/bin/python3 "$peer" bench --shape $case --threads "$threads" --repeats "$repeats" >>"$out/torch.jsonl"
    done
    echo "round $round done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$out/ditnet.jsonl" "$out/torch.jsonl" "$threads" "$rounds" "$repeats" "$load_before" "$load_after" <<'PY'
import json, statistics, sys
def medians(path):
    runs = {}
    for line in open(path):
        d = json.loads(line)
        key = d["shape"] + (" streaming" if d["streaming"] else "")
        for field in ("forward_s", "train_step_s", "peak_rss_mib"):
            runs.setdefault(key, {}).setdefault(field, []).append(d[field])
    return {key: {f: statistics.median(v) for f, v in fields.items()} for key, fields in runs.items()}
ours, peer = medians(sys.argv[1]), medians(sys.argv[2])
print(f"Seconds, {sys.argv[3]} threads, median of {sys.argv[4]} alternating rounds, each the median of "
      f"{sys.argv[5]} timed runs after a warm-up. Load average (1, 5, 15 min) before: {sys.argv[6]}, after: {sys.argv[7]}.\n")
print("| shape | DiTNet forward | PyTorch forward | ratio | DiTNet train step | PyTorch train step | ratio | peak RSS MiB DiTNet / PyTorch |")
print("|---|---|---|---|---|---|---|---|")
for key in ours:
    o, p = ours[key], peer[key]
    print(f"| {key} | {o['forward_s']:.3f} | {p['forward_s']:.3f} | {p['forward_s'] / o['forward_s']:.2f}× "
          f"| {o['train_step_s']:.3f} | {p['train_step_s']:.3f} | {p['train_step_s'] / o['train_step_s']:.2f}× "
          f"| {o['peak_rss_mib']:.0f} / {p['peak_rss_mib']:.0f} |")
print("\nratio = PyTorch seconds / DiTNet seconds: above 1 means DiTNet is faster.")
PY
