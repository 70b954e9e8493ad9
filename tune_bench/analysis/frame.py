"""Read Ray Tune experiment directories into a tidy DataFrame (one row per trial).

Only JSON, CSV and text files are read (never a pickle), and nothing is written into an
experiment directory. The layout and the trial-state rules are `tune_bench.tune_dir`'s. An
experiment in object storage (a URI) is read from a local copy of those files
(`storage.readable`) and keeps its URI as its name and trial directories.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tune_bench import storage, tune_dir
from tune_bench.config import KEYS
from tune_bench.errors import ExperimentError
from tune_bench.tune_dir import STATES  # noqa: F401  (re-exported)

# stopped_early: a TERMINATED trial the scheduler (ASHA) stopped before its last epoch.
# iterations: the trial's last training_iteration; n_configs: how many configs it ran with
# (more than 1 under population-based training; its `schedule` lists them).
BASE_COLUMNS = ["experiment", "trial_id", "trial_dir", "state", "error", "stopped_early",
                "iterations", "n_configs"]
KNOWN_CONFIG_KEYS = frozenset(k for keys in KEYS.values() for k in keys)
# Tune bookkeeping that is not worth a column.
_DROP_RESULT_KEYS = frozenset(
    {
        "config",
        "trial_id",
        "pid",
        "node_ip",
        "checkpoint_dir_name",
        "should_checkpoint",
        "time_this_iter_s",
        "time_since_restore",
        "iterations_since_restore",
        "experiment_tag",
    }
)
HISTORY_KEYS = (
    "epoch",
    "training_iteration",
    "time_total_s",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "epoch_time_s",
    "images_per_s",
    "train_time_ms",
    "predict_time_ms",
)
_HISTORY_SET = frozenset(HISTORY_KEYS)
NUMERIC_METRICS = (
    "test_acc",
    "train_acc",
    "val_acc",
    "test_loss",
    "train_loss",
    "val_loss",
    "train_time_ms",
    "predict_time_ms",
    "macs",
    "flops",
    "params",
    "peak_mem_mb",
    "epoch",
)


def load_experiments(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per trial across the experiment directories in `paths` (local paths or URIs;
    see tune_dir)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows: list[dict[str, Any]] = []
    config_cols: dict[str, None] = {}
    warnings: list[str] = []
    saved: list[tuple[str | None, str | None, str]] = []
    searchers: dict[str, str] = {}
    perturbations: dict[str, int] = {}
    for path, name in _experiment_names(paths):
        with storage.readable(path) as local:
            trials, warns = tune_dir.read_experiment(local)
            saved.append(_saved_target(local))
            searcher = tune_dir.searcher_name(local)
            if searcher:
                searchers[name] = searcher
            logged = tune_dir.pbt_perturbations(local)
            if logged is not None:
                perturbations[name] = logged
        for trial in trials:
            row = _row(trial, name)
            if str(local) != str(path):  # a copy of an experiment in object storage
                row["trial_dir"] = storage.child_uri(path, trial.dirname)
            rows.append(row)
            config_cols.update(dict.fromkeys(trial.config))
        warnings.extend(w.replace(str(local), str(path)) for w in warns)
    if not rows:
        raise ExperimentError("no experiment directories given")
    df = _to_frame(rows, list(config_cols), warnings)
    df.attrs["saved_targets"] = [t for t in saved if t[0]]
    df.attrs["searchers"] = searchers
    df.attrs["pbt_perturbations"] = perturbations
    return df


def _saved_target(local: Path) -> tuple[str | None, str | None, str]:
    """(metric, mode, source) recorded with the experiment: tune-bench's saved spec, else the
    metric and mode Tune was given (tuner.pkl, read without unpickling)."""
    try:
        spec = tune_dir.read_saved_spec(local).get("spec") or {}
    except (ExperimentError, AttributeError):
        spec = {}
    if isinstance(spec, dict) and spec.get("metric"):
        return str(spec["metric"]), str(spec.get("mode") or "max"), "the sweep's space file"
    metric, mode = tune_dir.tuner_target(local)
    return metric, mode, "Tune's own metric (tuner.pkl)"


def _experiment_names(paths: Sequence[str | Path]) -> list[tuple[str | Path, str]]:
    paths = [p if storage.is_uri(p) else Path(p) for p in paths]
    names = [storage.base_name(p) for p in paths]
    return [
        (p, n if names.count(n) == 1 else str(p)) for p, n in zip(paths, names, strict=True)
    ]


def _to_frame(rows: list[dict], config_cols: list[str], warnings: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in NUMERIC_METRICS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    first = BASE_COLUMNS + [c for c in config_cols if c not in BASE_COLUMNS]
    tail = ["n_results", "history", "schedule"]
    rest = [c for c in df.columns if c not in first and c not in tail]
    df = df[first + rest + tail]
    df.attrs["config_columns"] = [c for c in config_cols if c not in BASE_COLUMNS]
    df.attrs["warnings"] = warnings
    return df


def _row(trial: tune_dir.TrialRecord, experiment: str) -> dict[str, Any]:
    """A trial's row: identity and state, flat config, last result, history."""
    row: dict[str, Any] = {
        "experiment": experiment,
        "trial_id": trial.trial_id,
        "trial_dir": trial.path,
        "state": trial.state,
        "error": trial.error,
        "stopped_early": trial.stopped_early,
        "iterations": tune_dir.iteration(trial.last),
        "n_configs": max(1, len(trial.schedule)),
    }
    for k, v in trial.config.items():
        row.setdefault(k, v)
    for k, v in _last_reported(trial.results).items():
        if k not in _DROP_RESULT_KEYS and k not in row:
            row[k] = v
    row["n_results"] = len(trial.results)
    row["history"] = [_history_row(r) for r in trial.results]
    row["schedule"] = trial.schedule
    return row


def _last_reported(results: list[dict]) -> dict[str, Any]:
    """Each key's last reported value (the last result, plus keys only earlier results have:
    a metric a trial stopped reporting keeps its last value, as Tune's `scope="last"`)."""
    if not results:
        return {}
    out = dict(results[-1])
    keys = set(out)
    for r in reversed(results[:-1]):
        if r.keys() <= keys:
            continue
        for k, v in r.items():
            if k not in out:
                out[k] = v
        keys = set(out)
    return out


def _history_row(r: dict) -> dict:
    """The numbers of one result row (any metric may be compared at a common iteration)."""
    return {k: v for k, v in r.items()
            if k in _HISTORY_SET or (type(v) in (int, float) and k not in _DROP_RESULT_KEYS)}


def load_history(df: pd.DataFrame) -> pd.DataFrame:
    """Per-result rows (one per reported epoch) of every trial: experiment, trial_id, metrics."""
    records = [
        {"experiment": exp, "trial_id": tid, **h}
        for exp, tid, hist in zip(df["experiment"], df["trial_id"], df["history"], strict=True)
        for h in (hist if isinstance(hist, list) else [])
    ]
    cols = ["experiment", "trial_id", "epoch", "training_iteration"]
    out = pd.DataFrame(records)
    if out.empty:
        return pd.DataFrame(columns=cols)
    return out[[c for c in cols if c in out] + [c for c in out if c not in cols]]
