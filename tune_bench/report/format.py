"""How values look in the tables: numbers (percent, milliseconds), hyperparameter values,
display labels (MNIST, ResNet-18, SGD), display order, and a table's cells as text.

Analysis builds numeric tables (`analysis.tables.Table`); `display` turns one into the strings
that markdown, LaTeX and HTML show, with the cells to emphasize.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from tune_bench.analysis.tables import Table

MODEL_LABELS = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50"}
DATASET_LABELS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
OPTIMIZER_LABELS = {"sgd": "SGD", "adam": "Adam"}
KERNEL_LABELS = {"poly": "Poly", "rbf": "RBF"}
COLUMN_LABELS = {
    "batch_size": "Batch Size",
    "optimizer": "Optimizer",
    "lr": "LR",
    "epochs": "Epochs",
    "device": "Device",
    "seed": "Seed",
    "kernel": "Kernel",
    "degree": "degree",
}
MISSING = "-"
_ORDER = {"mnist": 0, "fashion_mnist": 1, "sgd": 0, "adam": 1}


def present(v: Any) -> bool:
    """False for None, NaN and pandas' NA."""
    if v is None or v is pd.NA:
        return False
    return not (isinstance(v, float) and math.isnan(v))


def pct(x: Any) -> str:
    """A fraction as a percentage with 2 decimals ('-' when missing)."""
    return MISSING if not present(x) else f"{100 * float(x):.2f}"


def ms(x: Any) -> str:
    """Milliseconds with 1 decimal ('-' when missing)."""
    return MISSING if not present(x) else f"{float(x):.1f}"


def fmt(v: Any) -> str:
    """A hyperparameter value for display."""
    if not present(v):
        return MISSING
    if isinstance(v, bool) or isinstance(v, np.bool_):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() and abs(v) >= 1 else f"{float(v):g}"
    return str(v)


def label(kind: str, v: Any) -> str:
    """Display label of a dataset / model / optimizer / kernel value."""
    table = {"dataset": DATASET_LABELS, "model": MODEL_LABELS, "optimizer": OPTIMIZER_LABELS,
             "kernel": KERNEL_LABELS}[kind]
    return table.get(v, fmt(v)) if isinstance(v, str) else fmt(v)


def sort_key(v: Any) -> tuple:
    """Display order: MNIST before FashionMNIST, SGD before Adam, strings before numbers."""
    if isinstance(v, str):
        return (0, _ORDER.get(v, 99), v)
    return (1, 0, v if present(v) else math.inf)


# Hyperparameters that only mean something for some values of another one: (column, values).
_APPLIES = {"degree": ("kernel", {"poly"}), "coef0": ("kernel", {"poly", "sigmoid"}),
            "gamma": ("kernel", {"rbf", "poly", "sigmoid"}), "momentum": ("optimizer", {"sgd"})}


def applies(row: pd.Series, key: str) -> bool:
    """Whether hyperparameter `key` means something for this row (no degree for rbf, ...)."""
    col, values = _APPLIES.get(key, (None, None))
    return col is None or col not in row.index or not present(row[col]) or row[col] in values


def describe_config(row: pd.Series, keys: Sequence[str]) -> str:
    """`key=value, ...` for the given keys; missing ones, and ones the row's kernel or optimizer
    ignores (degree of an rbf SVM, momentum of Adam), are skipped."""
    parts = [f"{k}={fmt(row[k])}" for k in keys
             if k in row.index and present(row[k]) and applies(row, k)]
    return ", ".join(parts) if parts else "(single configuration)"


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


def pvalue(p: Any) -> str:
    """A p-value: 3 significant digits, '<0.001' below ('-' when missing)."""
    if not present(p):
        return MISSING
    return "<0.001" if float(p) < 0.001 else f"{float(p):.3g}"


def _range(low: Any, high: Any) -> str:
    """An interval of non-negative quantities (importances): '[0.120, 0.400]'."""
    if not present(low) or not present(high):
        return MISSING
    return f"[{float(low):.3f}, {float(high):.3f}]"


def stat(v: Any) -> str:
    """A test statistic (F, t): 2 decimals; '>1e6' where the residual is about zero and the
    statistic means nothing more than "far beyond any threshold"."""
    if not present(v):
        return MISSING
    return ">1e6" if abs(float(v)) >= 1e6 else f"{float(v):.2f}"


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
