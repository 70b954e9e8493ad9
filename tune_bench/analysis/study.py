"""The inference of every block, by the methods its design admits: matched effects, ANOVA,
ties and simple effects on grids; rank correlations, level differences and importance on
sampled searches; nothing but the best trial under population-based training; CPU/GPU pairs.
Computed once per DataFrame (`study`), then presented by `findings` (sentences) and
`inference_tables` (tables). See docs/findings.md."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tune_bench.analysis import sampled as sampled_stats
from tune_bench.analysis.anova import Anova, Ties, anova, ties_at_top
from tune_bench.analysis.columns import numeric
from tune_bench.analysis.design import Design, Target, blocks, target_of
from tune_bench.analysis.effects import (
    matched_effects,
    simple_effects,
)
from tune_bench.analysis.hardware import Hardware, hardware
from tune_bench.analysis.sampled import ImportanceResult

NOTHING = "nothing is called better when its 95% interval includes zero"
SIGNIFICANT = ("significant = Holm-adjusted p < 0.05 within the dataset (the same rule in the "
               "text, the bold cells and the CSV's 'best' columns); intervals are 95%, "
               "per comparison")


@dataclass
class BlockResult:
    """Everything inferred for one block, by the methods its design admits (`design.kind`)."""

    design: Design
    effects: pd.DataFrame
    anova: Anova | None
    anova_reason: str
    ties: Ties | None
    importance: ImportanceResult | None
    best: pd.Series | None = None  # the best trial (last value, as Ray's get_best_trial)
    simple: pd.DataFrame | None = None  # simple effects where an interaction is large
    rho: pd.DataFrame | None = None  # sampled searches: rank correlations
    levels: pd.DataFrame | None = None  # sampled searches: categorical level differences


@dataclass
class Study:
    """The inference of a trials DataFrame: per block, and the CPU/GPU pairs."""

    target: Target
    blocks: list[BlockResult] = field(default_factory=list)
    hardware: list[Hardware] = field(default_factory=list)


_CACHE: list[tuple[pd.DataFrame, str, Study]] = []


def study(df: pd.DataFrame) -> Study:
    """The inference for `df` (computed once per DataFrame and target, then reused by the
    tables, the findings and the plots)."""
    target = target_of(df)
    key = f"{target.metric}/{target.mode}"
    for frame, k, s in _CACHE:
        if frame is df and k == key:
            return s
    s = _compute(df, target)
    _CACHE[:] = [*_CACHE[-3:], (df, key, s)]
    return s


def _compute(df: pd.DataFrame, target: Target) -> Study:
    out = Study(target)
    for d in blocks(df, target):
        best = best_trial_by(df.loc[d.last.index], target) if d.last is not None else None
        if d.kind == "pbt":  # configs changed within trials: no fixed treatments to compare
            out.blocks.append(BlockResult(d, pd.DataFrame(), None, "", None, None, best))
            continue
        if d.kind == "sampled":
            out.blocks.append(_sampled(d, best))
            continue
        res, reason = anova(d)
        ties = ties_at_top(d) if d.repeats else None
        if ties is None and res is not None:
            ties = ties_at_top(d, res.sigma2, res.dof, "ANOVA " + res.residual.lower())
        imp = None if d.complete else _importance(d)
        simple = simple_effects(d, res) if res is not None else None
        out.blocks.append(BlockResult(d, matched_effects(d), res, reason, ties, imp, best,
                                      simple))
    if target.metric == "test_acc":
        out.hardware = hardware(df)
    return out


def _sampled(d: Design, best: pd.Series | None) -> BlockResult:
    """Rank correlations, level differences and importance with intervals: every trial drew
    its own values, so no grid point has a match."""
    raw = d.raw if d.raw is not None else pd.DataFrame(index=d.y.index)
    params = sampled_stats.params_of(raw)
    adaptive = d.searcher is not None
    rho = sampled_stats.rank_correlations(raw, d.y, params, mode=d.target.mode,
                                          adaptive=adaptive)
    levels = sampled_stats.level_effects(raw, d.y, params, d.target.mode, adaptive=adaptive)
    return BlockResult(d, pd.DataFrame(), None, "a sampled search, not a grid", None,
                       _importance(d), best, None, rho, levels)


def _importance(d: Design) -> ImportanceResult | None:
    if not d.factors:
        return None
    raw = d.raw if d.raw is not None else pd.DataFrame(index=d.y.index)
    params = sampled_stats.params_of(raw)
    return sampled_stats.importance_with_intervals(raw, d.y, params, d.target.mode,
                                                   adaptive=d.searcher is not None)


def best_trial_by(df: pd.DataFrame, target: Target) -> pd.Series | None:
    """The trial with the best last reported value of the metric, NaN and infinities left
    out, the first in trial order on ties: what Ray's
    `ExperimentAnalysis.get_best_trial(metric, mode, scope="last")` returns."""
    y = numeric(df, target.metric)
    ok = y[np.isfinite(y.to_numpy(dtype=float))]
    if ok.empty:
        return None
    return df.loc[ok.idxmax() if target.mode == "max" else ok.idxmin()]


def value_text(v: object, key: str = "") -> str:
    """A config value as shown: lists and dicts as JSON, labelled keys as labels."""
    from tune_bench.labels import fmt, label

    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return label(key, v) if key in ("dataset", "model", "optimizer", "kernel") else fmt(v)
