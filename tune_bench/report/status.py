"""`tune-bench status`: trials per state and the best trial so far, read from disk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tune_bench import analysis as an
from tune_bench import storage, tune_dir


def status_summary(path: str | Path) -> str:
    """Trials per state and the best trial so far, for `tune-bench status`; `path` is a local
    experiment directory or its URI (read from a local copy of its JSON/CSV/text files)."""
    with storage.readable(path) as local:
        return _summary(local).replace(str(local), str(path))


def _summary(path: Path) -> str:
    df = an.load_experiments([path])
    counts = df["state"].value_counts()
    order = [s for s in an.STATES if s in counts] + [s for s in counts.index if s not in an.STATES]
    lines = [f"{df['experiment'].iloc[0]}: {len(df)} trials: "
             + ", ".join(f"{counts[s]} {s}" for s in order)]
    early = an.numeric(df[df["stopped_early"]], "epoch").fillna(0)
    if len(early):  # finished: the scheduler stopped them before their last epoch
        lines[0] += "; " + tune_dir.stopped_early_text(early, tune_dir.scheduler_name(path))
    lines += [f"warning: {w}" for w in df.attrs.get("warnings", [])]
    lines.append(_best_so_far(df))
    errors = df[df["state"] == "ERROR"]
    for _, r in errors.head(5).iterrows():
        lines.append(f"error in {r['trial_id']}: {r['error'] or '(no error.txt)'}")
    if len(errors) > 5:
        lines.append(f"... and {len(errors) - 5} more errored trials")
    return "\n".join(lines)


def _best_so_far(df: pd.DataFrame) -> str:
    cfg = [c for c in an.config_columns(df) if c not in ("trainer", "seed")]
    keys = an.varying(df, cfg) or [c for c in ("dataset", "model", "kernel") if c in cfg]
    best = an.best_trial(df)
    if best is not None:
        return (f"best so far: {best['trial_id']} ({an.describe_config(best, keys)}): "
                f"final test_acc {an.pct(best['test_acc'])}%")
    val = an.numeric(df, "val_acc")
    if val.notna().any():
        row = df.loc[val.idxmax()]
        return (f"best so far (no trial finished; by last val_acc): {row['trial_id']} "
                f"({an.describe_config(row, keys)}): val_acc {an.pct(row['val_acc'])}%")
    return "best so far: none (no results reported yet)"
