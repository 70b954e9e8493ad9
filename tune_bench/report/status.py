"""`tune-bench status`: trials per state and the best trial so far, read from disk."""

from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd

from tune_bench import analysis as an
from tune_bench import tune_dir
from tune_bench.analysis.findings import best_trial_by
from tune_bench.analysis.target import Target
from tune_bench.report.format import label, sort_key, state_counts_text
from tune_bench.report.format import present as report_present
from tune_bench.report.summary import SHOWN_ALONE


def status_summary(path: str | Path, metric: str | None = None,
                   mode: str | None = None) -> str:
    """Trials per state and the best trial so far per dataset, for `tune-bench status`; `path`
    is a local experiment directory or its URI (read from a local copy of its JSON/CSV/text
    files). The best is by `metric`/`mode`, else the recorded ones (see analysis.target: a
    ConfigError listing the metrics when it cannot tell). Through `tune_bench.api`."""
    from tune_bench.api import load

    return load(path, metric, mode).status()


def status_text(path: Path, shown: str, df: pd.DataFrame, target: Target) -> str:
    """The status of the experiment whose files are at `path` (a local directory; `shown`:
    how the user named it) and whose trials are `df`, the best by `target`."""
    counts = df["state"].value_counts().to_dict()
    unfinished = any(s not in ("TERMINATED", "ERROR") for s in counts)
    state = tune_dir.run_state(path, unfinished)
    if state == "interrupted":  # nothing runs: Tune's RUNNING / PENDING are not true any more
        left = sum(n for s, n in counts.items() if s not in ("TERMINATED", "ERROR"))
        counts = {s: n for s, n in counts.items() if s in ("TERMINATED", "ERROR")}
        counts["not finished"] = left
    lines = [f"{df['experiment'].iloc[0]}: {len(df)} trials: {state_counts_text(counts)}"]
    stopped = df[df["stopped_early"]]
    if len(stopped):  # finished: the scheduler stopped them before their last epoch
        epochs = an.numeric(stopped, "epoch")
        unit = "epoch" if epochs.notna().all() else "iteration"
        at = epochs if unit == "epoch" else an.numeric(stopped, "iterations")
        lines[0] += "; " + tune_dir.stopped_early_text(at.fillna(0),
                                                       tune_dir.scheduler_name(path), unit)
    if state in ("interrupted", "running"):
        lines[0] += f"; {state}"
    if state == "interrupted":
        lines.append(f"continue with: tune-bench resume {shlex.quote(shown)}")
    lines += [f"warning: {w}" for w in df.attrs.get("warnings", [])]
    lines += _best_so_far(df, target)
    errors = df[df["state"] == "ERROR"]
    for _, r in errors.head(5).iterrows():
        lines.append(f"error in {r['trial_id']}: {r['error'] or '(no error.txt)'}")
    if len(errors) > 5:
        lines.append(f"... and {len(errors) - 5} more errored trials")
    return "\n".join(lines)


def _keys(df: pd.DataFrame, row: pd.Series) -> list[str]:
    """The config keys that vary among the trials of `row`'s trainer in `df` (so no defaults
    every trial shares); the usual ones when nothing varies."""
    trainer = an.trainer_of(row.to_frame().T).iloc[0]
    same = df if not report_present(trainer) else df[an.trainer_of(df) == trainer]
    cfg = [c for c in an.config_columns(same)
           if c not in ("trainer", "dataset", "model", "kernel", "seed")]
    return an.varying(same, cfg) or [k for k in SHOWN_ALONE if k in cfg and
                                      report_present(row.get(k))]


def _best_so_far(df: pd.DataFrame, target: Target) -> list[str]:
    """One line per dataset: the best trial so far by the target's last reported value (as
    Ray's get_best_trial(scope="last")); before any trial reported test_acc, the last
    val_acc."""
    lines = []
    datasets = df["dataset"].dropna().unique().tolist() if "dataset" in df.columns else []
    pct = "%" if target.scale == 100 else ""
    for ds in sorted(datasets, key=sort_key) or [None]:
        sub = df if ds is None else df[df["dataset"] == ds]
        where = "" if ds is None or len(datasets) < 2 else f" ({label('dataset', ds)})"
        best = best_trial_by(sub, target)
        if best is not None:
            early = " (stopped early)" if bool(best.get("stopped_early")) else ""
            lines.append(f"best so far{where}: {best['trial_id']}{early} {_method(best)}"
                         f"({an.describe_config(best, _keys(df, best))}): "
                         f"{'final ' if target.metric == 'test_acc' else ''}{target.metric} "
                         f"{target.show(best[target.metric])}{pct}")
            continue
        val = an.numeric(sub, "val_acc")
        if target.metric == "test_acc" and val.notna().any():
            row = sub.loc[val.idxmax()]
            lines.append(f"best so far{where} (no trial finished; by last val_acc): "
                         f"{row['trial_id']} {_method(row)}"
                         f"({an.describe_config(row, _keys(df, row))}): "
                         f"val_acc {an.pct(row['val_acc'])}%")
        else:
            lines.append(f"best so far{where}: none (no trial reported {target.metric} yet)")
    return lines


def _method(row: pd.Series) -> str:
    """'ResNet-18 ' / 'SVM (rbf) ' for tune-bench's trainers, '' for other trainables."""
    m = str(an.method_of(row.to_frame().T).iloc[0])
    return "" if m in ("", "-", "None", "nan", "unknown") else m + " "
