"""Variance decomposition of a complete grid (factorial ANOVA: main effects and two-way
interactions, type II sums of squares, statsmodels' `ols` + `anova_lm(typ=2)`) and the ties at
the top (the grid points not significantly below the best one).

The residual is the noise estimate:
- with repeats, the pooled within-grid-point variance (pure error); what the two-way model
  leaves besides it is a row of its own, "higher-order interactions", tested against it;
- single runs, the higher-order (three-way and up) interactions; with two factors the two-way
  model is saturated, so the two-way interaction is the residual (main effects only).
F-test p-values are Holm-corrected within each block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tune_bench.analysis.design import Design
from tune_bench.analysis.effects import holm

RESIDUAL_REPEATS = "Residual (pooled repeats)"
RESIDUAL_HIGHER = "Residual (higher-order interactions)"
RESIDUAL_TWO_WAY = "Residual (two-way interaction)"
LACK_OF_FIT = "higher-order interactions"
COLUMNS = ["Dataset", "Term", "SS", "df", "F", "p", "p (Holm)", "Share (%)"]


@dataclass
class Anova:
    """The ANOVA of one block: its table (`COLUMNS`), the noise variance and df, notes."""

    table: pd.DataFrame
    sigma2: float
    dof: int
    residual: str
    notes: list[str] = field(default_factory=list)

    def strongest_interaction(self) -> tuple[str, str] | None:
        """The two factors of the interaction with the largest share, if any."""
        inter = self.table[self.table["Term"].str.contains(" × ", regex=False)]
        if inter.empty:
            return None
        a, b = inter.sort_values("SS", ascending=False)["Term"].iloc[0].split(" × ")
        return a, b


def _formula_names(factors: list[str]) -> dict[str, str]:
    return {f: f"C(f{i}, Sum)" for i, f in enumerate(factors)}


def _fit(data: pd.DataFrame, factors: list[str], two_way: bool):
    """OLS of y on the factors (rows: grid points; `w`, when present, the runs behind each
    point's mean: weighted least squares on the means gives the same term sums of squares as
    OLS on every run, at the cost of the grid's size instead of the runs')."""
    import statsmodels.formula.api as smf

    terms = " + ".join(_formula_names(factors).values())
    formula = f"y ~ ({terms})**2" if two_way and len(factors) > 1 else f"y ~ {terms}"
    if "w" in data.columns:
        return smf.wls(formula, data, weights=data["w"]).fit()
    return smf.ols(formula, data).fit()


def anova(d: Design) -> tuple[Anova | None, str]:
    """The ANOVA of a complete grid, or (None, why not)."""
    if not d.factors:
        return None, "nothing varies"
    if not d.complete:
        n_cells = math.prod(len(v) for v in d.levels.values())
        return None, (f"not a complete grid ({len(d.cells)} of {n_cells} level combinations "
                      "ran)" if d.gridded == d.factors else "factors with many levels "
                      "(a sampled search, not a grid)")
    s2, pe_dof = d.pooled()
    if d.repeats and pe_dof > 0:
        cells = d.cells
        data = pd.DataFrame({f"f{i}": cells[f].astype(str) for i, f in enumerate(d.factors)})
        data["y"] = cells["mean"].to_numpy(dtype=float) * d.target.scale
        data["w"] = cells["n"].to_numpy(dtype=float)
        return _with_repeats(d, data, s2 * d.target.scale**2, pe_dof), ""
    data = pd.DataFrame({f"f{i}": d.x[f].astype(str) for i, f in enumerate(d.factors)})
    data["y"] = d.y.to_numpy(dtype=float) * d.target.scale
    model = _fit(data, d.factors, two_way=True)
    residual, notes = RESIDUAL_HIGHER, []
    if model.df_resid < 1:
        model = _fit(data, d.factors, two_way=False)
        residual = RESIDUAL_TWO_WAY
        notes.append("two factors, single runs: the two-way model leaves no residual, so the "
                     "interaction is the noise estimate (main effects only)")
    if model.df_resid < 1:
        return None, "single runs of a one-factor grid: no residual to test against"
    from statsmodels.stats.anova import anova_lm

    table = anova_lm(model, typ=2)
    rows = _rows(d, table, residual)
    return _finish(d, rows, float(model.mse_resid), int(model.df_resid), residual, notes), ""


def _with_repeats(d: Design, data: pd.DataFrame, s2: float, pe_dof: int) -> Anova:
    """Two-way model on the grid points' means weighted by their runs; F-tests against the
    pooled repeats (pure error). The weighted residual of the means is what the two-way model
    leaves of the grid: the higher-order interactions."""
    from statsmodels.stats.anova import anova_lm

    model = _fit(data, d.factors, two_way=True)
    if model.df_resid < 1:  # the model is the grid itself: fit every run, pure error residual
        runs = pd.DataFrame({f"f{i}": d.x[f].astype(str) for i, f in enumerate(d.factors)})
        runs["y"] = d.y.to_numpy(dtype=float) * d.target.scale
        model = _fit(runs, d.factors, two_way=True)
        rows = _rows(d, anova_lm(model, typ=2), RESIDUAL_REPEATS)
        return _finish(d, rows, float(model.mse_resid), int(model.df_resid), RESIDUAL_REPEATS,
                       [])
    table = anova_lm(model, typ=2)
    rows = _rows(d, table, None)
    ss_pe = s2 * pe_dof
    lof_ss, lof_df = float(model.ssr), int(round(model.df_resid))
    if lof_df > 0:
        rows.append({"Term": LACK_OF_FIT, "SS": max(lof_ss, 0.0), "df": lof_df})
    for r in rows:
        r["F"] = (r["SS"] / r["df"]) / s2 if s2 > 0 else math.nan
        r["p"] = float(_stats().f.sf(r["F"], r["df"], pe_dof)) if s2 > 0 else math.nan
    rows.append({"Term": RESIDUAL_REPEATS, "SS": ss_pe, "df": pe_dof})
    return _finish(d, rows, s2, pe_dof, RESIDUAL_REPEATS, [])


def _rows(d: Design, table: pd.DataFrame, residual: str | None) -> list[dict]:
    names = {v: k for k, v in _formula_names(d.factors).items()}
    rows = []
    for term, r in table.iterrows():
        if term == "Residual":
            if residual is not None:
                rows.append({"Term": residual, "SS": r["sum_sq"], "df": int(r["df"])})
            continue
        parts = [names[p] for p in str(term).split(":")]
        rows.append({"Term": " × ".join(parts), "SS": float(r["sum_sq"]), "df": int(r["df"]),
                     "F": float(r["F"]), "p": float(r["PR(>F)"])})
    return rows


def _finish(d: Design, rows: list[dict], s2: float, dof: int, residual: str,
            notes: list[str]) -> Anova:
    out = pd.DataFrame(rows).reindex(columns=COLUMNS)
    out["Dataset"] = d.name
    total = out["SS"].sum()
    out["Share (%)"] = 100 * out["SS"] / total if total > 0 else math.nan
    tested = out["F"].notna().to_numpy()
    out.loc[tested, "p (Holm)"] = holm(out.loc[tested, "p"].to_numpy(dtype=float))
    return Anova(out, s2, dof, residual, notes)


# --------------------------------------------------------------------------- ties


@dataclass
class Ties:
    """The best grid point and those within noise of it (one-sided t at 5%)."""

    best: pd.Series
    tied: pd.DataFrame
    method: str


def ties_at_top(d: Design, sigma2: float | None = None, dof: int = 0,
                source: str = "") -> Ties | None:
    """Grid points whose mean is not significantly worse than the best one: the best-minus-
    point difference is below t(0.95, df) * sigma * sqrt(1/n_best + 1/n_point). `sigma2` and
    `dof` (in display units squared) default to the pooled repeats."""
    if sigma2 is None:
        s2, dof = d.pooled()
        sigma2, source = s2 * d.target.scale**2, "pooled repeats"
    if not (math.isfinite(sigma2) and dof > 0) or len(d.cells) < 2:
        return None
    cells = d.cells.assign(_m=d.cells["mean"] * d.target.scale)
    sign = 1.0 if d.target.mode == "max" else -1.0
    order = np.argsort(-sign * cells["_m"].to_numpy(), kind="stable")
    cells = cells.iloc[order].reset_index(drop=True)
    best = cells.iloc[0]
    gap = sign * (best["_m"] - cells["_m"].iloc[1:])
    se = np.sqrt(sigma2 * (1 / best["n"] + 1 / cells["n"].iloc[1:]))
    crit = float(_stats().t.ppf(0.95, dof))
    tied = cells.iloc[1:][gap.to_numpy() <= crit * se.to_numpy()]
    method = (f"one-sided t at 5% against the best grid point, sigma from the {source} "
              f"(sigma = {math.sqrt(sigma2):.3g} {d.target.unit}, df = {dof}); the best is "
              "picked after the fact, so the count is optimistic about the best")
    return Ties(best, tied, method)


def _stats():
    """scipy.stats, imported on first use (it is slow to import)."""
    from scipy import stats

    return stats
