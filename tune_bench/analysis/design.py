"""The experiment as a design for inference: the metric and its direction, the factors (config
keys that vary), one block per dataset (and trainer), and the grid cells with their repeats.

Shared by `effects` (matched differences), `anova` (variance decomposition and ties at the
top), `importance` (searches without a complete grid) and `findings` (the sentences).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tune_bench.analysis.columns import config_columns, numeric, stopped_early
from tune_bench.analysis.target import (  # noqa: F401  (re-exported)
    DEFAULT_METRIC,
    DEFAULT_MODE,
    MODES,
    Target,
    resolve_target,
    set_target,
    target_of,
)
from tune_bench.labels import fmt, label, present, sort_key
from tune_bench.tune_dir import stopped_early_text

# Config keys that identify a run rather than define a treatment.
BOOKKEEPING = frozenset({"seed", "trial_id", "trial_name", "experiment", "experiment_tag",
                         "trial_dir", "storage_path", "data_dir", "name"})
BLOCK_KEYS = ("dataset", "trainer")
MAX_LEVELS = 12  # factors with more levels are sampled, not gridded: importance, not pairs
_LABELLED = ("dataset", "model", "optimizer", "kernel")


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
    # What kind of experiment the block is (`KINDS`), its sampled factors (continuous or
    # many-level values: every trial its own), the search algorithm when it is adaptive, how
    # the metric was made comparable under early stopping, and the trials' last values of it
    # (all trials that reported it; Tune's scope="last") for the best trial.
    kind: str = "grid"
    sampled: list[str] = field(default_factory=list)
    searcher: str | None = None
    budget: str = ""
    last: pd.Series | None = None
    raw: pd.DataFrame | None = None

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


KINDS = {
    "grid": "grid",
    "sampled": "sampled search",
    "pbt": "population-based training",
}


def blocks(df: pd.DataFrame, target: Target) -> Iterator[Design]:
    """One `Design` per dataset (and trainer, when trainers are mixed) with trials that
    reported the metric."""
    y_all = numeric(df, target.metric)
    fin = df[y_all.notna()]
    keys = [k for k in BLOCK_KEYS if k in fin.columns and fin[k].notna().any()]
    searchers = set(df.attrs.get("searchers", {}).values())
    searcher = ", ".join(sorted(searchers)) or None
    if not keys:
        yield from _designs(fin, target, "all trials", searcher)
        return
    text = {k: _as_text(fin[k]) for k in keys}
    varying_keys = [k for k in keys if text[k].nunique() > 1]
    groups = list(fin.groupby([text[k] for k in keys], sort=False, dropna=False))
    groups.sort(key=lambda kv: tuple(sort_key(v) for v in kv[0]))
    for key, sub in groups:
        parts = [label(k, v) if k in _LABELLED else v for k, v in zip(keys, key, strict=True)]
        name = " / ".join(p for k, p, v in zip(keys, parts, key, strict=True)
                          if v != "-" and (k in varying_keys or k == "dataset")) or "all trials"
        yield from _designs(sub, target, name, searcher)


def _designs(sub: pd.DataFrame, target: Target, name: str,
             searcher: str | None = None) -> Iterator[Design]:
    if not len(sub):
        return
    last = numeric(sub, target.metric)
    y, budget = equal_budget(sub, target.metric)
    d = design(sub[y.notna()], target, name, y=y[y.notna()])
    d.last, d.budget, d.searcher = last, budget, searcher
    if "n_configs" in sub.columns and (numeric(sub, "n_configs") > 1).any():
        d.kind = "pbt"
    elif d.sampled or searcher:
        d.kind = "sampled"
    yield d


def equal_budget(sub: pd.DataFrame, metric: str) -> tuple[pd.Series, str]:
    """The metric of each trial at an equal budget, and how (empty when no trial was stopped
    early: then each trial's last value).

    When a scheduler stopped some trials early, final values are not comparable (the
    scheduler chose who went on): the metric at the most iterations every trial reached, when
    every trial reported it there; else only the trials that ran the full budget."""
    last = numeric(sub, metric)
    early = stopped_early(sub)
    if not early.any():
        return last, ""
    head = stopped_early_text(numeric(sub[early], "iterations").fillna(0), unit="iteration",
                              total=len(sub))
    reached = numeric(sub, "iterations")
    common = reached.min()
    at = pd.Series(
        [_value_at(h, metric, common) for h in sub.get("history", [None] * len(sub))],
        index=sub.index, dtype=float)
    if math.isfinite(common) and at.notna().all():
        return at, (f"{head}: effects compare every trial's {metric} at iteration "
                    f"{int(common)}, the most iterations all of them reached (the scheduler "
                    "chose which trials went on, so final values are not comparable)")
    full = last.where(~early)
    return full, (f"{head}: effects compare only the {int(full.notna().sum())} trials that "
                  f"ran the full budget ({int(reached.max())} iterations), which the "
                  "scheduler selected as the promising ones")


def _value_at(history: Any, metric: str, iteration: float) -> float:
    """The metric a trial reported at `iteration` (training_iteration), NaN when it did not."""
    if not isinstance(history, list):
        return math.nan
    for h in history:
        if h.get("training_iteration") == iteration:
            v = h.get(metric)
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) \
                else math.nan
    return math.nan


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
    """Config keys that may be factors: not bookkeeping, not a block key. List and dict values
    are levels as written (`[64, 64]`)."""
    return [c for c in config_columns(df) if c not in BOOKKEEPING and c not in BLOCK_KEYS]


def _levels(col: pd.Series) -> tuple[pd.Series, list[str]]:
    """A column as display text (NaN as '-'; SGD, ResNet-18, ... for the labelled keys; lists
    and dicts as JSON) and its levels in display order."""
    if col.map(lambda v: isinstance(v, (list, dict, tuple))).any():
        col = _as_text(col).where(col.map(present), None).rename(col.name)
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    text = [label(str(col.name), v) if col.name in _LABELLED else _text(v) for v in uniques]
    order = sorted(range(len(uniques)), key=lambda i: sort_key(uniques[i]))
    names = list(dict.fromkeys([text[i] for i in order]))
    if (codes < 0).any():
        names.append("-")
    labels = np.asarray([*text, "-"], dtype=object)[codes]
    return pd.Series(labels, index=col.index), names


def is_sampled(col: pd.Series, others: int) -> bool:
    """Whether a factor's values were sampled rather than gridded: numbers (not booleans) with
    at least 3 distinct values of which more than `MAX_LEVELS`, or mostly values that only one
    trial has while other factors vary too (in a grid every level recurs across the others'
    levels), or values with more than 6 significant digits (uniform draws, not grid values)."""
    values = col.dropna()
    if values.empty or values.map(lambda v: isinstance(v, bool) or
                                  not isinstance(v, (int, float))).any():
        return False
    counts = values.value_counts()
    if len(counts) < 3:
        return False
    if len(counts) > MAX_LEVELS:
        return True
    singletons = float((counts == 1).mean())
    long = values.map(lambda v: len(f"{float(v):.15g}".lstrip("-").replace(".", "")
                                    .lstrip("0")) > 6).any()
    return singletons > 0.5 and (others > 0 or long)


def design(sub: pd.DataFrame, target: Target, name: str,
           y: pd.Series | None = None) -> Design:
    """The design of one block of finished trials (`y`: the metric, default the last value)."""
    xs, levels = {}, {}
    for c in candidate_factors(sub):
        text, names = _levels(sub[c])
        if len(names) > 1:
            xs[c], levels[c] = text, names
    sampled = [c for c in xs if is_sampled(sub[c], len(xs) - 1)]
    x = pd.DataFrame(xs, index=sub.index)
    x, dropped = _drop_aliased(x, set(sampled))
    levels = {c: levels[c] for c in x.columns}
    for c in x.columns:
        x[c] = pd.Categorical(x[c], categories=levels[c], ordered=True)
    y = numeric(sub, target.metric) if y is None else y
    seed = sub["seed"] if "seed" in sub.columns else pd.Series(0, index=sub.index)
    return Design(name, target, list(x.columns), x, y, seed, _cells(x, y), levels, dropped,
                  sampled=[c for c in sampled if c in x.columns],
                  raw=sub[list(x.columns)])


def _drop_aliased(x: pd.DataFrame, sampled: set[str]) -> tuple[pd.DataFrame, list[str]]:
    """Drop gridded factors whose levels map one-to-one onto an earlier gridded factor's
    (confounded: e.g. pin_memory set only on the GPU); they cannot be separated. Sampled
    factors (continuous or many-level values) are left alone: every trial has its own value,
    which says nothing about confounding."""
    keep: list[str] = []
    notes: list[str] = []
    gridded = {c for c in x.columns if x[c].nunique() <= MAX_LEVELS and c not in sampled}
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
