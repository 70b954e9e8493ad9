"""`tune-bench status`: trials per state and the best trial so far, read from disk."""

from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd

from tune_bench import analysis as an
from tune_bench import storage, tune_dir
from tune_bench.report.format import label, sort_key, state_counts_text
from tune_bench.report.format import present as report_present
from tune_bench.report.summary import SHOWN_ALONE


def status_summary(path: str | Path) -> str:
    """Trials per state and the best trial so far per dataset, for `tune-bench status`; `path`
    is a local experiment directory or its URI (read from a local copy of its JSON/CSV/text
    files)."""
    with storage.readable(path) as local:
        return _summary(local, str(path)).replace(str(local), str(path))


def _summary(path: Path, shown: str) -> str:
    df = an.load_experiments([path])
    counts = df["state"].value_counts().to_dict()
    unfinished = any(s not in ("TERMINATED", "ERROR") for s in counts)
    state = tune_dir.run_state(path, unfinished)
    if state == "interrupted":  # nothing runs: Tune's RUNNING / PENDING are not true any more
        left = sum(n for s, n in counts.items() if s not in ("TERMINATED", "ERROR"))
        counts = {s: n for s, n in counts.items() if s in ("TERMINATED", "ERROR")}
        counts["not finished"] = left
    lines = [f"{df['experiment'].iloc[0]}: {len(df)} trials: {state_counts_text(counts)}"]
    early = an.numeric(df[df["stopped_early"]], "epoch").fillna(0)
    if len(early):  # finished: the scheduler stopped them before their last epoch
        lines[0] += "; " + tune_dir.stopped_early_text(early, tune_dir.scheduler_name(path))
    if state in ("interrupted", "running"):
        lines[0] += f"; {state}"
    if state == "interrupted":
        lines.append(f"continue with: tune-bench resume {shlex.quote(shown)}")
    lines += [f"warning: {w}" for w in df.attrs.get("warnings", [])]
    lines += _best_so_far(df)
    errors = df[df["state"] == "ERROR"]
    for _, r in errors.head(5).iterrows():
        lines.append(f"error in {r['trial_id']}: {r['error'] or '(no error.txt)'}")
    if len(errors) > 5:
        lines.append(f"... and {len(errors) - 5} more errored trials")
    return "\n".join(lines)


def _keys(df: pd.DataFrame, row: pd.Series) -> list[str]:
    """The config keys that vary among the trials of `row`'s trainer in `df` (so no defaults
    every trial shares); the usual ones when nothing varies."""
    same = df[an.trainer_of(df) == an.trainer_of(row.to_frame().T).iloc[0]]
    cfg = [c for c in an.config_columns(same)
           if c not in ("trainer", "dataset", "model", "kernel", "seed")]
    return an.varying(same, cfg) or [k for k in SHOWN_ALONE if k in cfg and
                                      report_present(row.get(k))]


def _best_so_far(df: pd.DataFrame) -> list[str]:
    """One line per dataset: the best trial so far (final test_acc; before any trial finished,
    the last val_acc)."""
    lines = []
    datasets = df["dataset"].dropna().unique().tolist() if "dataset" in df.columns else []
    for ds in sorted(datasets, key=sort_key) or [None]:
        sub = df if ds is None else df[df["dataset"] == ds]
        where = "" if ds is None or len(datasets) < 2 else f" ({label('dataset', ds)})"
        best = an.best_trial(sub)
        if best is not None:
            lines.append(f"best so far{where}: {best['trial_id']} {_method(best)} "
                         f"({an.describe_config(best, _keys(df, best))}): "
                         f"final test_acc {an.pct(best['test_acc'])}%")
            continue
        val = an.numeric(sub, "val_acc")
        if val.notna().any():
            row = sub.loc[val.idxmax()]
            lines.append(f"best so far{where} (no trial finished; by last val_acc): "
                         f"{row['trial_id']} {_method(row)} "
                         f"({an.describe_config(row, _keys(df, row))}): "
                         f"val_acc {an.pct(row['val_acc'])}%")
        else:
            lines.append(f"best so far{where}: none (no results reported yet)")
    return lines


def _method(row: pd.Series) -> str:
    return str(an.method_of(row.to_frame().T).iloc[0])
