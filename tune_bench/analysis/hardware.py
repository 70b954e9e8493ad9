"""CPU vs GPU over the matched pairs of `tables.cpu_gpu_pairs` (same dataset, model, optimizer,
batch size, lr, epochs, n_train; averaged per device over seeds):

- accuracy difference GPU - CPU: mean, 95% Student-t interval over the pairs, and an
  equivalence test (TOST, statsmodels' `ttost_paired`) with a margin of +-`MARGIN_POINTS`;
- speedup (CPU time / GPU time) against model cost (MACs): Spearman's rank correlation with a
  95% percentile bootstrap interval (scipy.stats.bootstrap, pairs resampled).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

MARGIN_POINTS = 0.5
ALPHA = 0.05


@dataclass
class Hardware:
    """The CPU/GPU statistics of one dataset (in accuracy points; NaN where not computable)."""

    block: str
    pairs: int
    acc_diff: float
    ci_low: float
    ci_high: float
    tost_p: float
    speedup_median: float
    rho: float
    rho_low: float
    rho_high: float
    rho_pairs: int

    @property
    def equivalent(self) -> bool:
        return math.isfinite(self.tost_p) and self.tost_p < ALPHA


def hardware(df: pd.DataFrame) -> list[Hardware]:
    """One `Hardware` per dataset with matched CPU/GPU pairs (none without)."""
    from tune_bench.analysis.tables import cpu_gpu_pairs

    pairs, _ = cpu_gpu_pairs(df)
    if pairs is None:
        return []
    if "dataset" not in pairs.columns:
        pairs = pairs.assign(dataset="all trials")
    return [_one(str(ds), sub) for ds, sub in pairs.groupby("dataset", sort=True, dropna=False)]


def _one(block: str, p: pd.DataFrame) -> Hardware:
    gpu = 100 * p["acc_gpu"].to_numpy(dtype=float)
    cpu = 100 * p["acc_cpu"].to_numpy(dtype=float)
    diff = gpu - cpu
    n = len(diff)
    lo = hi = tost = math.nan
    if n >= 2:
        se = diff.std(ddof=1) / math.sqrt(n)
        half = float(_stats().t.ppf(0.975, n - 1)) * se
        lo, hi = diff.mean() - half, diff.mean() + half
        if se > 0:
            from statsmodels.stats.weightstats import ttost_paired

            tost = float(ttost_paired(gpu, cpu, -MARGIN_POINTS, MARGIN_POINTS)[0])
        else:
            tost = 0.0 if abs(diff.mean()) < MARGIN_POINTS else 1.0
    rho, rlo, rhi, m = _rank_correlation(p["macs"].to_numpy(dtype=float),
                                         p["speedup"].to_numpy(dtype=float))
    return Hardware(block, n, float(diff.mean()) if n else math.nan, lo, hi, tost,
                    float(np.nanmedian(p["speedup"])) if n else math.nan, rho, rlo, rhi, m)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(_stats().spearmanr(x, y).statistic)


def _rank_correlation(macs: np.ndarray, speedup: np.ndarray) -> tuple[float, float, float, int]:
    ok = np.isfinite(macs) & np.isfinite(speedup)
    x, y = macs[ok], speedup[ok]
    if len(x) < 3 or np.unique(x).size < 2 or np.unique(y).size < 2:
        return math.nan, math.nan, math.nan, int(len(x))
    rho = _spearman(x, y)
    res = _stats().bootstrap((x, y), _spearman, paired=True, vectorized=False,
                          confidence_level=0.95, n_resamples=999, method="percentile",
                          rng=np.random.default_rng(0))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return rho, lo, hi, int(len(x))


ACC_METHOD = (f"GPU - CPU final test accuracy per matched pair (points); 95% Student-t "
              f"interval over the pairs; equivalence: TOST (statsmodels ttost_paired) with "
              f"margin ±{MARGIN_POINTS} points at 5%; assumes independent pairs and a normally "
              "distributed mean difference")
RHO_METHOD = ("Spearman rank correlation of speedup with MACs over the pairs; 95% percentile "
              "bootstrap interval (999 resamples of pairs, seed 0); resamples where a side is "
              "constant give no correlation and are left out by scipy")


def _stats():
    """scipy.stats, imported on first use (it is slow to import)."""
    from scipy import stats

    return stats
