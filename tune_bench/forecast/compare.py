"""The forecast against what happened: per kind of trial and in total (end of a sweep, the
report), and the progress ETA corrected by the trials that finished."""

from __future__ import annotations

import json
from typing import Any

from tune_bench.forecast.plan import duration
from tune_bench.forecast.timing import trial_key


class ForecastEta:
    """The sweep's remaining time from the forecast, scaled by how long the finished trials
    took against their forecast (plain data: pickled with Tune's callbacks).

    `remaining` counts from when the clock started: the sweep's start, or after a resume
    (`restart`) the resume, from which only the forecast work still left is to run."""

    # the defaults of a ForecastEta pickled before these were kept: `restart` changes nothing
    total_s = 0.0
    full_wall_s: float | None = None

    def __init__(self, forecast: dict[str, Any]) -> None:
        self.wall_s = float(forecast["wall_s"])
        self.full_wall_s = self.wall_s  # the whole sweep's forecast wall
        self.forecast = {k: forecast.get(k, {}) for k in ("resources", "timing_keys")}
        self.by_key = {r["key"]: r for r in forecast["trials"] if r.get("forecast")}
        # forecast seconds of every forecast trial (`predicted`: of the finished ones seen)
        self.total_s = float(sum(r["s"] for r in forecast["trials"] if r.get("forecast")))
        self.predicted = 0.0
        self.actual = 0.0

    def observe(self, config: dict[str, Any], actual_s: float | None) -> None:
        """A finished trial (flat config) that took `actual_s` (Tune's time_total_s)."""
        if actual_s is None:
            return
        row = _match(self.forecast, self.by_key, config)
        if row is not None:
            self.predicted += row["s"]
            self.actual += float(actual_s)

    def restart(self) -> None:
        """The clock starts again (a resumed sweep): the wall becomes the whole sweep's
        forecast wall times the share of forecast work not finished yet."""
        if self.total_s <= 0 or self.full_wall_s is None:
            return
        left = max(self.total_s - self.predicted, 0.0)
        self.wall_s = self.full_wall_s * left / self.total_s

    @property
    def ratio(self) -> float:
        """Actual / forecast time of the finished trials (1 before any finished)."""
        return self.actual / self.predicted if self.predicted > 0 else 1.0

    def remaining(self, elapsed_s: float) -> float:
        """Seconds left: the forecast wall (of the work left at the last restart), corrected
        by `ratio`, minus what has passed since the clock started."""
        return max(0.0, self.wall_s * self.ratio - elapsed_s)


def compare_rows(forecast: dict[str, Any], trials: list[Any],
                 wall_s: float | None) -> dict[str, Any]:
    """Forecast vs actual per kind and in total. `trials`: tune_dir.TrialRecord of the
    experiment (actual = the last result's time_total_s); `wall_s`: the sweep's fit time."""
    by_key: dict[str, dict[str, Any]] = {r["key"]: r for r in forecast["trials"]}
    kinds: dict[str, dict[str, Any]] = {}
    errors = []
    for t in trials:
        actual = t.last.get("time_total_s") if t.state == "TERMINATED" else None
        row = _match(forecast, by_key, t.config)
        if row is None or actual is None:
            continue
        k = kinds.setdefault(row["kind"], {"kind": row["kind"], "n": 0, "forecast_s": 0.0,
                                           "actual_s": 0.0, "forecast": row["forecast"]})
        k["n"] += 1
        k["actual_s"] += float(actual)
        if row["forecast"]:
            k["forecast_s"] += row["s"]
            errors.append(abs(row["s"] - float(actual)) / max(float(actual), 1e-9))
    errors.sort()
    median = errors[len(errors) // 2] if errors else None
    if errors and len(errors) % 2 == 0:
        median = (errors[len(errors) // 2 - 1] + errors[len(errors) // 2]) / 2
    return {"kinds": sorted(kinds.values(), key=lambda k: -k["actual_s"]),
            "forecast_wall_s": forecast.get("wall_s"), "wall_low_s": forecast.get("wall_low_s"),
            "wall_high_s": forecast.get("wall_high_s"), "actual_wall_s": wall_s,
            "median_abs_trial_error": median, "n_compared": len(errors)}


def _match(forecast: dict[str, Any], by_key: dict[str, dict[str, Any]],
           config: dict[str, Any]) -> dict[str, Any] | None:
    """The forecast row of a trial (flat config): by its trial key (its trainer's keys, saved
    with the forecast), with its device's resources."""
    res = forecast.get("resources", {}).get(config.get("device", "cpu"))
    keys = forecast.get("timing_keys", {}).get(config.get("trainer"), [])
    return by_key.get(trial_key(config, res, keys)) if res is not None else None


def wall_line(cmp: dict[str, Any]) -> str | None:
    """The sweep's wall: forecast (with its interval) against actual, and the error."""
    fw, aw = cmp["forecast_wall_s"], cmp["actual_wall_s"]
    if fw is None or not aw:
        return None
    low, high = cmp.get("wall_low_s"), cmp.get("wall_high_s")
    interval = (f" (interval {duration(low)} to {duration(high)})"
                if low is not None and high is not None else "")
    return f"forecast vs actual: wall {duration(fw)}{interval} vs {duration(aw)} ({_pct(fw, aw)})"


def median_line(cmp: dict[str, Any]) -> str | None:
    """The median absolute error per trial, over the trials compared."""
    if cmp["median_abs_trial_error"] is None:
        return None
    return (f"median absolute error per trial: {100 * cmp['median_abs_trial_error']:.0f}% "
            f"({cmp['n_compared']} trials)")


KIND_COLUMNS = ("kind", "trials", "forecast", "actual", "error")


def kind_cells(k: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """One kind of trial as text (`KIND_COLUMNS`): error = (forecast - actual) / actual."""
    if not k["forecast"]:
        return k["kind"], str(k["n"]), "-", duration(k["actual_s"]), "not forecast"
    return (k["kind"], str(k["n"]), duration(k["forecast_s"]), duration(k["actual_s"]),
            _pct(k["forecast_s"], k["actual_s"]))


def compare_lines(cmp: dict[str, Any]) -> list[str]:
    """Forecast against actual as text lines (the end of a sweep, the report)."""
    wall, median = wall_line(cmp), median_line(cmp)
    out = ([wall] if wall else []) + ([f"  {median}"] if median else [])
    width = max([len(k["kind"]) for k in cmp["kinds"]] + [4])
    out.append(f"  {'kind':{width}s}  trials  forecast  actual    error")
    for k in cmp["kinds"]:
        kind, n, fc, actual, error = kind_cells(k)
        out.append(f"  {kind:{width}s}  {n:>6s}  {fc:8s}  {actual:8s}  {error}")
    return out


def _pct(forecast: float, actual: float) -> str:
    return f"{100 * (forecast - actual) / actual:+.0f}%" if actual else "-"


def read_compare(path: Any) -> dict[str, Any] | None:
    """`compare_rows` of the experiment at local directory `path` (None when it has no
    forecast or it cannot be read)."""
    from pathlib import Path

    from tune_bench import tune_dir
    from tune_bench.forecast.plan import FORECAST_FILE

    p = Path(path) / FORECAST_FILE
    if not p.is_file():
        return None
    try:
        fc = json.loads(p.read_text())
        trials, _ = tune_dir.read_experiment(Path(path))
        wall = None
        driver = tune_dir.read_text(str(Path(path) / tune_dir.DRIVER_FILE))
        if driver:
            wall = json.loads(driver).get("wall_s")
        return compare_rows(fc, trials, wall)
    except Exception:  # an unreadable forecast must not spoil the end of a sweep
        return None


def read_comparison(path: Any) -> list[str]:
    """The comparison lines of the experiment at local directory `path` (empty when it has
    no forecast)."""
    cmp = read_compare(path)
    return compare_lines(cmp) if cmp is not None else []


def forecast_comparisons(paths: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """(experiment name, `compare_rows`) of each experiment at `paths` (directories or URIs)
    that was run with a forecast: the data of the reports' 'Forecast against actual'."""
    from tune_bench import storage

    out = []
    for p in paths:
        try:
            with storage.readable(p) as local:
                cmp = read_compare(local)
        except Exception:  # the report goes on without it
            cmp = None
        if cmp is not None:
            out.append((storage.base_name(p), cmp))
    return out


def forecast_markdown(comparisons: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The markdown report's section 'Forecast against actual' of `forecast_comparisons`,
    one block per experiment (empty when none was run with a forecast)."""
    out: list[str] = []
    for name, cmp in comparisons:
        out += [f"`{name}`:", "", "```text", *compare_lines(cmp), "```", ""]
    return ["## Forecast against actual", "", *out] if out else []
