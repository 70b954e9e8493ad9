"""Run the benchmarks one after another and render BENCHMARKS.md.

    python -m benchmarks.run --data-dir ../shared/data [--quick] [--only a,b] [--skip a,b]

Each benchmark runs in its own Python process (`python -m benchmarks.<name>`), writes
`benchmarks/results/<name>.json` (with --quick: a scratch directory, and BENCHMARKS.md is left
alone), and the generated section of BENCHMARKS.md is rebuilt from every result file present.
`--wait-idle S` waits up to S seconds before each benchmark for the 1-minute load average to
drop below `--max-load` (the CPU is shared; the load is recorded either way).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from benchmarks.common import ROOT, data_dir, load

BENCHMARKS = {
    "throughput": "trainer images/s: tune-bench's path vs a notebook-style loop (CPU)",
    "svm_backends": "SVM fit / predict / accuracy, stock scikit-learn vs oneDAL",
    "sweep_efficiency": "q1b_svm.yaml on 2,000 images: sweep vs plain loop; per-trial overhead",
    "scale": "8 / 32 / 128 trivial trials; tune-bench analyze on 10,000 trials",
    "q1b_full": "the full q1b_svm.yaml sweep on the real data (default backend)",
    "accuracy": "issue 3's accuracy checks (ResNet-18 MNIST, SVC rbf FashionMNIST)",
    "gpu": "GPU throughput, trial packing, full q1a_resnet.yaml (skipped without CUDA)",
    "cluster_storage": "S3 on a two-host cluster vs local storage on one node (needs root)",
}
EXTRA = {"q1b_sklearn": ("q1b_full", ["--backend", "sklearn"],
                         "the full q1b_svm.yaml sweep with stock scikit-learn (30-50 min here)"),
         "q1b_onedal_predict": ("q1b_full", ["--predict", "backend"],
                                "the full q1b_svm.yaml sweep, oneDAL with its own predict"),
         "q1b_cpu2": ("q1b_full", ["--cpus-per-trial", "2"],
                      "the full q1b_svm.yaml sweep, default backend, 2 CPUs per trial")}


def wait_idle(max_load: float, timeout: float) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        lo = load()
        if not lo or lo[0] < max_load:
            return
        print(f"[run] load {lo}: waiting for < {max_load} ...", flush=True)
        time.sleep(15)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split(
        "\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="benchmarks:\n" + "\n".join(f"  {k:18s} {v}" for k, v in
                                            {**BENCHMARKS, **{k: v[2] for k, v in
                                                              EXTRA.items()}}.items()))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--quick", action="store_true", help="tiny sizes: check that all runs")
    p.add_argument("--only", default=None, help="comma list of benchmarks (also: q1b_sklearn)")
    p.add_argument("--skip", default="", help="comma list of benchmarks to leave out")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="S")
    p.add_argument("--max-load", type=float, default=1.5)
    p.add_argument("--render-only", action="store_true",
                   help="only rebuild BENCHMARKS.md from benchmarks/results/*.json")
    args = p.parse_args(argv)
    failed = [] if args.render_only else run_all(p, args)
    if args.quick:
        return 1 if failed else 0
    from benchmarks import render

    render.write()
    return 1 if failed else 0


def run_all(p: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """Run the chosen benchmarks one at a time; returns those that failed."""
    root = data_dir(args.data_dir)
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    skip = set(filter(None, args.skip.split(",")))
    unknown = [n for n in names + list(skip) if n not in BENCHMARKS and n not in EXTRA]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}")
    failed = []
    for name in [n for n in names if n not in skip]:
        module, extra = (EXTRA[name][0], EXTRA[name][1]) if name in EXTRA else (name, [])
        if args.wait_idle:
            wait_idle(args.max_load, args.wait_idle)
        cmd = [sys.executable, "-m", f"benchmarks.{module}", "--data-dir", root, *extra]
        cmd += ["--quick"] if args.quick else []
        print(f"[run] {' '.join(cmd)}", flush=True)
        t0 = time.time()
        rc = subprocess.call(cmd, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        print(f"[run] {name}: exit {rc} after {time.time() - t0:.0f} s", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"[run] failed: {', '.join(failed)}")
    return failed

if __name__ == "__main__":
    sys.exit(main())
