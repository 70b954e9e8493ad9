"""The forecast of a sweep: each trial's predicted time, Tune's placement simulated, the whole
sweep's wall time with an interval, the share of each kind of trial, and how the wall time
changes with more nodes. Saved with the experiment as `tune_bench_forecast.json`."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tune_bench.forecast.simulate import SimTrial, simulate
from tune_bench.forecast.timing import Timing, shape_key, shape_of, timing_of, trial_key

FORECAST_FILE = "tune_bench_forecast.json"
# Tune's own cost around the trials: 0.12 s from a trial's end to the next one's first step,
# ~2.75 s of fit() outside the trials (start-up, end): measured here (BENCHMARKS.md, 3-4).
TRIAL_OVERHEAD_S = 0.12
FIT_FIXED_S = 2.75
SCALES = (2, 4)
SIMULATION = "then Tune's FIFO placement simulated (each bound simulated too)"


@dataclass
class TrialPlan:
    """One trial of the sweep as the forecast sees it (`timing` None: its trainer declares
    none, so it is not forecast)."""

    point: dict[str, Any]
    resources: dict[str, float]
    sizes: dict[str, int]
    shape: str  # calibration key ("" without a timing)
    key: str  # trial_key: shape + sizes
    kind: str
    timing: Timing | None


def timings(points: list[dict[str, Any]],
            plugin_paths: list[str] | tuple[str, ...] = ()) -> dict[str, Timing | None]:
    """{trainer name: its Timing} of the trainers `points` use (plug-ins resolved from the
    space files' directories)."""
    from tune_bench.plugins import search_paths

    with search_paths(plugin_paths):
        return {name: timing_of(name) for name in sorted({str(p["trainer"]) for p in points})}


def plan_trials(spec: Any, points: list[dict[str, Any]],
                split_sizes: dict[str, dict[str, int]]) -> list[TrialPlan]:
    """The trials in Tune's order (each sample of every point in turn); a random axis is
    taken at its first option (`RandomAxis.example`)."""
    from tune_bench.sweep.handover import data_key

    by_trainer = timings(points, spec.plugin_paths)
    out = []
    for _ in range(spec.tune_num_samples):
        for p in points:
            point = {**p, **{k: a.example() for k, a in spec.random_axes.items()}}
            res = spec.resources_for(point)
            tm = by_trainer[str(point["trainer"])]
            if tm is None:
                out.append(TrialPlan(point, res, {}, "", trial_key(point, res, []),
                                     f"{point['trainer']} (no timing)", None))
                continue
            sizes = tm.sizes(point, split_sizes.get(data_key(point), {}))
            out.append(TrialPlan(point, res, sizes, shape_key(shape_of(point, res, tm)),
                                 trial_key(point, res, [*tm.shape_keys, *tm.size_keys]),
                                 tm.kind(point, sizes), tm))
    return out


def wanted_shapes(trials: list[TrialPlan], gpus_here: int) -> dict[str, tuple[dict, dict, int]]:
    """{shape key: (a point, its sizes, threads)} of the shapes this machine can time (the
    largest n_train of each shape)."""
    out: dict[str, tuple[dict, dict, int]] = {}
    for t in trials:
        if t.timing is None or (_gpu(t) and gpus_here <= 0):
            continue
        old = out.get(t.shape)
        if old is None or t.sizes.get("n_train", 0) > old[1].get("n_train", 0):
            out[t.shape] = (t.point, t.sizes, max(1, int(t.resources.get("cpu", 1))))
    return out


def _gpu(t: TrialPlan) -> bool:
    return t.resources.get("gpu", 0) > 0 or t.point.get("device") == "gpu"


def build(spec: Any, trials: list[TrialPlan], calibration: dict[str, Any],
          nodes: list[tuple[float, float]], max_concurrent: int | None, gpus_here: int,
          calibration_s: float = 0.0, timed: int = 0,
          speed: dict[str, float] | None = None,
          storage: dict[str, Any] | None = None) -> dict[str, Any]:
    """The forecast (a JSON-ready dict) of `trials` on `nodes` ((CPUs, GPUs) each); `speed`:
    {shape key: factor} scaling cached shapes' times to how fast the machine is now;
    `storage`: {"uri", "s_per_mb"} of a remote storage, whose checkpoint uploads are added."""
    speed = speed or {}
    upload = float((storage or {}).get("s_per_mb") or 0.0)
    rows: list[dict[str, Any]] = []
    pooled = {tm: tm.pool([calibration["shapes"][k] for k in {t.shape for t in trials
                                                              if t.timing is tm}
                           if k in calibration["shapes"]])
              for tm in {t.timing for t in trials if t.timing is not None}}
    for t in trials:
        rec = calibration["shapes"].get(t.shape)
        row = {"label": _label(t.point), "kind": t.kind, "key": t.key,
               "cpu": float(t.resources.get("cpu", 1)), "gpu": float(t.resources.get("gpu", 0))}
        if t.timing is None:
            row.update(forecast=False, why=f"trainer {t.point['trainer']} declares no timing")
        elif rec is None:
            row.update(forecast=False, why="no GPU here" if _gpu(t) and gpus_here <= 0
                       else "not calibrated")
        else:
            est = t.timing.predict(rec, t.point, t.sizes, pooled[t.timing])
            f = speed.get(t.shape, 1.0)
            up = upload * float(rec.get("checkpoint_mb", 0.0)) * t.timing.checkpoints(
                t.point, t.sizes)
            row.update(forecast=True, s=f * est.s + up, low_s=f * est.low + up,
                       high_s=f * est.high + up)
        rows.append(row)
    done = [r for r in rows if r["forecast"]]
    actor = float(calibration.get("overheads", {}).get("actor_start_s", 0.0))

    def wall(field: str, on: list[tuple[float, float]]) -> float:
        sim = [SimTrial(r["cpu"], r["gpu"], r[field]) for r in done]
        placed = simulate(sim, on, max_concurrent, actor, TRIAL_OVERHEAD_S)
        return placed.wall_s + (FIT_FIXED_S if done else 0.0)

    total = sum(r["s"] for r in done) or 1.0
    kinds: dict[str, dict[str, Any]] = defaultdict(lambda: {"n": 0, "s": 0.0, "missing": 0})
    for r in rows:
        k = kinds[r["kind"]]
        k["n"] += 1
        if r["forecast"]:
            k["s"] += r["s"]
        else:
            k["missing"] += 1
            k["why"] = r["why"]
    return {
        "version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "name": spec.name,
        "machine": calibration.get("machine"),
        "method": "; ".join([*sorted({t.timing.method for t in trials if t.timing}),
                             SIMULATION]),
        "timing_keys": {str(t.point["trainer"]): [*t.timing.shape_keys, *t.timing.size_keys]
                        for t in trials if t.timing},
        "nodes": [list(n) for n in nodes], "max_concurrent": max_concurrent,
        "resources": {d: dict(r) for d, r in spec.resources.items()},
        "overheads": {"actor_start_s": actor, "trial_overhead_s": TRIAL_OVERHEAD_S,
                      "fit_fixed_s": FIT_FIXED_S},
        "n_trials": len(rows), "n_forecast": len(done),
        "wall_s": wall("s", nodes), "wall_low_s": wall("low_s", nodes),
        "wall_high_s": wall("high_s", nodes),
        "scaling": [{"nodes": k, "wall_s": wall("s", nodes * k)} for k in SCALES],
        "kinds": [{"kind": name, "n": v["n"], "s": v["s"], "share": v["s"] / total,
                   "missing": v["missing"], "why": v.get("why", "")}
                  for name, v in sorted(kinds.items(), key=lambda kv: -kv[1]["s"])],
        "trials": rows, "calibration_s": calibration_s, "timed_shapes": timed,
        "notes": _notes(spec) + _speed_notes(speed) + _storage_notes(storage),
        "speed": speed, "storage": storage,
    }


def _storage_notes(storage: dict[str, Any] | None) -> list[str]:
    if storage and storage.get("error"):
        return [f"checkpoint uploads not forecast: {storage['error']}"]
    if not storage or not storage.get("s_per_mb"):
        return []
    return [f"checkpoints are uploaded to {storage['uri']} at "
            f"{1 / storage['s_per_mb']:.0f} MB/s (a {storage['probe_mb']} MB probe file "
            "written and deleted there): added to each trial"]


def _speed_notes(speed: dict[str, float]) -> list[str]:
    if not speed:
        return []
    f = sorted(speed.values())[len(speed) // 2]
    return [f"this machine is {f:.2f}x as slow now as when {len(speed)} cached shape(s) were "
            "timed (a CPU probe at the trial workers' niceness): their times scaled by it"]


def _notes(spec: Any) -> list[str]:
    """What the forecast assumes that the sweep may not do."""
    notes = []
    if spec.scheduler.get("type") == "asha":
        notes.append("ASHA stops trials early: every trial is forecast to run all its epochs "
                     "(the most the sweep can take)")
    if spec.random_axes:
        notes.append(f"random axes ({', '.join(spec.random_axes)}) forecast at their first "
                     "option / lower bound")
    return notes


def _label(point: dict[str, Any]) -> str:
    from tune_bench.tune_dir import trial_label

    return trial_label(point)


def duration(s: float) -> str:
    """e.g. '48 s', '6.2 min', '3.1 h'."""
    if s < 100:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    if s < 6000:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def nodes_text(nodes: list[list[float]] | list[tuple[float, float]]) -> str:
    """e.g. '1 node, 2 CPUs, 0 GPUs'."""
    cpu = sum(n[0] for n in nodes)
    gpu = sum(n[1] for n in nodes)
    return f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}, {cpu:g} CPUs, {gpu:g} GPUs"


def lines(fc: dict[str, Any]) -> list[str]:
    """The forecast as text lines for the terminal."""
    out = []
    missing = fc["n_trials"] - fc["n_forecast"]
    what = f"{fc['n_forecast']} trial(s)" + (f" of {fc['n_trials']}" if missing else "")
    if fc["n_forecast"]:
        out.append(f"forecast: {what} in {duration(fc['wall_s'])} (interval "
                   f"{duration(fc['wall_low_s'])} to {duration(fc['wall_high_s'])}) on "
                   f"{nodes_text(fc['nodes'])}"
                   + (f", at most {fc['max_concurrent']} at once" if fc["max_concurrent"]
                      else ""))
    else:
        out.append(f"forecast: none of the {fc['n_trials']} trial(s) could be forecast")
    width = max([len(k["kind"]) for k in fc["kinds"]] + [4])
    out.append(f"  {'kind':{width}s}  trials  each      total     share")
    for k in fc["kinds"]:
        if k["missing"] == k["n"]:
            out.append(f"  {k['kind']:{width}s}  {k['n']:6d}  not forecast ({k['why']})")
            continue
        each = k["s"] / (k["n"] - k["missing"])
        out.append(f"  {k['kind']:{width}s}  {k['n']:6d}  {duration(each):8s}  "
                   f"{duration(k['s']):8s}  {100 * k['share']:4.0f}%")
    if fc["n_forecast"]:
        out.append("  " + "; ".join(f"on {s['nodes']} such nodes: {duration(s['wall_s'])}"
                                    for s in fc["scaling"]))
    if missing:
        whys = sorted({r["why"] for r in fc["trials"] if not r["forecast"]})
        hint = ("; --calibration FILE from `tune-bench calibrate` on a machine with a GPU "
                "forecasts them") if "no GPU here" in whys else ""
        if any(w.endswith("declares no timing") for w in whys):
            hint += ("; a trainer declares how its trials are timed with "
                     "@tune_bench.trainer(timing=...) (docs/forecast.md)")
        out.append(f"  not forecast: {missing} trial(s) ({', '.join(whys)}){hint}")
    out.append(f"  calibration: {fc['timed_shapes']} shape(s) timed now in "
               f"{duration(fc['calibration_s'])}, the rest from the cache" if fc["timed_shapes"]
               else "  calibration: every shape from the cache or the calibration file")
    out += [f"  note: {n}" for n in fc.get("notes", [])]
    out.append(f"  method: {fc['method']}")
    return out
