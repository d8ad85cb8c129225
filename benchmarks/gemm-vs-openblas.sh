#!/usr/bin/env bash
# Measures DiTNet's GEMM and OpenBLAS (through PyTorch) on the same shapes, alternating the two
# ROUNDS times so both see the same machine load, and prints a markdown table of the medians.
#
#   benchmarks/gemm-vs-openblas.sh [THREADS=2] [ROUNDS=3] [CLOCK=wall]
#
# CLOCK=cpu times both by process CPU time (DiTNet's `gemm --clock cpu`, and openblas_cpu.py beside
# this script for the peer): on a machine shared with other jobs that measures each library's
# efficiency per core second, which the wall clock cannot while other processes take the cores.
#
# Needs the peer's packages once: apt-get install -y python3-torch python3-numpy libopenblas0-pthread
set -euo pipefail

threads=${1:-2}
rounds=${2:-3}
clock=${3:-wall}
root=$(cd "$(dirname "$0")/.." && pwd)
peer=${PEER:-$root/../shared/peer/torch_dit.py}
[ -f "$peer" ] || peer=/work/shared/peer/torch_dit.py
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

dotnet build -c Release "$root/benchmarks/DiTNet.Benchmarks" >/dev/null
bench="$root/benchmarks/DiTNet.Benchmarks/bin/Release/net10.0/DiTNet.Benchmarks.dll"

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$rounds"); do
    dotnet "$bench" gemm --threads "$threads" --clock "$clock" >>"$out/ditnet.jsonl"
    if [ "$clock" = cpu ]; then
        /usr/bin/python3 "$root/benchmarks/openblas_cpu.py" --threads "$threads" >>"$out/openblas.jsonl"
    else
        /usr/bin/python3 "$peer" gemm --threads "$threads" >>"$out/openblas.jsonl"
    fi
    echo "round $round done, load $(cut -d' ' -f1 /proc/loadavg)" >&2
done

python3 - "$out/ditnet.jsonl" "$out/openblas.jsonl" "$threads" "$rounds" "$clock" <<'PY'
import json, statistics, sys
def medians(path):
    runs = {}
    for line in open(path):
        d = json.loads(line)
        runs.setdefault((d["m"], d["k"], d["n"]), []).append(d["gflops"])
    return {shape: (statistics.median(v), min(v), max(v)) for shape, v in runs.items()}
ours, peer = medians(sys.argv[1]), medians(sys.argv[2])
clock = "process CPU time" if sys.argv[5] == "cpu" else "wall clock"
print(f"GFLOP/s by {clock}, float A·B, {sys.argv[3]} threads, median (min-max) of {sys.argv[4]} alternating rounds,")
print("each round itself the median of 10 timed runs after warm-up.\n")
print("| m × k × n | DiTNet | OpenBLAS | ratio |")
print("|---|---|---|---|")
for shape in ours:
    o, p = ours[shape], peer.get(shape, (float("nan"),) * 3)
    print(f"| {shape[0]} × {shape[1]} × {shape[2]} | {o[0]:.0f} ({o[1]:.0f}-{o[2]:.0f}) "
          f"| {p[0]:.0f} ({p[1]:.0f}-{p[2]:.0f}) | {o[0] / p[0]:.2f} |")
PY
