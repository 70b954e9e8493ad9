"""Scale: sweep wall time for 8, 32 and 128 trivially short trials; analysis of 10,000 trials.

Sweeps: `sweep.run_sweep` with a trainable that reports at once (benchmarks/sweep_tools.py,
`trivial_trial`), the same data handed over as in a real SVM sweep (MNIST split via
`tune.with_parameters`), 1 CPU per trial (2 slots on 2 cores). One Ray session serves the
three sizes (its start-up is timed once, separately), so the per-trial cost is Tune's own:
fit wall / trials, and the marginal cost between sizes. Flat = the cost per trial at 128 is no
more than at 8.

Analysis: an experiment of 10,000 trials written in Tune 2.60's layout by the project's test
writer (tests/tune_layout.py): 6,000 ResNet trials (2 or 5 epoch rows, the final one with the
confusion matrix and per-class accuracy) and 4,000 SVM trials, 1% errored; then
`tune-bench analyze <dir>` timed end to end as a subprocess (3 runs, median), with its import
time and the in-process load / tables split out.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from typing import Any

from benchmarks.common import ROOT, SCRATCH, Result, data_dir, median, parser, ratio, timed
from benchmarks.sweep_tools import LOG_ENV, overheads, read_log, read_results, unique_name

NAME = "scale"
SIZES = [8, 32, 128]
N_ANALYZE = 10_000
ANALYZE_TARGET_S = 5.0


def trivial_spec(n: int):
    from tune_bench.space import parse_space

    return parse_space({
        "name": f"scale_{n}", "metric": "test_acc", "mode": "max",
        "fixed": {"trainer": "svm", "dataset": "mnist", "n_train": 100, "device": "cpu",
                  "split": "seeds"},
        "axes": {"C": [float(i + 1) for i in range(n)]},
        "resources": {"cpu": {"cpu": 1}},
    }, f"<scale benchmark, {n} trivial trials>")


def sweeps(res: Result, root: str, sizes: list[int]) -> None:
    import ray

    from benchmarks.sweep_tools import trivial_trial
    from tune_bench import sweep as sw

    storage = SCRATCH / "ray_results"
    log = SCRATCH / f"{unique_name('trivial')}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    os.environ[LOG_ENV] = str(log)  # before Ray starts: its workers inherit the environment
    init_s, _ = timed(lambda: sw.start_ray(sw.SweepOptions()))
    res.row(part="ray_init", wall_s=round(init_s, 2))
    walls = {}
    try:
        for n in sizes:
            opts = sw.SweepOptions(storage_path=str(storage), name=unique_name(f"scale{n}"),
                                   data_dir=root, progress=False)
            e2e, out = timed(lambda opts=opts, n=n: sw.run_sweep(trivial_spec(n), opts,
                                                                  trainable_fn=trivial_trial))
            ov = overheads(read_log(log, out.path.name), read_results(out.path))
            walls[n] = out.wall_s
            res.row(part="sweep", trials=n, fit_wall_s=round(out.wall_s, 2),
                    call_wall_s=round(e2e, 2), per_trial_s=round(out.wall_s / n, 3),
                    ok=out.ok, gap_median_s=ov["gap_between_trials_on_a_slot_s"].get("median"),
                    end_to_next_step_median_s=ov["previous_trial_end_to_first_step_s"].get(
                        "median"))
            shutil.rmtree(out.path, ignore_errors=True)
    finally:
        ray.shutdown()
    lo, hi = min(walls), max(walls)
    mids = sorted(walls)
    marginal = [round(ratio(walls[b] - walls[a], b - a), 3) for a, b in zip(mids, mids[1:],
                                                                             strict=False)]
    res.summary(per_trial_s={str(n): round(walls[n] / n, 3) for n in sorted(walls)},
                marginal_per_trial_s=marginal,
                per_trial_ratio_largest_vs_smallest=round(ratio(walls[hi] / hi, walls[lo] / lo),
                                                          3),
                flat=walls[hi] / hi <= walls[lo] / lo * 1.1)


# --------------------------------------------------------------------------- analysis


def _resnet_rows(cfg: dict, rng: random.Random) -> list[dict[str, Any]]:
    prov = {"device_name": "AMD EPYC" if cfg["device"] == "cpu" else "NVIDIA H100",
            "hostname": "vm", "node_id": "n0", "resources": {"cpu": 2, "gpu": 0.25},
            "torch_threads": 2, "versions": {"python": "3.11.7", "torch": "2.14.1"},
            "split": "seeds", "n_train_used": 42000, "loader": "tensor", "seed": cfg["seed"],
            "trial_name": "t"}
    rows, acc, ms = [], 0.8, 0.0
    for e in range(cfg["epochs"]):
        acc = min(0.995, acc + rng.uniform(0.0, 0.08))
        ms += rng.uniform(20_000, 60_000)
        rows.append({"epoch": e + 1, "train_loss": 1 - acc, "train_acc": acc,
                     "val_loss": 1.1 - acc, "val_acc": acc - 0.01, "epoch_time_s": ms / 1000,
                     "images_per_s": rng.uniform(500, 5000), "train_time_ms": ms, **prov})
    cm = [[0] * 10 for _ in range(10)]
    for i in range(10):
        cm[i][i] = 1100
        cm[i][(i + 1) % 10] = rng.randint(0, 50)
    rows[-1].update({"test_acc": acc - 0.005, "test_loss": 1.1 - acc,
                     "per_class_acc": [round(rng.uniform(0.9, 1), 4) for _ in range(10)],
                     "confusion_matrix": cm, "macs": 37_000_000, "flops": 74_000_000,
                     "params": 11_181_642, "peak_mem_mb": 900.0, "final": True})
    return rows


def _svm_rows(cfg: dict, rng: random.Random) -> list[dict[str, Any]]:
    return [{"test_acc": rng.uniform(0.8, 0.98), "train_acc": rng.uniform(0.9, 1.0),
             "train_time_ms": rng.uniform(1000, 8000), "predict_time_ms": rng.uniform(500, 4000),
             "n_support": rng.randint(2000, 6000), "svm_backend": "onedal", "svm_threads": 1,
             "device_name": "AMD EPYC", "versions": {"python": "3.11.7"}, "split": "seeds",
             "n_train_used": 10000, "n_test_used": 12000, "seed": cfg["seed"],
             "hostname": "vm", "final": True, "resources": {"cpu": 1}}]


def synthetic_trials(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` trials shaped like q1a/q2 ResNet trials (60%) and q1b SVM trials (40%)."""
    rng = random.Random(seed)
    resnet_grid = [dict(model=m, dataset=d, batch_size=b, optimizer=o, lr=lr, epochs=e, device=dv)
                   for m in ("resnet18", "resnet34", "resnet50") for d in ("mnist", "fashion_mnist")
                   for b in (16, 32) for o in ("sgd", "adam") for lr in (0.001, 0.0001)
                   for e in (2, 5) for dv in ("cpu", "gpu")]
    svm_grid = ([dict(kernel="poly", degree=g, C=c) for g in (2, 3, 4) for c in (0.1, 1.0, 10.0)]
                + [dict(kernel="rbf", C=c, gamma=g) for c in (0.1, 1.0, 10.0, 100.0)
                   for g in ("scale", 0.001, 0.01)])
    trials = []
    for i in range(n):
        if i % 5 < 3:
            base = resnet_grid[i % len(resnet_grid)]
            cfg = {"trainer": "resnet", **base, "seed": i // len(resnet_grid), "split": "seeds",
                   "n_train": None, "loader": "tensor"}
            rows = _resnet_rows(cfg, rng)
        else:
            base = svm_grid[i % len(svm_grid)]
            cfg = {"trainer": "svm", "dataset": ("mnist", "fashion_mnist")[i % 2], **base,
                   "seed": i // len(svm_grid), "split": "seeds", "n_train": 10000,
                   "device": "cpu"}
            rows = _svm_rows(cfg, rng)
        # shaped like tune-bench's trial configs: the grid point under `variant`
        nested = {"variant": {k: v for k, v in cfg.items() if k != "seed"}, "seed": cfg["seed"]}
        t: dict[str, Any] = {"config": nested, "results": rows}
        if i % 100 == 99:
            t = {"config": nested, "results": rows[:1], "state": "ERROR",
                 "error": "RuntimeError: CUDA out of memory"}
        trials.append(t)
    return trials


def analyze(res: Result, n: int, runs: int) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from tests.tune_layout import write_experiment
    except ImportError as e:
        res.note(f"analysis part skipped: tests/tune_layout.py not importable ({e})")
        return
    base = SCRATCH / "analyze"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    gen_s, exp = timed(lambda: write_experiment(base, f"synthetic_{n}", synthetic_trials(n)))
    res.row(part="analyze_generate", trials=n, wall_s=round(gen_s, 1), path=str(exp))
    cli = [sys.executable, "-m", "tune_bench.cli", "analyze", str(exp)]
    imp = [sys.executable, "-c", "import tune_bench.cli, tune_bench.report, tune_bench.analysis"]
    walls, imports = [], []
    for _ in range(runs):
        t, p = timed(lambda: subprocess.run(cli, capture_output=True, text=True, cwd=ROOT))
        if p.returncode != 0:
            res.note(f"tune-bench analyze exited {p.returncode}: {p.stderr.strip()[-500:]}")
            return
        walls.append(t)
        t, _ = timed(lambda: subprocess.run(imp, capture_output=True, cwd=ROOT))
        imports.append(t)
    out_head = p.stdout[:600]
    from tune_bench import analysis as an
    from tune_bench.analysis import findings as fi

    load_s, df = timed(lambda: an.load_experiments([exp]))
    # the findings section's own cost: statsmodels/scipy/optuna imports, every block's
    # inference (cached for the effects / anova / importance tables) and the sentences
    findings_s, _ = timed(lambda: fi.findings(df))
    tables_s, _ = timed(lambda: an.all_tables(df))
    res.row(part="analyze", trials=n, command="tune-bench analyze " + str(exp),
            wall_s=round(median(walls), 2), per_run=[round(w, 2) for w in walls],
            python_import_s=round(median(imports), 2), load_s=round(load_s, 2),
            findings_s=round(findings_s, 2), tables_s=round(tables_s, 2), rows_loaded=len(df))
    res.data["analyze_output_head"] = out_head
    res.summary(analyze_s=round(median(walls), 2), analyze_target_s=ANALYZE_TARGET_S,
                analyze_met=median(walls) <= ANALYZE_TARGET_S)
    shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--skip-sweeps", action="store_true")
    p.add_argument("--skip-analyze", action="store_true")
    args = p.parse_args(argv)
    root = data_dir(args.data_dir)
    sizes = [2, 4] if args.quick else SIZES
    n = 300 if args.quick else N_ANALYZE
    # an analyze-only run keeps its own result file: it does not replace the sweep rows
    name = f"{NAME}_analyze" if args.skip_sweeps and not args.skip_analyze else NAME
    res = Result(name, args, {"sizes": sizes, "analyze_trials": n, "cpu_per_trial": 1,
                              "cores": os.cpu_count()})
    if not args.skip_sweeps:
        sweeps(res, root, sizes)
    if not args.skip_analyze:
        analyze(res, n, 1 if args.quick else 3)
    res.save()


if __name__ == "__main__":
    main()
