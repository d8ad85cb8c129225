#!/usr/bin/python3
"""OpenBLAS sgemm (through torch.matmul) timed by process CPU time instead of the wall clock.

On a machine shared with other jobs the wall clock charges a product for the time other processes
held the cores. CPU time charges only the time it ran, plus its threads' spinning, so the per-core
efficiency of two libraries stays comparable under load. Prints the same JSON lines as the
DiTNet bench's `gemm --clock cpu`.

    /usr/bin/python3 benchmarks/openblas_cpu.py --threads 1
"""
import argparse
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

SHAPES = [(n, n, n) for n in (256, 512, 1024, 2048)] + [(1000, 1024, 1024), (1000, 1024, 2048), (1000, 2048, 1024)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for m, k, n in SHAPES:
        a, b = torch.rand(m, k) - 0.5, torch.rand(k, n) - 0.5
        for _ in range(3):
            a @ b
        times = []
        for _ in range(args.repeats):
            start = time.process_time()
            a @ b
            times.append(time.process_time() - start)
        seconds = sorted(times)[len(times) // 2]
        print(json.dumps({"m": m, "k": k, "n": n, "threads": args.threads, "gflops": round(2 * m * k * n / seconds / 1e9, 1)}))


if __name__ == "__main__":
    main()
