"""How values look in the tables: a table's cells as text, trial states in words; the value
helpers (numbers, hyperparameter values, labels, display order) come from `tune_bench.labels`.

Analysis builds numeric tables (`analysis.tables.Table`); `display` turns one into the strings
that markdown, LaTeX and HTML show, with the cells to emphasize.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

# The pure value helpers live in `tune_bench.labels` (analysis uses them too and must not
# import report); they stay importable from here.
from tune_bench.labels import (  # noqa: F401  (re-exported)
    COLUMN_LABELS,
    KERNEL_LABELS,
    MISSING,
    MODEL_LABELS,
    OPTIMIZER_LABELS,
    applies,
    describe_config,
    fmt,
    label,
    ms,
    pct,
    present,
    pvalue,
    sort_key,
    stat,
)

if TYPE_CHECKING:
    from tune_bench.analysis.tables import Table

# --------------------------------------------------------------------------- table cells


def _decimals(places: int) -> Callable[[Any], str]:
    def cell(v: Any) -> str:
        return MISSING if not present(v) else f"{float(v):.{places}f}"

    return cell


def _mean_sd(mean: Any, std: Any, n: Any) -> str:
    """'92.00 ± 2.00 (n=3)' with repeats, '92.00' for one run, '-' when missing."""
    if present(n) and n > 1:
        return f"{float(mean):.2f} ± {float(std):.2f} (n={int(n)})"
    return _decimals(2)(mean)


def _interval(low: Any, high: Any, n: Any) -> str:
    """'[87.03, 96.97]' with repeats, '-' otherwise."""
    if not present(n) or n < 2:
        return MISSING
    return f"[{float(low):.2f}, {float(high):.2f}]"


def _count_pair(a: Any, b: Any) -> str:
    return f"{int(a)}/{int(b)}"


def _mark(v: Any) -> str:
    return "*" if present(v) and bool(v) else ""


def _signed(v: Any) -> str:
    """'+0.90' / '-1.20' ('-' when missing)."""
    return MISSING if not present(v) else f"{float(v):+.2f}"


def _signed_interval(low: Any, high: Any) -> str:
    """'[+0.40, +1.40]' ('-' when either end is missing)."""
    if not present(low) or not present(high):
        return MISSING
    return f"[{float(low):+.2f}, {float(high):+.2f}]"


def _range(low: Any, high: Any) -> str:
    """An interval of non-negative quantities (importances): '[0.120, 0.400]'."""
    if not present(low) or not present(high):
        return MISSING
    return f"[{float(low):.3f}, {float(high):.3f}]"


# Cell kinds of `analysis.tables.Shown`: each takes the values of the shown column's sources.
CELLS: dict[str, Callable[..., str]] = {
    "value": fmt,
    "dec1": _decimals(1),
    "dec2": _decimals(2),
    "mean_sd": _mean_sd,
    "interval": _interval,
    "count_pair": _count_pair,
    "mark": _mark,
    "dec3": _decimals(3),
    "signed": _signed,
    "signed_interval": _signed_interval,
    "pvalue": pvalue,
    "stat": stat,
    "range": _range,
}


def display(table: Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The table's shown columns as text (the headers of every format) and a boolean frame of
    the cells to emphasize (a cell is emphasized when its first source cell is)."""
    df, emphasis = table.df, table.mask()
    text: dict[str, list[str]] = {}
    bold: dict[str, np.ndarray] = {}
    for shown in table.columns():
        cell = CELLS[shown.kind]
        values = [df[c].tolist() for c in shown.sources]
        text[shown.header] = [cell(*vs) for vs in zip(*values, strict=True)]
        bold[shown.header] = emphasis[shown.sources[0]].to_numpy(dtype=bool)
    return (pd.DataFrame(text, index=range(len(df)), dtype=object),
            pd.DataFrame(bold, index=range(len(df)), dtype=bool))


# --------------------------------------------------------------------------- trial states

# Tune's status names -> the words a person reads (CSV and parquet keep Tune's names)
STATE_WORDS = {"TERMINATED": "finished", "ERROR": "errored", "RUNNING": "running",
               "PENDING": "pending", "PAUSED": "paused", "INCOMPLETE": "incomplete"}


def state_word(state: Any) -> str:
    """'TERMINATED' -> 'finished', 'ERROR' -> 'errored', ...; other values as they are."""
    return STATE_WORDS.get(str(state), str(state))


def state_counts_text(counts: dict[str, int]) -> str:
    """e.g. '8 finished, 1 errored, 1 pending', in the order of STATE_WORDS."""
    order = [s for s in STATE_WORDS if counts.get(s)] + \
        [s for s in counts if s not in STATE_WORDS and counts[s]]
    return ", ".join(f"{counts[s]} {state_word(s)}" for s in order) or "no trials"
