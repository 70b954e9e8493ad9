"""Sweep efficiency: q1b_svm.yaml on a subset through tune-bench's sweep vs a plain loop.

The 42 trials of `search_spaces/q1b_svm.yaml` with `n_train` overridden (default 2,000; the
test set stays the split's 12,000 images) run three ways in one process, in this order:

1. a plain sequential loop of `train.train_svm`, one thread per trial (what one sweep slot
   gets): the sum of these trial times is the work;
2. `sweep.run_sweep` (Ray Tune, 1 CPU per trial, so 2 concurrent slots on 2 cores), timed end
   to end (Ray start, data hand-off, fit, shutdown) and as Tune's `fit()` alone;
3. a plain sequential loop with the libraries' default threads (all cores): the baseline a
   notebook user gets.

4. the machine's own ceiling for 2 slots: one trial's work (the grid's first point, 1 thread,
   `--ceiling-reps` times) in one worker process alone, then in two worker processes at once;
   ceiling = 2 x time alone / time of the pair. No Ray involved: if two 1-thread processes do
   not run side by side at full speed on this machine, no sweep can either.

Figures: speedup = loop wall / sweep wall; efficiency = sum of trial times / (sweep wall x
slots). Per-trial overhead comes from an instrumented trainable (benchmarks/sweep_tools.py)
that wraps tune-bench's `run_trial`: time from the trial's start on its actor to its first
training step (data hand-off included) and the gap between consecutive trials on one slot.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.common import SCRATCH, Result, data_dir, parser, ratio, timed
from benchmarks.sweep_tools import LOG_ENV, overheads, read_log, read_results, unique_name

NAME = "sweep_efficiency"
SPACE = "search_spaces/q1b_svm.yaml"
TARGET_SPEEDUP, TARGET_EFFICIENCY, TARGET_OVERHEAD_S = 1.8, 0.90, 0.5


def sequential(points: list[dict], root: str, threads: int | None) -> tuple[float, list[float]]:
    from tune_bench.config import SVMConfig
    from tune_bench.data import load_split
    from tune_bench.train import train_svm

    times = []
    t0 = time.perf_counter()
    for p in points:
        cfg = SVMConfig.from_dict(p)
        split = load_split(cfg.dataset, cfg.split, root)
        dt, _ = timed(lambda cfg=cfg, split=split: train_svm(cfg, split, threads=threads))
        times.append(dt)
    return time.perf_counter() - t0, times


def _ceiling_worker(point: dict, root: str, reps: int) -> float:
    from tune_bench.config import SVMConfig
    from tune_bench.data import load_split
    from tune_bench.train import train_svm

    cfg = SVMConfig.from_dict(point)
    split = load_split(cfg.dataset, cfg.split, root)
    train_svm(cfg, split, threads=1)  # warm-up: imports, first-call costs
    t0 = time.perf_counter()
    for _ in range(reps):
        train_svm(cfg, split, threads=1)
    return time.perf_counter() - t0


def parallel_ceiling(point: dict, root: str, reps: int) -> dict[str, float]:
    """Seconds for `reps` trials in one process alone and in each of two at once."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        alone = pool.submit(_ceiling_worker, point, root, reps).result()
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        pair = [f.result() for f in [pool.submit(_ceiling_worker, point, root, reps)
                                     for _ in range(2)]]
    return {"alone_s": alone, "pair_s": max(pair), "pair_each_s": pair,
            "ceiling": 2 * alone / max(pair)}


def main(argv: list[str] | None = None) -> None:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--backend", default=None, help="override the SVM backend (default: auto)")
    p.add_argument("--ceiling-reps", type=int, default=None,
                   help="trials per process in the 2-process ceiling probe (default 5; 0: skip)")
    p.add_argument("--reanalyze", default=None, metavar="RESULT_JSON",
                   help="only recompute the overheads of a saved result")
    args = p.parse_args(argv)
    if args.reanalyze:
        reanalyze(Path(args.reanalyze))
        return
    root = data_dir(args.data_dir)
    n_train = args.n_train or (300 if args.quick else 2000)
    overrides = {"n_train": n_train}
    if args.backend:
        overrides["backend"] = args.backend
    if args.quick:
        overrides["n_test"] = 500
    from tune_bench import sweep as sw
    from tune_bench.data import load_split
    from tune_bench.space import load_space

    spec = load_space(SPACE, overrides)
    points = spec.points[:8] if args.quick else spec.points
    if args.quick:
        spec.points = points
    cores = os.cpu_count() or 1
    cpu_per_trial = spec.resources["cpu"]["cpu"]
    slots = int(min(cores // cpu_per_trial, spec.max_concurrent or 10**9))
    res = Result(NAME, args, {"space": SPACE, "overrides": overrides, "n_trials": len(points),
                              "cpu_per_trial": cpu_per_trial, "slots": slots, "cores": cores})
    for ds in sorted({pt["dataset"] for pt in points}):
        load_split(ds, "seeds", root)  # decoded once, before anything is timed

    seq1_wall, seq1_times = sequential(points, root, threads=1)
    res.row(part="loop", threads=1, wall_s=round(seq1_wall, 2),
            sum_trial_s=round(sum(seq1_times), 2))

    log = SCRATCH / f"{unique_name('trials')}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    os.environ[LOG_ENV] = str(log)
    from benchmarks.sweep_tools import timed_trial

    opts = sw.SweepOptions(storage_path=str(SCRATCH / "ray_results"), name=unique_name(NAME),
                           data_dir=root, progress=False)
    e2e, outcome = timed(lambda: sw.run_sweep(spec, opts, trainable_fn=timed_trial))
    results = read_results(outcome.path)
    tune_sum = sum(r.get("time_total_s", 0.0) for r in results.values())
    res.row(part="sweep", wall_s=round(e2e, 2), fit_wall_s=round(outcome.wall_s, 2),
            states=outcome.states, sum_tune_trial_s=round(tune_sum, 2), path=str(outcome.path))

    seqd_wall, seqd_times = sequential(points, root, threads=None)
    res.row(part="loop", threads="default", wall_s=round(seqd_wall, 2),
            sum_trial_s=round(sum(seqd_times), 2))

    reps = args.ceiling_reps if args.ceiling_reps is not None else (2 if args.quick else 5)
    ceiling = parallel_ceiling(points[0], root, reps) if reps else None
    if ceiling:
        res.row(part="ceiling", reps=reps, alone_s=round(ceiling["alone_s"], 2),
                pair_s=round(ceiling["pair_s"], 2),
                pair_each_s=[round(v, 2) for v in ceiling["pair_each_s"]],
                ceiling=round(ceiling["ceiling"], 3))

    ov = overheads(read_log(log, outcome.path.name), results)
    res.data["overheads"] = ov
    work = sum(seq1_times)
    eff_e2e = ratio(work, e2e * slots)
    eff_fit = ratio(work, outcome.wall_s * slots)
    eff_tune = ratio(tune_sum, outcome.wall_s * slots)
    start_med = ov["previous_trial_end_to_first_step_s"].get("median", float("nan"))
    gap_med = ov["gap_between_trials_on_a_slot_s"].get("median", float("nan"))
    res.summary(
        speedup_vs_loop_default_threads=round(ratio(seqd_wall, e2e), 3),
        speedup_vs_loop_1_thread=round(ratio(seq1_wall, e2e), 3),
        speedup_fit_only_vs_loop_default_threads=round(ratio(seqd_wall, outcome.wall_s), 3),
        efficiency_end_to_end=round(eff_e2e, 3), efficiency_fit_only=round(eff_fit, 3),
        efficiency_tune_trial_times=round(eff_tune, 3),
        two_process_ceiling=round(ceiling["ceiling"], 3) if ceiling else None,
        trial_end_to_next_first_step_median_s=start_med, gap_median_s=gap_med,
        targets={"speedup": TARGET_SPEEDUP, "efficiency": TARGET_EFFICIENCY,
                 "overhead_s": TARGET_OVERHEAD_S},
        met={"speedup": ratio(seqd_wall, e2e) >= TARGET_SPEEDUP,
             "efficiency": eff_e2e >= TARGET_EFFICIENCY,
             "overhead": max(start_med, gap_med) <= TARGET_OVERHEAD_S},
        all_trials_ok=outcome.ok)
    res.data["trial_log"] = str(log)
    res.save()


def reanalyze(path: Path) -> None:
    """Recompute the overhead figures of a saved result from its trial log and experiment."""
    import json

    d = json.loads(path.read_text())
    exp = Path(next(r["path"] for r in d["rows"] if r.get("part") == "sweep"))
    logs = [Path(d["trial_log"])] if "trial_log" in d else sorted(SCRATCH.glob("trials_*.jsonl"))
    log = [rec for f in logs for rec in read_log(f, exp.name)]
    ov = overheads(log, read_results(exp))
    d["overheads"] = ov
    s = d["summary"]
    s.pop("start_to_first_step_median_s", None)
    s["trial_end_to_next_first_step_median_s"] = ov["previous_trial_end_to_first_step_s"].get(
        "median")
    s["gap_median_s"] = ov["gap_between_trials_on_a_slot_s"].get("median")
    s["met"]["overhead"] = max(s["trial_end_to_next_first_step_median_s"],
                               s["gap_median_s"]) <= TARGET_OVERHEAD_S
    d.setdefault("notes", []).append(
        f"overheads recomputed from {[str(f) for f in logs]} and {exp} by "
        f"python -m benchmarks.sweep_efficiency --reanalyze {path}")
    path.write_text(json.dumps(d, indent=1, default=str) + "\n")
    print(json.dumps(ov, indent=1))


if __name__ == "__main__":
    main()
