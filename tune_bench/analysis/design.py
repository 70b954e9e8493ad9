"""The experiment as a design for inference: the metric and its direction, the factors (config
keys that vary), one block per dataset (and trainer), and the grid cells with their repeats.

Shared by `effects` (matched differences), `anova` (variance decomposition and ties at the
top), `importance` (searches without a complete grid) and `findings` (the sentences).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_bench.analysis.columns import config_columns, numeric
from tune_bench.errors import ConfigError
from tune_bench.report.format import fmt, label, present, sort_key

DEFAULT_METRIC = "test_acc"
DEFAULT_MODE = "max"
MODES = ("max", "min")
SPEC_FILE = "tune_bench_spec.json"
# Config keys that identify a run rather than define a treatment.
BOOKKEEPING = frozenset({"seed", "trial_id", "trial_name", "experiment", "experiment_tag",
                         "trial_dir", "storage_path", "data_dir", "name"})
BLOCK_KEYS = ("dataset", "trainer")
MAX_LEVELS = 12  # factors with more levels are sampled, not gridded: importance, not pairs
_LABELLED = ("dataset", "model", "optimizer", "kernel")


@dataclass(frozen=True)
class Target:
    """The metric analyzed, its direction, and how it is shown: accuracies reported as
    fractions are shown in percentage points (scale 100)."""

    metric: str = DEFAULT_METRIC
    mode: str = DEFAULT_MODE
    scale: float = 1.0

    @property
    def unit(self) -> str:
        return "points" if self.scale == 100 else self.metric

    def show(self, x: float, signed: bool = False, places: int = 2) -> str:
        """A value (or a difference, `signed`) in display units."""
        if not present(x) or not math.isfinite(x):
            return "-"
        v = x * self.scale
        return f"{v:+.{places}f}" if signed else f"{v:.{places}f}"

    def better(self, diff: float) -> bool:
        """Whether a positive `diff` (b - a) means b is better."""
        return diff > 0 if self.mode == "max" else diff < 0


def spec_target(paths: Sequence[str | Path]) -> tuple[str | None, str | None]:
    """(metric, mode) from the first experiment's saved tune-bench spec, else (None, None)."""
    for p in paths:
        f = Path(p) / SPEC_FILE
        try:
            spec = json.loads(f.read_text()).get("spec") or {}
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(spec, dict) and spec.get("metric"):
            return str(spec["metric"]), str(spec.get("mode") or DEFAULT_MODE)
    return None, None


def resolve_target(df: pd.DataFrame, metric: str | None = None,
                   mode: str | None = None) -> Target:
    """The target for `df`: `metric`/`mode` given, else df.attrs (set from the saved spec),
    else test_acc/max. A metric no trial reports, or a bad mode, is a ConfigError."""
    metric = metric or df.attrs.get("metric") or DEFAULT_METRIC
    mode = mode or df.attrs.get("mode") or DEFAULT_MODE
    if mode not in MODES:
        raise ConfigError(f"mode: must be max or min (got {mode!r})")
    values = numeric(df, metric)
    if not values.notna().any():
        if metric == DEFAULT_METRIC and "metric" not in df.attrs:
            return Target(metric, mode)  # no data at all: the tables say so
        raise ConfigError(f"metric: no trial reports {metric!r}")
    fraction = metric.endswith(("acc", "accuracy")) and values.dropna().between(0, 1).all()
    return Target(metric, mode, 100.0 if fraction else 1.0)


def target_of(df: pd.DataFrame) -> Target:
    """The target recorded in df.attrs (by `write_report`), validated leniently."""
    try:
        return resolve_target(df)
    except ConfigError:
        return Target(df.attrs.get("metric") or DEFAULT_METRIC,
                      df.attrs.get("mode") or DEFAULT_MODE)


# --------------------------------------------------------------------------- blocks


@dataclass
class Design:
    """One block (dataset, trainer) of finished trials as a design.

    `x`: the factor levels of each trial as ordered categoricals of display text; `y`: the
    metric; `cells`: one row per grid point (the factors, `mean`, `n`, `var`); `levels`: each
    factor's levels in display order; `dropped`: notes on factors left out (aliased)."""

    name: str
    target: Target
    factors: list[str]
    x: pd.DataFrame
    y: pd.Series
    seed: pd.Series
    cells: pd.DataFrame
    levels: dict[str, list[str]]
    dropped: list[str] = field(default_factory=list)

    @property
    def repeats(self) -> bool:
        """Whether some grid point ran more than once (other seeds)."""
        return bool((self.cells["n"] > 1).any())

    @property
    def gridded(self) -> list[str]:
        """Factors with few enough levels to compare pairwise."""
        return [f for f in self.factors if len(self.levels[f]) <= MAX_LEVELS]

    @property
    def complete(self) -> bool:
        """Whether every combination of the factors' levels ran (a full factorial grid)."""
        if not self.factors or self.gridded != self.factors:
            return False
        return len(self.cells) == math.prod(len(v) for v in self.levels.values())

    def pooled(self) -> tuple[float, int]:
        """Pooled within-cell variance of the repeats and its degrees of freedom."""
        rep = self.cells[self.cells["n"] > 1]
        dof = int((rep["n"] - 1).sum())
        if dof == 0:
            return math.nan, 0
        return float(((rep["n"] - 1) * rep["var"]).sum() / dof), dof

    def with_metric(self, y: pd.Series) -> Design:
        """The same design with other metric values (`y` indexed like `x`)."""
        return dataclasses.replace(self, y=y, cells=_cells(self.x, y))

    def repeat_text(self) -> str:
        """How the runs were replicated, for notes and findings."""
        n = self.cells["n"]
        if not self.repeats:
            return (f"single runs ({len(n)} grid points, one run each): intervals use the "
                    "grid's own replication")
        lo, hi = int(n.min()), int(n.max())
        each = f"{lo}" if lo == hi else f"{lo}-{hi}"
        return (f"{each} runs (seeds) per grid point over {len(n)} points: intervals use the "
                "seed-level variation (pooled repeats)")


def blocks(df: pd.DataFrame, target: Target) -> Iterator[Design]:
    """One `Design` per dataset (and trainer, when trainers are mixed) with finished trials."""
    y_all = numeric(df, target.metric)
    fin = df[y_all.notna()]
    keys = [k for k in BLOCK_KEYS if k in fin.columns and fin[k].notna().any()]
    if not keys:
        yield from _designs(fin, target, "all trials")
        return
    text = {k: _as_text(fin[k]) for k in keys}
    varying_keys = [k for k in keys if text[k].nunique() > 1]
    groups = list(fin.groupby([text[k] for k in keys], sort=False, dropna=False))
    groups.sort(key=lambda kv: tuple(sort_key(v) for v in kv[0]))
    for key, sub in groups:
        parts = [label(k, v) if k in _LABELLED else v for k, v in zip(keys, key, strict=True)]
        name = " / ".join(p for k, p, v in zip(keys, parts, key, strict=True)
                          if v != "-" and (k in varying_keys or k == "dataset")) or "all trials"
        yield from _designs(sub, target, name)


def _designs(sub: pd.DataFrame, target: Target, name: str) -> Iterator[Design]:
    if len(sub):
        yield design(sub, target, name)


def _text(v: Any) -> str:
    return fmt(v) if not isinstance(v, (list, dict)) else json.dumps(v, sort_keys=True)


def _as_text(col: pd.Series) -> pd.Series:
    """`_text` of every value, computed once per distinct value ('-' for missing)."""
    try:
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
    except TypeError:  # unhashable values
        return col.map(_text)
    names = np.asarray([*(_text(v) for v in uniques), "-"], dtype=object)
    return pd.Series(names[codes], index=col.index)


def candidate_factors(df: pd.DataFrame) -> list[str]:
    """Config keys that may be factors: not bookkeeping, not a block key, scalar values."""
    out = []
    for c in config_columns(df):
        if c in BOOKKEEPING or c in BLOCK_KEYS:
            continue
        sample = df[c].dropna()
        if len(sample) and sample.map(lambda v: isinstance(v, (list, dict, tuple))).any():
            continue
        out.append(c)
    return out


def _levels(col: pd.Series) -> tuple[pd.Series, list[str]]:
    """A column as display text (NaN as '-'; SGD, ResNet-18, ... for the labelled keys) and
    its levels in display order."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    text = [label(str(col.name), v) if col.name in _LABELLED else _text(v) for v in uniques]
    order = sorted(range(len(uniques)), key=lambda i: sort_key(uniques[i]))
    names = list(dict.fromkeys([text[i] for i in order]))
    if (codes < 0).any():
        names.append("-")
    labels = np.asarray([*text, "-"], dtype=object)[codes]
    return pd.Series(labels, index=col.index), names


def design(sub: pd.DataFrame, target: Target, name: str) -> Design:
    """The design of one block of finished trials."""
    xs, levels = {}, {}
    for c in candidate_factors(sub):
        text, names = _levels(sub[c])
        if len(names) > 1:
            xs[c], levels[c] = text, names
    x = pd.DataFrame(xs, index=sub.index)
    x, dropped = _drop_aliased(x)
    levels = {c: levels[c] for c in x.columns}
    for c in x.columns:
        x[c] = pd.Categorical(x[c], categories=levels[c], ordered=True)
    y = numeric(sub, target.metric)
    seed = sub["seed"] if "seed" in sub.columns else pd.Series(0, index=sub.index)
    return Design(name, target, list(x.columns), x, y, seed, _cells(x, y), levels, dropped)


def _drop_aliased(x: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Drop gridded factors whose levels map one-to-one onto an earlier gridded factor's
    (confounded: e.g. pin_memory set only on the GPU); they cannot be separated. Sampled
    factors (many levels, e.g. a log-uniform lr) are left alone: every trial has its own
    value, which says nothing about confounding."""
    keep, notes = [], []
    gridded = {c for c in x.columns if x[c].nunique() <= MAX_LEVELS}
    for c in x.columns:
        alias = None if c not in gridded else next(
            (k for k in keep if k in gridded and _one_to_one(x[k], x[c])), None)
        if alias is None:
            keep.append(c)
        else:
            notes.append(f"{c} is confounded with {alias} (each {alias} level has one {c} "
                         "level): analyzed as part of " + alias)
    return x[keep], notes


def _one_to_one(a: pd.Series, b: pd.Series) -> bool:
    pairs = pd.DataFrame({"a": a, "b": b}).drop_duplicates()
    return len(pairs) == a.nunique() == b.nunique()


def row_groups(codes: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """np.unique of the rows of `codes` (level codes, column j < sizes[j]): the unique keys,
    the first row of each and each row's group, in the order of the levels."""
    if codes.shape[1] == 0:
        return np.zeros(1, dtype=int), np.zeros(1, dtype=int), np.zeros(len(codes), dtype=int)
    if math.prod(sizes) < 2**62:
        key = np.ravel_multi_index(codes.T, sizes)
        uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    else:  # too many combinations for one integer key: compare the rows
        uniq, first, inv = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    return uniq, first, inv.reshape(-1)


def _cells(x: pd.DataFrame, y: pd.Series) -> pd.DataFrame:
    """One row per observed grid point: the factors (categoricals), mean, n and variance
    (ddof 1; NaN for a single run) of y; ordered by the factors' levels."""
    values = y.to_numpy(dtype=float)
    if x.shape[1] == 0:
        return pd.DataFrame({"mean": [values.mean()], "n": [len(values)],
                             "var": [values.var(ddof=1) if len(values) > 1 else np.nan]})
    codes = np.column_stack([x[c].cat.codes.to_numpy() for c in x.columns])
    uniq, first, inv = row_groups(codes, [len(x[c].cat.categories) for c in x.columns])
    n = np.bincount(inv, minlength=len(uniq)).astype(float)
    mean = np.bincount(inv, weights=values, minlength=len(uniq)) / n
    ss = np.bincount(inv, weights=(values - mean[inv]) ** 2, minlength=len(uniq))
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n > 1, ss / (n - 1), np.nan)
    out = {c: pd.Categorical.from_codes(codes[first, i], dtype=x[c].dtype)
           for i, c in enumerate(x.columns)}
    return pd.DataFrame({**out, "mean": mean, "n": n.astype(int), "var": var})
