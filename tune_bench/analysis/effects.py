"""Matched effects: for each factor and pair of its levels, the mean difference of the metric
over grid points that agree on every other factor (within a block: dataset, trainer).

Intervals (95%):
- with repeats (several seeds per grid point): the difference of cell means averaged over the
  matched points, its standard error from the pooled within-cell variance (Student t with the
  pooled degrees of freedom): the grid is fixed, the seed is the noise;
- single runs: the matched differences are the replicates (the other factors' combinations):
  Student t over them, or a BCa bootstrap (scipy.stats.bootstrap) when there are at least
  `BOOTSTRAP_MIN` of them and they are skewed (|skewness| > 1).
p-values (two-sided, same t) are Holm-corrected within each block.
"""

from __future__ import annotations

import gc
import math
from itertools import combinations

import numpy as np
import pandas as pd

from tune_bench.analysis.design import Design, row_groups

BOOTSTRAP_MIN = 10
SKEWED = 1.0
CONFIDENCE = 0.95
POOLED = "t, pooled repeats"
PAIRED = "t over matched pairs"
BOOTSTRAP = "bootstrap BCa over matched pairs"
METHODS = {
    POOLED: "Student t; SE of the mean difference from the pooled within-grid-point "
            "variance of the repeats (seeds), df = pooled repeat df; assumes independent runs "
            "with equal variance and normally distributed cell means",
    PAIRED: "Student t over the matched differences (df = pairs - 1); assumes the differences "
            "are independent and their mean is normally distributed",
    BOOTSTRAP: "BCa bootstrap (scipy.stats.bootstrap, 2000 resamples, seed 0) of the mean "
               "matched difference, used where the differences are skewed (|skewness| > 1) "
               "and there are at least 10 of them; assumes independent differences",
}
COLUMNS = ["Dataset", "Factor", "Level A", "Level B", "Effect", "CI low", "CI high", "Pairs",
           "Favour A", "Favour B", "Ties", "p", "p (Holm)", "Method", "Unit"]


def matched_effects(d: Design) -> pd.DataFrame:
    """One row per (factor, level pair) of the design's gridded factors: effect = mean of
    (B - A) in the metric's display units, its CI, pairs, how many favour each level (by the
    target's mode), p and Holm-corrected p."""
    rows = []
    s2, dof = d.pooled()
    pooled = d.repeats and dof > 0
    codes = np.column_stack([d.cells[f].cat.codes.to_numpy() for f in d.factors]) \
        if d.factors else np.zeros((len(d.cells), 0), dtype=int)
    mean, n = d.cells["mean"].to_numpy(dtype=float), d.cells["n"].to_numpy(dtype=float)
    for j, f in enumerate(d.factors):
        if f not in d.gridded:
            continue
        m, c = _pivot(codes, j, [len(d.levels[g]) for g in d.factors], mean, n)
        for (ia, a), (ib, b) in combinations(enumerate(d.levels[f]), 2):
            rows.append(_pair(d, f, a, b, m[:, ia], m[:, ib], c[:, ia], c[:, ib], s2, dof,
                              pooled))
    out = pd.DataFrame([r for r in rows if r is not None], columns=COLUMNS)
    if out.empty:
        return out
    out["p (Holm)"] = holm(out["p"].to_numpy(dtype=float))
    return out


def _pivot(codes: np.ndarray, j: int, sizes: list[int], mean: np.ndarray,
           n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell means and counts as matrices: one row per combination of the other factors' levels
    that ran, one column per level of factor `j` (NaN where that cell did not run)."""
    others = np.delete(codes, j, axis=1)
    _, _, row = row_groups(others, [s for i, s in enumerate(sizes) if i != j])
    shape = (int(row.max()) + 1 if len(row) else 0, sizes[j])
    m, c = np.full(shape, np.nan), np.full(shape, np.nan)
    m[row, codes[:, j]] = mean
    c[row, codes[:, j]] = n
    return m, c


def _pair(d: Design, f: str, a: str, b: str, ma: np.ndarray, mb: np.ndarray, na: np.ndarray,
          nb: np.ndarray, s2: float, dof: int, pooled: bool) -> dict | None:
    ok = np.isfinite(ma) & np.isfinite(mb)
    diff = mb[ok] - ma[ok]
    k = len(diff)
    if k == 0:
        return None
    mean = float(diff.mean())
    if pooled:
        inv = (1 / na[ok] + 1 / nb[ok]).sum()
        se, df, method = math.sqrt(s2 * inv) / k, dof, POOLED
        lo, hi = _t_interval(mean, se, df)
    elif k >= 2:
        se, df, method = float(diff.std(ddof=1)) / math.sqrt(k), k - 1, PAIRED
        lo, hi = _t_interval(mean, se, df)
        if k >= BOOTSTRAP_MIN and se > 0 and abs(_stats().skew(diff)) > SKEWED:
            lo, hi = _bootstrap(diff)
            method = BOOTSTRAP
    else:
        se, df, method, lo, hi = math.nan, 0, "one pair: no interval", math.nan, math.nan
    p = _p_value(mean, se, df)
    up, down = int((diff > 0).sum()), int((diff < 0).sum())
    fav_b, fav_a = (up, down) if d.target.mode == "max" else (down, up)
    sc = d.target.scale
    return {"Dataset": d.name, "Factor": f, "Level A": a, "Level B": b, "Effect": sc * mean,
            "CI low": sc * lo, "CI high": sc * hi, "Pairs": k, "Favour A": fav_a,
            "Favour B": fav_b, "Ties": k - up - down, "p": p, "p (Holm)": math.nan,
            "Method": method, "Unit": d.target.unit}


def _t_interval(mean: float, se: float, df: int) -> tuple[float, float]:
    if not math.isfinite(se) or df < 1:
        return math.nan, math.nan
    half = _t_quantile(0.5 + CONFIDENCE / 2, df) * se
    return mean - half, mean + half


def _p_value(mean: float, se: float, df: int) -> float:
    if not math.isfinite(se) or df < 1:
        return math.nan
    if se == 0:
        return 0.0 if mean != 0 else 1.0
    from scipy.special import stdtr

    return float(2 * stdtr(df, -abs(mean / se)))


def _bootstrap(diff: np.ndarray) -> tuple[float, float]:
    res = _stats().bootstrap((diff,), np.mean, confidence_level=CONFIDENCE, n_resamples=2000,
                          method="BCa", rng=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-corrected p-values (statsmodels' multipletests); NaN stays NaN."""
    from statsmodels.stats.multitest import multipletests

    out = np.full(len(p), math.nan)
    ok = np.isfinite(p)
    if ok.any():
        # multipletests' Holm branch calls gc.collect(); frozen objects are not scanned, so
        # it costs microseconds instead of a full collection of the analysis' heap.
        gc.freeze()
        try:
            out[ok] = multipletests(p[ok], alpha=0.05, method="holm")[1]
        finally:
            gc.unfreeze()
    return out


ALPHA = 0.05


def significant(row: pd.Series) -> bool:
    """The one rule for "significant" in text, bold cells and CSV: Holm-adjusted p < 0.05
    (within the block). A row without a Holm p (one pair: no test) is not significant."""
    p = row.get("p (Holm)")
    return bool(p is not None and np.isfinite(p) and p < ALPHA)


LARGE_SHARE = 5.0  # % of the variance: an interaction this large gets simple effects


def simple_effects(d: Design, res) -> pd.DataFrame:
    """For each two-way interaction f × g of the ANOVA `res` that is significant (Holm) and
    explains at least `LARGE_SHARE`% of the variance: the effect of f within each level of g
    (matched pairs among the trials at that level; the same methods as `matched_effects`),
    Holm across the simple effects of each f × g; both orientations (f by g, g by f)."""
    from tune_bench.analysis.design import design

    rows = []
    tab = res.table
    for _, term in tab[tab["Term"].str.contains(" × ", regex=False)].iterrows():
        if not (np.isfinite(term["p (Holm)"]) and term["p (Holm)"] < ALPHA
                and term["Share (%)"] >= LARGE_SHARE):
            continue
        f, g = term["Term"].split(" × ")
        for a, b in ((f, g), (g, f)):
            part = []
            for level in d.levels[b]:
                keep = d.x[b] == level
                if keep.sum() < 2:
                    continue
                frame = d.raw.loc[keep, [c for c in d.factors if c != b]].copy()
                frame.attrs["config_columns"] = list(frame.columns)
                frame["_metric"] = d.y[keep]
                sd = design(frame, _metric_target(d), d.name)
                eff = matched_effects(sd)
                eff = eff[eff["Factor"] == a] if not eff.empty else eff
                if not eff.empty:
                    part.append(eff.assign(By=b, Within=level))
            if part:
                block = pd.concat(part, ignore_index=True)
                block["p (Holm)"] = holm(block["p"].to_numpy(dtype=float))
                block["Share (%)"] = term["Share (%)"]
                block["Interaction p (Holm)"] = term["p (Holm)"]
                rows.append(block)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _metric_target(d: Design):
    """The design's target, on the column `_metric` of a frame of levels."""
    import dataclasses

    return dataclasses.replace(d.target, metric="_metric")


def excludes_zero(row: pd.Series) -> bool:
    """Whether the row's interval lies on one side of zero (a detectable difference)."""
    lo, hi = row["CI low"], row["CI high"]
    return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))


def _t_quantile(q: float, df: float) -> float:
    """Student t quantile (scipy.special.stdtrit: the same as scipy.stats.t.ppf, without
    the distribution object's overhead)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def _stats():
    """scipy.stats, imported on first use (it is slow to import)."""
    from scipy import stats

    return stats
