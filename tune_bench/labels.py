"""Pure display helpers of values, shared by `analysis` (which words its notes and findings
with them) and `report` (which shows the tables): missing values, numbers (percent,
milliseconds, p-values, test statistics), hyperparameter values, display labels (MNIST,
ResNet-18, SGD), display order and `key=value` configurations.

Depends on nothing else of tune_bench but the dataset catalog (`tune_bench.datasets`, plain
data: the datasets' labels and order come from there), so that `analysis/` never imports
`report/`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tune_bench import datasets

MODEL_LABELS = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50"}
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
_ORDER = {"sgd": 0, "adam": 1}  # datasets: their catalog order


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
    if kind == "dataset" and isinstance(v, str):
        return datasets.label(v)
    table = {"dataset": {}, "model": MODEL_LABELS, "optimizer": OPTIMIZER_LABELS,
             "kernel": KERNEL_LABELS}[kind]
    return table.get(v, fmt(v)) if isinstance(v, str) else fmt(v)


def sort_key(v: Any) -> tuple:
    """Display order: datasets in their catalog order (MNIST before FashionMNIST), SGD before
    Adam, strings before numbers."""
    if isinstance(v, str):
        return (0, _ORDER.get(v, datasets.order(v)), v)
    return (1, 0, v if present(v) else math.inf)


# Hyperparameters that only mean something for some values of another one: (column, values).
_APPLIES = {"degree": ("kernel", {"poly"}), "coef0": ("kernel", {"poly", "sigmoid"}),
            "gamma": ("kernel", {"rbf", "poly", "sigmoid"}), "momentum": ("optimizer", {"sgd"})}


def applies(row: pd.Series, key: str) -> bool:
    """Whether hyperparameter `key` means something for this row (no degree for rbf, ...)."""
    if key not in _APPLIES:
        return True
    col, values = _APPLIES[key]
    return col not in row.index or not present(row[col]) or row[col] in values


def describe_config(row: pd.Series, keys: Sequence[str]) -> str:
    """`key=value, ...` for the given keys; missing ones, and ones the row's kernel or optimizer
    ignores (degree of an rbf SVM, momentum of Adam), are skipped."""
    parts = [f"{k}={fmt(row[k])}" for k in keys
             if k in row.index and present(row[k]) and applies(row, k)]
    return ", ".join(parts) if parts else "(single configuration)"


def pvalue(p: Any) -> str:
    """A p-value: 3 significant digits, '<0.001' below ('-' when missing)."""
    if not present(p):
        return MISSING
    return "<0.001" if float(p) < 0.001 else f"{float(p):.3g}"


def stat(v: Any) -> str:
    """A test statistic (F, t): 2 decimals; '>1e6' where the residual is about zero and the
    statistic means nothing more than "far beyond any threshold"."""
    if not present(v):
        return MISSING
    return ">1e6" if abs(float(v)) >= 1e6 else f"{float(v):.2f}"
