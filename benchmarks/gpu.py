"""GPU benchmarks (skipped, with a message, where CUDA is absent).

On a lent device machine (15 minutes, 64 MiB carried a call, no Ray installed), run the
prepared, time-bounded `benchmarks/device/check.sh` instead (benchmarks/README.md): it reuses
`packing_spec` and the throughput functions, and extrapolates Q1a from a slice.

1. Throughput on the GPU: `benchmarks.throughput --device gpu --compile --compile-mode
   reduce-overhead` (tune-bench's path, AMP on, plus the step compiled into CUDA graphs,
   vs the notebook-style loop on the same GPU). Target: ResNet-18 batch 16 >= 5x.
2. Packing: 1, 2, 4 and 8 identical ResNet-18 trials (batch 16, tensor loader, MNIST) in one
   sweep with fractional GPUs (1/k GPU and cores/k CPUs each) on one GPU: aggregate images/s
   (sum over the concurrent trials of each trial's images/s, and all images / fit wall), and
   the ratio to one trial alone.
3. `tune-bench sweep search_spaces/q1a_resnet.yaml` in full (128 trials), wall time.
   Target: <= 20 minutes on one H100.
"""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.common import ROOT, SCRATCH, Result, data_dir, parser, ratio, timed
from benchmarks.sweep_tools import read_results, unique_name

NAME = "gpu"
PACKS = [1, 2, 4, 8]
Q1A_TARGET_S = 20 * 60


def packing_spec(k: int, n_train: int, cores: int, device: str = "gpu", n_eval: int = 1000):
    """k identical ResNet-18 trials, 1/k GPU and cores/k CPUs each (on the CPU, for a dry run
    of the orchestration: cores/k CPUs each)."""
    from tune_bench.space import parse_space

    return parse_space({
        "name": f"pack_{k}", "metric": "test_acc", "mode": "max",
        "fixed": {"trainer": "resnet", "model": "resnet18", "dataset": "mnist",
                  "batch_size": 16, "optimizer": "adam", "lr": 0.001, "epochs": 1,
                  "n_train": n_train, "n_eval": n_eval, "device": device, "loader": "tensor"},
        "axes": {"seed": list(range(k))},
        "resources": {"gpu": {"cpu": max(1, cores // k), "gpu": round(1 / k, 4)},
                      "cpu": {"cpu": max(1, cores // k)}},
    }, f"<gpu packing benchmark, {k} trial(s)>")


def packing(res: Result, root: str, quick: bool) -> None:
    from tune_bench import sweep as sw

    cores = os.cpu_count() or 1
    n_train = 2000 if quick else 20000
    alone = None
    for k in ([1, 2] if quick else PACKS):
        opts = sw.SweepOptions(storage_path=str(SCRATCH / "ray_results"),
                               name=unique_name(f"pack{k}"), data_dir=root, progress=False)
        e2e, out = timed(lambda k=k, opts=opts: sw.run_sweep(packing_spec(k, n_train, cores),
                                                              opts))
        rows = read_results(out.path)
        ips = [r["_last"].get("images_per_s", 0.0) for r in rows.values()]
        agg = sum(ips)
        alone = agg if k == 1 else alone
        res.row(part="packing", trials=k, gpu_per_trial=round(1 / k, 4),
                cpu_per_trial=max(1, cores // k), sum_images_per_s=round(agg, 1),
                images_per_s_by_wall=round(k * n_train / out.wall_s, 1),
                fit_wall_s=round(out.wall_s, 1), call_wall_s=round(e2e, 1), ok=out.ok,
                vs_one_trial=round(ratio(agg, alone), 2) if alone else None)


def q1a(res: Result, root: str, quick: bool) -> None:
    name = unique_name("q1a_resnet")
    cmd = ["tune-bench", "sweep", "search_spaces/q1a_resnet.yaml", "--data-dir", root,
           "--storage-path", str(SCRATCH / "ray_results"), "--name", name, "--no-progress"]
    if quick:
        cmd += ["--set", "n_train=500", "--set", "n_eval=200", "--set", "epochs=1"]
    print(f"[{NAME}] {' '.join(cmd)}", flush=True)
    wall, proc = timed(lambda: subprocess.run([sys.executable, "-m", "tune_bench.cli", *cmd[1:]],
                                              cwd=ROOT, capture_output=True, text=True))
    (SCRATCH / f"{name}.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    res.row(part="q1a_full", command=" ".join(cmd), exit_code=proc.returncode,
            wall_s=round(wall, 1), target_s=Q1A_TARGET_S, met=wall <= Q1A_TARGET_S)


def main(argv: list[str] | None = None) -> None:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-packing", action="store_true")
    p.add_argument("--skip-q1a", action="store_true")
    args = p.parse_args(argv)
    root = data_dir(args.data_dir)
    import torch

    res = Result(NAME, args, {"packs": PACKS})
    if not torch.cuda.is_available():
        msg = "skipped: CUDA is not available on this machine (no GPU), nothing was measured"
        print(f"[{NAME}] {msg}")
        res.summary(skipped=True, reason=msg)
        res.save()
        return
    if not args.skip_throughput:
        from benchmarks import throughput

        throughput.main(["--device", "gpu", "--data-dir", root, "--compile",
                         "--compile-mode", "reduce-overhead"]
                        + (["--quick"] if args.quick else [])
                        + (["--out", args.out] if args.out else []))
    if not args.skip_packing:
        packing(res, root, args.quick)
    if not args.skip_q1a:
        q1a(res, root, args.quick)
    res.save()


if __name__ == "__main__":
    main()
