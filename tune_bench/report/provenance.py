"""Where a report's numbers come from, for the head of the HTML report: when, the command and
space file, wall time, machines, devices, library versions and trial counts by state.

Read from the trials (every result row records hostname, device_name, versions and Tune's
timestamp) and from tune-bench's own files in each experiment directory (`tune_bench_spec.json`:
space file, options, creation time; `tune_bench_driver.json`: the last run's wall time).
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tune_bench.report.format import present, state_counts_text
from tune_bench.tune_dir import DRIVER_FILE, SPEC_FILE

# Options a sweep saves, as the command line spells them, with their defaults.
_OPTIONS = {"name": None, "address": None, "max_concurrent": None, "max_failures": 2,
            "drop_gpu_trials": False, "num_cpus": None, "keep_checkpoints": False,
            "shared_storage": False}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def command_of(spec: dict[str, Any]) -> str | None:
    """The `tune-bench sweep ...` command that made an experiment, from its saved spec."""
    source = spec.get("source")
    if not source:
        return None
    opts = spec.get("options") or {}
    words = ["tune-bench", "sweep", str(source)]
    if opts.get("storage_path"):
        words += ["--storage-path", str(opts["storage_path"])]
    for key, default in _OPTIONS.items():
        value = opts.get(key, default)
        if value == default or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        words += [flag] if value is True else [flag, str(value)]
    for key, value in (opts.get("overrides") or {}).items():
        words += ["--set", f"{key}={value}"]
    return shlex.join(words)


def _span(df: pd.DataFrame, created: list[str]) -> tuple[str, str]:
    """(when, how long): the first creation time to the last result."""
    stamps = pd.to_numeric(df.get("timestamp", pd.Series(dtype=float)), errors="coerce").dropna()
    last = time.strftime("%Y-%m-%d %H:%M", time.localtime(stamps.max())) if len(stamps) else ""
    first = min(created) if created else ""
    when = f"{first[:16].replace('T', ' ')} to {last}" if first and last else first or last
    how_long = ""
    if first and len(stamps):
        try:
            start = time.mktime(time.strptime(first[:19], "%Y-%m-%dT%H:%M:%S"))
            how_long = f"{(stamps.max() - start) / 60:.1f} min from creation to the last result"
        except ValueError:
            pass
    return when, how_long


def _unique(df: pd.DataFrame, col: str) -> str:
    if col not in df.columns:
        return ""
    counts = df[col].dropna().map(str).value_counts()
    return ", ".join(f"{v} ({n} trials)" if len(counts) > 1 else v for v, n in counts.items())


def _versions(df: pd.DataFrame) -> str:
    if "versions" not in df.columns:
        return ""
    seen = []
    for v in df["versions"]:
        if isinstance(v, dict) and v:
            text = ", ".join(f"{k} {x}" for k, x in sorted(v.items()) if present(x))
            if text not in seen:
                seen.append(text)
    return " | ".join(seen)


def provenance(df: pd.DataFrame, dirs: Sequence[Path]) -> list[tuple[str, str]]:
    """(label, text) rows for the report's head; `dirs`: local copies of the experiments."""
    specs = [_read_json(Path(d) / SPEC_FILE) for d in dirs]
    drivers = [_read_json(Path(d) / DRIVER_FILE) for d in dirs]
    created = [s["created"] for s in specs if s.get("created")]
    when, how_long = _span(df, created)
    rows = []
    per = df.groupby("experiment", sort=False)["state"].value_counts()
    exps = [f"{e} ({sum(per[e])} trials: {state_counts_text(per[e].to_dict())})"
            for e in df["experiment"].unique()]
    rows.append(("Experiments", "; ".join(exps)))
    if when:
        rows.append(("When", when))
    commands = [c for s in specs if (c := command_of(s))]
    if commands:
        rows.append(("Command", "\n".join(commands)))
    walls = [f"{d['wall_s']:.0f} s" for d in drivers if isinstance(d.get("wall_s"), int | float)]
    wall = "; ".join(x for x in [how_long, f"last run {', '.join(walls)}" if walls else ""] if x)
    if wall:
        rows.append(("Wall time", wall))
    for label, col in (("Machines", "hostname"), ("Devices", "device_name")):
        if text := _unique(df, col):
            rows.append((label, text))
    if text := _versions(df):
        rows.append(("Versions", text))
    return rows
