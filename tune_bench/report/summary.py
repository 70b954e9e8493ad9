"""The end of a sweep on the terminal: one screen with the answer first.

Per dataset the best configuration (highest mean final test accuracy over its repeats, ties by
lower training time: the rule of the tables), its accuracy with the 95% confidence interval
where there are repeats, its training time; then the trial counts by state, where the
experiment is and the commands that write the full report. Notes are said once.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from tune_bench import analysis as an
from tune_bench.report.format import label, present, state_counts_text

# what names the best configuration when it is the only one of its trainer
SHOWN_ALONE = ("optimizer", "lr", "batch_size", "epochs", "C", "gamma", "degree")


def best_per_dataset(df: pd.DataFrame) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per dataset: method, configuration (the keys that vary among that dataset's
    configurations of the same trainer), accuracy (%), CI half-width (%), n, train time (s),
    configurations compared; and the notes (each once)."""
    fin = an.with_final_metric(df)
    if fin.empty:
        return [], []
    fin = fin.assign(_method=an.method_of(fin))
    groups = an.config_groups(fin, by=["_method"])
    skip = {"trainer", "dataset", "model", "kernel", "seed", "_method"}
    cfg = [c for c in an.config_columns(fin) if c not in skip]
    rows, repeats = [], False
    for ds, sub in groups.groupby("dataset", dropna=False, sort=False):
        sub = an.rank(sub)
        b = sub.iloc[0]
        same = sub[an.trainer_of(sub) == an.trainer_of(sub.iloc[[0]]).iloc[0]] \
            if "trainer" in sub.columns else sub
        keys = an.varying(same, cfg) or [k for k in SHOWN_ALONE if k in cfg]
        repeats |= bool(b["n"] > 1)
        rows.append({"dataset": label("dataset", ds) if present(ds) else "-",
                     "method": b["_method"], "config": an.describe_config(b, keys),
                     "acc": 100 * b["acc_mean"],
                     "ci": 100 * b["acc_ci95"] if b["n"] > 1 else math.nan, "n": int(b["n"]),
                     "time_s": b["time_mean"] / 1000, "configs": len(sub)})
    rows.sort(key=lambda r: {"MNIST": 0, "FashionMNIST": 1}.get(r["dataset"], 2))
    notes = [an.BEST_RULE]
    notes.append("± is the 95% confidence interval over repeats (Student t)" if repeats
                 else an.SINGLE_RUNS)
    return rows, notes


def headline(path: Path | str, states: dict[str, int], wall_s: float | None = None,
             note: str = "", interrupted: bool = False) -> Text:
    """e.g. 'experiment: ray_results/smoke: 10 trials: 9 finished, 1 errored (83.2 s)'; of an
    interrupted sweep, its unfinished trials are 'not finished' (nothing runs any more)."""
    if interrupted:
        left = sum(n for s, n in states.items() if s not in ("TERMINATED", "ERROR"))
        states = {s: n for s, n in states.items() if s in ("TERMINATED", "ERROR")}
        states = {**states, "not finished": left} if left else states
    head = Text.assemble("experiment: ", (str(path), "bold"),
                         f": {sum(states.values())} trials: ", state_counts_text(states))
    if interrupted:
        head.append(" (interrupted)")
    if note:
        head.append(f"; {note}")
    if wall_s:
        head.append(f" ({wall_s:.1f} s)")
    return head


def sweep_summary(path: Path | str, df: pd.DataFrame) -> RenderableType:
    """The answer of the experiment at `path` (`df`: its trials) as rich renderables: the best
    configuration per dataset, the notes, the command that writes the full report."""
    parts: list[RenderableType] = []
    rows, notes = best_per_dataset(df)
    if rows:
        parts.append(_best_table(rows))
        parts += [Text(f"note: {n}", style="dim") for n in notes]
    else:
        parts.append(Text("no trial finished: no best configuration yet"))
    quoted = shlex.quote(str(path))
    parts.append(Text.assemble(("full report: ", "bold"), f"tune-bench analyze {quoted}"))
    parts.append(Text.assemble(("with plots:  ", "bold"),
                               f"tune-bench analyze {quoted} --format html --out report"))
    return Group(*parts)


def seconds(s: float) -> str:
    """Seconds with 2 significant decimals below 10 s, 1 above ('-' when missing)."""
    if not present(s):
        return "-"
    return f"{s:.2f}" if s < 10 else f"{s:.1f}"


def _best_table(rows: list[dict[str, Any]]) -> RichTable:
    t = RichTable(title="Best configuration per dataset", title_justify="left",
                  title_style="bold", show_edge=False, pad_edge=False)
    t.add_column("Dataset")
    t.add_column("Best")
    t.add_column("Configuration", overflow="fold")
    t.add_column("Test acc (%)", justify="right")
    t.add_column("Train time (s)", justify="right")
    t.add_column("Configs", justify="right")
    for r in rows:
        acc = f"{r['acc']:.2f}"
        if present(r["ci"]):
            acc += f" ± {r['ci']:.2f} (n={r['n']})"
        t.add_row(r["dataset"], r["method"], r["config"], acc, seconds(r["time_s"]),
                  str(r["configs"]))
    return t


def summary_of(path: Path | str) -> RenderableType:
    """`sweep_summary` of the experiment at `path` (a local directory or a URI)."""
    from tune_bench import storage
    from tune_bench.forecast.compare import read_comparison

    with storage.readable(path) as local:
        df = an.load_experiments([local])
        forecast = read_comparison(local)  # forecast against actual, when there was one
    summary = sweep_summary(path, df)
    if not forecast:
        return summary
    return Group(summary, *(Text(line) for line in forecast))
