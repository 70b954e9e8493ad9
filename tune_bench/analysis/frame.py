"""Read Ray Tune experiment directories into a tidy DataFrame (one row per trial).

Only JSON, CSV and text files are read (never a pickle), and nothing is written into an
experiment directory. Layout (Ray Tune 2.60):

- `experiment_state-<date>.json`: `{"trial_data": [[info_json, runtime_json], ...], ...}`; each
  `info_json` is itself a JSON string with `trial_id`, `status`, `relative_logdir` and `config`.
  The newest file (by the date in its name) wins; pickled fields inside it are left alone.
- one directory per trial: `params.json`, `result.json` (one JSON object per line), `progress.csv`,
  `error.txt` when it errored. Pending trials have an empty directory.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tune_bench.config import KEYS

try:  # optional: a faster JSON parser; the stdlib is the fallback
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None
from tune_bench.errors import ExperimentError

STATES = ("TERMINATED", "ERROR", "RUNNING", "PENDING", "INCOMPLETE")
BASE_COLUMNS = ["experiment", "trial_id", "trial_dir", "state", "error"]
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

_TRIAL_ID_RE = re.compile(r"_([0-9a-f]{5}_\d{5})(?:_|$)")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_EXC_RE = re.compile(
    r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning|Failure|Killed)\w*(\(.*?\))?(:|$)"
)



# --------------------------------------------------------------------------- loading


def load_experiments(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per trial across the experiment directories in `paths` (see module doc)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows: list[dict[str, Any]] = []
    config_cols: dict[str, None] = {}
    warnings: list[str] = []
    names = _experiment_names([Path(p) for p in paths])
    for path, name in names:
        exp_rows, cols, warns = _load_one(path, name)
        rows.extend(exp_rows)
        config_cols.update(dict.fromkeys(cols))
        warnings.extend(warns)
    if not rows:
        raise ExperimentError("no experiment directories given")
    return _to_frame(rows, list(config_cols), warnings)


def _experiment_names(paths: list[Path]) -> list[tuple[Path, str]]:
    names = [p.resolve().name for p in paths]
    return [
        (p, n if names.count(n) == 1 else str(p)) for p, n in zip(paths, names, strict=True)
    ]


def _to_frame(rows: list[dict], config_cols: list[str], warnings: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in NUMERIC_METRICS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    first = BASE_COLUMNS + [c for c in config_cols if c not in BASE_COLUMNS]
    rest = [c for c in df.columns if c not in first and c not in ("n_results", "history")]
    df = df[first + rest + ["n_results", "history"]]
    df.attrs["config_columns"] = [c for c in config_cols if c not in BASE_COLUMNS]
    df.attrs["warnings"] = warnings
    return df


def _load_one(path: Path, name: str) -> tuple[list[dict], list[str], list[str]]:
    if not path.is_dir():
        raise ExperimentError(f"{path}: not an experiment directory (no such directory)")
    entries = list(os.scandir(path))
    if not entries:
        raise ExperimentError(f"{path}: no trials (empty directory)")
    warnings: list[str] = []
    state, state_file = _read_state(path, warnings)
    marked = state_file is not None or any(
        e.name in ("tuner.pkl", "tune_bench_spec.json") for e in entries
    )
    meta_by_dir = state or {}
    dirs = {e.name for e in entries if e.is_dir()} | set(meta_by_dir)
    rows: list[dict] = []
    config_cols: dict[str, None] = {}
    base = str(path)
    for dirname in sorted(dirs):
        row = _read_trial(os.path.join(base, dirname), dirname, name, meta_by_dir.get(dirname))
        if row is not None:
            config_cols.update(dict.fromkeys(row.pop("_config_cols")))
            rows.append(row)
    if not rows:
        if marked:
            raise ExperimentError(f"{path}: no trials in this experiment")
        raise ExperimentError(
            f"{path}: not a Ray Tune experiment directory "
            "(no experiment_state-*.json and no trial directories)"
        )
    return rows, list(config_cols), warnings


def _loads(data: bytes | str) -> Any:
    """json.loads, through orjson when it is installed (it rejects NaN: then the stdlib)."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(data)


def _read_state(path: Path, warnings: list[str]) -> tuple[dict[str, dict] | None, Path | None]:
    """Trial info by trial directory name from the newest experiment_state-*.json."""
    files = sorted(path.glob("experiment_state-*.json"))
    if not files:
        return None, None
    newest = files[-1]
    try:
        data = _loads(newest.read_bytes())
        out: dict[str, dict] = {}
        for pair in data["trial_data"]:
            info = _loads(pair[0]) if isinstance(pair[0], str) else pair[0]
            logdir = info.get("relative_logdir") or info["trial_id"]
            out[logdir] = {
                "trial_id": info.get("trial_id"),
                "status": info.get("status"),
                "config": info.get("config"),
            }
        return out, newest
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        warnings.append(f"{newest}: unreadable ({exc}); trial states inferred from trial files")
        return None, newest


def _read_trial(d: str, dirname: str, experiment: str, meta: dict | None) -> dict | None:
    results = _read_results(d)
    error_text = _read_text(os.path.join(d, "error.txt"))
    config = meta.get("config") if meta else None
    if not isinstance(config, dict):
        config = _read_params(d)
    if config is None and results:
        config = results[-1].get("config")
    id_match = _TRIAL_ID_RE.search(dirname)
    if meta is None and not results and config is None and error_text is None and not id_match:
        return None
    last = results[-1] if results else {}
    trial_id = (meta or {}).get("trial_id") or last.get("trial_id")
    trial_id = trial_id or (id_match.group(1) if id_match else dirname)
    flat = flatten_config(config or {})
    row: dict[str, Any] = {
        "experiment": experiment,
        "trial_id": trial_id,
        "trial_dir": d,
        "state": _state(meta, results, error_text),
        "error": _error_line(error_text) if error_text else None,
    }
    for k, v in flat.items():
        row.setdefault(k, v)
    for k, v in last.items():
        if k not in _DROP_RESULT_KEYS and k not in row:
            row[k] = v
    row["n_results"] = len(results)
    row["history"] = [_history_row(r) for r in results]
    row["_config_cols"] = list(flat)
    return row


def _state(meta: dict | None, results: list[dict], error_text: str | None) -> str:
    status = (meta or {}).get("status")
    if isinstance(status, str) and status:
        return status
    if error_text is not None:
        return "ERROR"
    if results and (results[-1].get("final") or results[-1].get("done")):
        return "TERMINATED"
    return "INCOMPLETE" if results else "PENDING"


def _read_bytes(p: str) -> bytes | None:
    try:
        with open(p, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _read_text(p: str) -> str | None:
    data = _read_bytes(p)
    return None if data is None else data.decode("utf-8", errors="replace")


def _read_params(d: str) -> dict | None:
    data = _read_bytes(os.path.join(d, "params.json"))
    if not data:
        return None
    try:
        value = _loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _read_results(d: str) -> list[dict]:
    """result.json rows (a torn last line is skipped); progress.csv when result.json is absent."""
    data = _read_bytes(os.path.join(d, "result.json"))
    if data is None or not data.strip():
        return _read_progress_csv(os.path.join(d, "progress.csv"))
    rows: list[dict] = []
    for line in data.splitlines():
        if line.strip():
            try:
                row = _loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def _read_progress_csv(p: str) -> list[dict]:
    text = _read_text(p)
    if not text:
        return []
    rows = []
    for rec in csv.DictReader(text.splitlines()):
        rows.append({k: _parse_scalar(v) for k, v in rec.items() if k is not None})
    return rows


def _parse_scalar(v: str | None) -> Any:
    if v is None or v == "":
        return None
    if v in ("True", "False"):
        return v == "True"
    try:
        return json.loads(v)
    except ValueError:
        return v


def _history_row(r: dict) -> dict:
    return {
        k: v
        for k, v in r.items()
        if k in _HISTORY_SET or (type(v) in (int, float) and k.endswith(("_loss", "_acc")))
    }


def _error_line(text: str) -> str | None:
    """The exception line of an error.txt (the last `SomethingError: ...` line)."""
    lines = [_ANSI_RE.sub("", ln).rstrip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    for ln in reversed(lines):
        if _EXC_RE.match(ln.strip()):
            return ln.strip()
    for ln in reversed(lines):
        if not ln[0].isspace() and not ln.startswith(("Failure #", "Traceback")):
            return ln.strip()
    return lines[0].strip() if lines else None


def flatten_config(config: dict) -> dict[str, Any]:
    """Flatten nested dicts into plain keys (`{"variant": {"kernel": "poly"}}` -> `kernel`).

    As in `config.flatten_config`, a shallower key overrides a nested one of the same name
    (sampled axes at the top level override the grid point under `variant`).
    """
    if not any(isinstance(v, dict) for v in config.values()):
        return dict(config)
    out: dict[str, Any] = {}
    for path, value in sorted(_walk(config), key=lambda pv: pv[0].count(".")):
        out.setdefault(path.rsplit(".", 1)[-1], value)
    return out


def _walk(d: dict, parent: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in d.items():
        path = f"{parent}.{key}" if parent else str(key)
        if isinstance(value, dict) and value and value.get("_type") != "CLOUDPICKLE_FALLBACK":
            yield from _walk(value, path)
        else:
            yield path, value


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

