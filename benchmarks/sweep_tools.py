"""Instrumented trainables and readers for the sweep benchmarks.

`timed_trial` wraps tune-bench's own `sweep.run_trial` and appends one JSON line per trial to
the file named by $TUNE_BENCH_BENCH_TRIAL_LOG (Ray workers inherit the environment of the
driver that starts Ray): wall-clock times (time.time(), one clock for all processes of this
machine) of entering the trainable (after Tune fetched the `tune.with_parameters` data),
entering the trainer (`train_svm` / `train_resnet`: the first training step), leaving it, the
first `tune.report` call and leaving the trainable (after the report, which blocks until the
driver took the result), with the worker's pid (one pid per reused actor = per slot) and the
experiment's name. `trivial_trial` reports at once: a trial with no work.

See `overheads` for the figures drawn from them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

LOG_ENV = "TUNE_BENCH_BENCH_TRIAL_LOG"


def _log(rec: dict[str, Any]) -> None:
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    try:
        from ray import tune

        rec["experiment"] = tune.get_context().get_experiment_name()
    except Exception:  # noqa: BLE001 - outside a Tune session
        rec["experiment"] = None
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def timed_trial(config: dict[str, Any], datasets: dict[str, Any] | None = None) -> None:
    """tune-bench's run_trial, with the times of its phases logged."""
    t_enter = time.time()
    import tune_bench.train as tr
    from tune_bench.sweep import run_trial
    from tune_bench.tune_dir import trial_label

    marks: dict[str, float] = {}
    orig = {"train_svm": tr.train_svm, "train_resnet": tr.train_resnet}

    def wrap(name: str):
        def inner(*a: Any, **kw: Any) -> Any:
            marks["t_first_step"] = time.time()
            try:
                return orig[name](*a, **kw)
            finally:
                marks["t_trainer_end"] = time.time()
        return inner

    from ray import tune

    report = tune.report

    def timed_report(*a: Any, **kw: Any) -> Any:
        marks.setdefault("t_report", time.time())  # the first report (run_trial's last for SVMs)
        return report(*a, **kw)

    tr.train_svm, tr.train_resnet = wrap("train_svm"), wrap("train_resnet")
    tune.report = timed_report
    try:
        run_trial(config, datasets)
    finally:
        tr.train_svm, tr.train_resnet = orig["train_svm"], orig["train_resnet"]
        tune.report = report
        _log({"trial_name": trial_label(config), "pid": os.getpid(), "t_enter": t_enter,
              **marks, "t_exit": time.time()})


def trivial_trial(config: dict[str, Any], datasets: dict[str, Any] | None = None) -> None:
    """A trial that does no work: one report, with the same data handed over as a real one."""
    t_enter = time.time()
    from ray import tune

    from tune_bench.tune_dir import trial_label

    name = trial_label(config)
    t_report = time.time()
    tune.report({"test_acc": 0.5, "final": True, "trial_name": name})
    _log({"trial_name": name, "pid": os.getpid(), "t_enter": t_enter, "t_first_step": t_enter,
          "t_trainer_end": t_enter, "t_report": t_report, "t_exit": time.time()})


def read_log(path: Path, experiment: str | None = None) -> list[dict[str, Any]]:
    """The trial records in `path`, only those of `experiment` when given."""
    if not path.exists():
        return []
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in recs if experiment is None or r.get("experiment") == experiment]


def read_results(exp: Path) -> dict[str, dict[str, Any]]:
    """The first result row of each trial of experiment `exp`, by `trial_name`."""
    out = {}
    for f in exp.glob("*/result.json"):
        lines = [ln for ln in f.read_text().splitlines() if ln.strip()]
        if lines:
            row = json.loads(lines[0])
            last = json.loads(lines[-1])
            row["_last"] = last
            out[row.get("trial_name") or f.parent.name] = row
    return out


def overheads(log: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-trial overhead figures from the trial log and Tune's results.

    On a reused actor (a slot), trial k+1 starts when trial k has returned: from its `t_exit`
    to trial k+1's first training step is the whole per-trial overhead (Tune's bookkeeping,
    the actor reset, the data hand-off, run_trial's setup); `gap` is the part before the
    trainable is entered. The first trial of each actor also pays the worker's start and
    imports: `first_trial_on_actor_s` = Tune's `time_this_iter_s` minus the time from the
    first training step to the report (only when the log has `t_report`).
    """
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for rec in log:
        by_pid.setdefault(rec["pid"], []).append(rec)
    gaps, turnaround, first = [], [], []
    for recs in by_pid.values():
        recs.sort(key=lambda r: r["t_enter"])
        for a, b in zip(recs, recs[1:], strict=False):
            gaps.append(b["t_enter"] - a["t_exit"])
            turnaround.append(b.get("t_first_step", b["t_enter"]) - a["t_exit"])
        r0, res0 = recs[0], results.get(recs[0]["trial_name"])
        if res0 is not None and "t_report" in r0 and "t_first_step" in r0:
            first.append(res0.get("time_this_iter_s", 0.0) - (r0["t_report"] - r0["t_first_step"]))
    setup_in_fn = [rec["t_first_step"] - rec["t_enter"] for rec in log if "t_first_step" in rec]
    return {"n_logged": len(log), "n_slots_seen": len(by_pid),
            "previous_trial_end_to_first_step_s": _stats(turnaround),
            "gap_between_trials_on_a_slot_s": _stats(gaps),
            "setup_inside_trainable_s": _stats(setup_in_fn),
            "first_trial_on_actor_s": _stats(first)}


def _stats(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {}
    s = sorted(xs)
    return {"n": len(s), "median": round(s[len(s) // 2], 4), "mean": round(sum(s) / len(s), 4),
            "p90": round(s[min(len(s) - 1, int(0.9 * len(s)))], 4), "max": round(s[-1], 4),
            "min": round(s[0], 4)}


def unique_name(prefix: str) -> str:
    return f"{prefix}_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
