"""Statistics for sampled searches (random search, Optuna, any continuous or many-level
hyperparameter): every trial draws its own values, so there are no grid points to match.

- `rank_correlations`: Spearman's rho between each numeric hyperparameter and the metric, a
  percentile bootstrap interval over trials, spearmanr's p-value and Holm across parameters;
- `level_effects`: differences of the mean metric between the levels of each categorical
  hyperparameter (Welch t intervals), marginal over the other sampled parameters;
- `importance_with_intervals`: optuna's PED-ANOVA importance with a bootstrap interval over
  trials and a permuted-metric noise level (scikit-learn forest without optuna).

All three take the raw values (`x`, one column per hyperparameter), the metric (`y`, indexed
like `x`) and the parameters (`params_of(x)` or given). Trials with a missing metric are
dropped; constant parameters are skipped with a note (`DataFrame.attrs["notes"]`, or
`ImportanceResult.notes`). Pure functions: no Ray, no report formatting.
"""

from __future__ import annotations

import gc
import json
import math
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

CONFIDENCE = 0.95
N_BOOT = 100  # bootstrap resamples of the importances
N_PERM = 100  # permutations of the metric for the importances' noise level
MIN_TRIALS = 25  # fewer: no importance ranking (see docs/findings.md, "Sampled searches")
TARGET_QUANTILE = 0.25  # PED-ANOVA's top set: the best quarter of the trials
LOG_RATIO = 100.0  # a positive numeric parameter spanning this ratio is taken as log-sampled
MODES = ("max", "min")

SPEARMAN = "partial Spearman rho, Fisher z"
WELCH = "Welch t"
ADJUSTED = "OLS adjusted for the other parameters, HC3"
PED_ANOVA = "PED-ANOVA, bootstrap"
FOREST = "forest permutation importance, bootstrap"
METHODS = {
    SPEARMAN: "partial rank correlation: Spearman's rho of a parameter and the metric after "
              "removing the other parameters (their ranks; categorical ones as level "
              "indicators) from both by least squares; t test with n - 2 - k df (k other "
              "regressors), Holm across parameters; 95% interval by Fisher's z with Bonett and "
              "Wright's standard error sqrt((1 + rho²/2)/(df - 1)); no interval or test below 4 "
              "residual df; "
              "assumes independent trials (random sampling) and monotone, roughly additive "
              "effects; rank-based, so the same on a log scale",
    WELCH: "difference of mean metric between two levels (or a level and the rest) with a Welch "
           "t interval and test (statsmodels CompareMeans, unequal variances; Holm across all "
           "comparisons); marginal over the other randomly sampled parameters: assumes "
           "independent trials whose other parameters do not depend on the level",
    ADJUSTED: "difference of mean metric between two levels adjusted for the other "
              "parameters: OLS of the metric on the other parameters (numeric ones as ranks, "
              "categorical ones as level indicators) and the level, heteroscedasticity-"
              "consistent (HC3) standard errors, t with the residual df (at least 4), Holm "
              "across all comparisons; assumes independent trials and additive effects",
    PED_ANOVA: f"optuna PED-ANOVA importance (PedAnovaImportanceEvaluator, top "
               f"{TARGET_QUANTILE:.0%} of trials vs all, unnormalized Pearson divergence; "
               "log-sampled parameters on the log scale) with a percentile bootstrap interval "
               f"over trials ({N_BOOT} resamples) and a noise level: the 95th percentile of "
               f"the importance with the metric permuted ({N_PERM} permutations); assumes "
               "independent trials",
    FOREST: f"scikit-learn permutation importance of a random forest (drop in R² when a "
            f"parameter is shuffled; log-sampled parameters as log10) with a percentile "
            f"bootstrap interval over trials ({N_BOOT} resamples) and a permuted-metric noise "
            "level; assumes independent trials",
}
ADAPTIVE_NOTE = ("adaptive searcher (e.g. Optuna TPE): the sampler chose where to go from "
                 "earlier results, so the parameters' values are confounded with each other and "
                 "with the search's progress; marginal effects and intervals describe these "
                 "trials, not a causal effect")

RHO_COLUMNS = ["Param", "Rho", "CI low", "CI high", "N", "p", "p (Holm)", "Direction",
               "Method"]
LEVEL_COLUMNS = ["Param", "Level A", "Level B", "N A", "N B", "Mean A", "Mean B", "Effect",
                 "CI low", "CI high", "p", "p (Holm)", "Better", "Method"]
IMPORTANCE_COLUMNS = ["Param", "Importance", "Share", "CI low", "CI high", "Noise level",
                      "p (perm)", "p (perm, Holm)", "Above noise", "Rank", "Separated",
                      "Method"]


@dataclass
class Param:
    """One hyperparameter of the search: its full dotted name, `kind` ("numeric" or
    "categorical") and whether a numeric one was sampled on a log scale."""

    name: str
    kind: str
    log: bool = False


@dataclass
class ImportanceResult:
    """Importances with intervals (`table`, best first), or only a `message` when there were
    too few trials (then `table` is empty). `notes`: parameters skipped and caveats."""

    table: pd.DataFrame
    n: int
    method: str
    message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ranked(self) -> bool:
        """Whether importances were computed."""
        return not self.table.empty


# --------------------------------------------------------------------------- parameters


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_))


def _text(v: Any) -> str:
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict, tuple)) else str(v)


def params_of(x: pd.DataFrame) -> list[Param]:
    """One `Param` per column: numeric when every present value is a number (bools, strings
    and lists-as-text are categorical); log when positive and max/min >= `LOG_RATIO`."""
    out = []
    for c in x.columns:
        col = x[c]
        present = col[~col.map(_missing)]
        numeric = len(present) > 0 and (
            (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col))
            or bool(present.map(_is_number).all()))
        if not numeric:
            out.append(Param(str(c), "categorical"))
            continue
        v = present.astype(float)
        lo, hi = float(v.min()), float(v.max())
        out.append(Param(str(c), "numeric", bool(lo > 0 and hi / lo >= LOG_RATIO)))
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))


def _prepare(x: pd.DataFrame, y: pd.Series, mode: str | None = None) -> tuple[
        pd.DataFrame, np.ndarray, list[str]]:
    """Trials with a finite metric: (x, y as floats, notes)."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be 'max' or 'min' (got {mode!r})")
    yv = pd.to_numeric(pd.Series(y), errors="coerce").reindex(x.index).to_numpy(dtype=float)
    ok = np.isfinite(yv)
    notes = []
    if not ok.all():
        notes.append(f"{int((~ok).sum())} trial(s) without a finite metric left out")
    return x.loc[ok], yv[ok], notes


def _numeric_values(col: pd.Series) -> np.ndarray:
    """The column as floats (non-numbers as NaN)."""
    return pd.to_numeric(col.map(lambda v: v if _is_number(v) else np.nan),
                         errors="coerce").to_numpy(dtype=float)


def _constant_note(name: str) -> str:
    return f"{name}: the same value in every trial: skipped"


def _tied_note(n: int) -> str:
    return f"the metric is the same in all {n} trials: nothing to compare"


# --------------------------------------------------------------------------- rank correlations


MIN_RHO_DF = 4  # fewer residual degrees of freedom: rho without interval or test


def _ranks(v: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.rankdata(v)


def _covariates(x: pd.DataFrame, params: list[Param], skip: str,
                rows: np.ndarray) -> np.ndarray:
    """The other parameters of the trials `rows` as regressors: ranks of the numeric ones
    (complete in those trials), indicators of the categorical ones' levels (first dropped)."""
    cols = []
    for q in params:
        if q.name == skip:
            continue
        if q.kind == "numeric":
            v = _numeric_values(x[q.name])[rows]
            if np.isfinite(v).all() and np.ptp(v) > 0:
                cols.append(_ranks(v))
        else:
            text = x[q.name].map(lambda v: "-" if _missing(v) else _text(v)).to_numpy()[rows]
            for level in sorted(set(text))[1:]:
                cols.append((text == level).astype(float))
    return np.column_stack(cols) if cols else np.zeros((len(rows), 0))


def _partial_r(rv: np.ndarray, ry: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Pearson correlation of `rv` and `ry` after removing an intercept and `z` from both by
    least squares; batched over a leading axis (B, n) / (B, n, k)."""
    ones = np.ones(rv.shape + (1,))
    design = np.concatenate([ones, z], axis=-1)
    q, _ = np.linalg.qr(design)
    def resid(a: np.ndarray) -> np.ndarray:
        return a - np.einsum("...ij,...j->...i", q, np.einsum("...ij,...i->...j", q, a))
    ev, ey = resid(rv), resid(ry)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ev * ey).sum(-1) / np.sqrt((ev * ev).sum(-1) * (ey * ey).sum(-1))
    return np.nan_to_num(r, nan=0.0)


def rank_correlations(x: pd.DataFrame, y: pd.Series, params: list[Param], *,
                      mode: str = "max", confidence: float = CONFIDENCE,
                      adaptive: bool = False) -> pd.DataFrame:
    """One row per numeric parameter: its partial rank correlation with the metric (Spearman's
    rho of the parameter and the metric after removing the other parameters' ranks and
    levels from both by least squares: a chance correlation between two sampled parameters
    does not lend one the other's effect), a Fisher z interval (Bonett-Wright SE), p
    from the t distribution with n - 2 - k df (k other regressors), Holm-adjusted p across
    the parameters, and the direction by `mode` (when Holm's p < 0.05). With fewer than
    `MIN_RHO_DF` df: rho alone, no interval, no test. Trials missing the parameter are left
    out of its row. attrs["notes"]: skipped parameters and caveats."""
    from scipy.special import stdtr

    x, yv, notes = _prepare(x, y, mode)
    rows = []
    if len(yv) and np.ptp(yv) == 0:
        notes.append(_tied_note(len(yv)))
        return _frame([], RHO_COLUMNS, notes)
    for p in params:
        if p.kind != "numeric":
            continue
        v = _numeric_values(x[p.name])
        ok = np.flatnonzero(np.isfinite(v))
        vv, yy = v[ok], yv[ok]
        if len(vv) < 3:
            notes.append(f"{p.name}: fewer than 3 trials: skipped")
            continue
        if np.ptp(vv) == 0:
            notes.append(_constant_note(p.name))
            continue
        if np.ptp(yy) == 0:
            notes.append(f"{p.name}: the metric is constant over its trials: skipped")
            continue
        z = _covariates(x, params, p.name, ok)
        rv, ry = _ranks(vv), _ranks(yy)
        rho = float(_partial_r(rv, ry, z))
        dof = len(vv) - 2 - z.shape[1]
        lo = hi = pv = math.nan
        if dof >= MIN_RHO_DF:
            t = rho * math.sqrt(dof / max(1e-300, 1 - rho * rho))
            pv = float(2 * stdtr(dof, -abs(t)))
            # Fisher z with Bonett & Wright (2000)'s SE for rank correlations: on null
            # searches it covered 94.6% at n = 60 where a percentile bootstrap of the partial
            # correlation covered 92.1% (docs/findings.md)
            from scipy.special import ndtri

            se = math.sqrt((1 + rho * rho / 2) / (dof - 1))
            zr = math.atanh(max(-0.9999, min(0.9999, rho)))
            half = ndtri(1 - (1 - confidence) / 2) * se
            lo, hi = math.tanh(zr - half), math.tanh(zr + half)
        else:
            notes.append(f"{p.name}: {len(vv)} trials, {z.shape[1]} other regressor(s): too "
                         "few for an interval or a test of its correlation")
        rows.append({"Param": p.name, "Rho": rho, "CI low": lo, "CI high": hi,
                     "N": int(len(vv)), "p": pv, "p (Holm)": math.nan,
                     "Direction": "", "Method": SPEARMAN})
    if adaptive:
        notes.append(ADAPTIVE_NOTE)
    out = _frame(rows, RHO_COLUMNS, notes)
    if len(out):
        out["p (Holm)"] = holm(out["p"].to_numpy(dtype=float))
        out["Direction"] = [
            "no detectable trend" if not (np.isfinite(ph) and ph < 0.05) else
            ("larger is better" if (r > 0) == (mode == "max") else "larger is worse")
            for r, ph in zip(out["Rho"], out["p (Holm)"], strict=True)]
    return out


def _frame(rows: list[dict], columns: list[str], notes: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=columns)
    out.attrs["notes"] = list(notes)
    return out


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels' multipletests); NaN stays NaN."""
    from statsmodels.stats.multitest import multipletests

    out = np.full(len(p), math.nan)
    ok = np.isfinite(p)
    if ok.any():
        gc.freeze()  # multipletests' Holm branch calls gc.collect(): skip the frozen heap
        try:
            out[ok] = multipletests(p[ok], alpha=0.05, method="holm")[1]
        finally:
            gc.unfreeze()
    return out


# --------------------------------------------------------------------------- level effects


def _levels(col: pd.Series, yv: np.ndarray, name: str, notes: list[str]) -> dict[str,
                                                                                np.ndarray]:
    """The metric values of each level (as text) with at least 2 trials, in sorted order."""
    keep = ~col.map(_missing).to_numpy(dtype=bool)
    text = col[keep].map(_text).to_numpy(dtype=object)
    groups = {lv: yv[keep][text == lv] for lv in sorted(set(text))}
    few = [lv for lv, g in groups.items() if len(g) < 2]
    if few:
        notes.append(f"{name}: level(s) {', '.join(few)} with fewer than 2 trials left out")
    return {lv: g for lv, g in groups.items() if len(g) >= 2}


def _welch(a: np.ndarray, b: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Welch interval of mean(b) - mean(a) and its two-sided p (statsmodels CompareMeans)."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    if a.var() == 0 and b.var() == 0:  # no within-level variation: no standard error
        return math.nan, math.nan, math.nan
    cm = CompareMeans(DescrStatsW(b), DescrStatsW(a))
    lo, hi = cm.tconfint_diff(alpha=1 - confidence, usevar="unequal")
    p = cm.ttest_ind(usevar="unequal")[1]
    return float(lo), float(hi), float(p)


def _adjusted(x: pd.DataFrame, yv: np.ndarray, params: list[Param], p: Param,
              groups: dict[str, np.ndarray], pairs: list[tuple[str, str]],
              confidence: float) -> dict[tuple[str, str], tuple[float, float, float, float]]:
    """Level differences adjusted for the other parameters: OLS of the metric on the other
    parameters (`_covariates`: ranks, level indicators) and this one's levels, HC3 standard
    errors, t with the residual df; {(a, b): (effect, low, high, p)}; {} when fewer than 4
    residual df remain."""
    import statsmodels.api as sm

    text = x[p.name].map(lambda v: None if _missing(v) else _text(v)).to_numpy(dtype=object)
    rows = np.flatnonzero(np.isin(text, list(groups)))
    levels = list(groups)
    z = _covariates(x, params, p.name, rows)
    dummies = np.column_stack([(text[rows] == lv).astype(float) for lv in levels[1:]])
    design = np.column_stack([np.ones(len(rows)), z, dummies])
    if len(rows) - np.linalg.matrix_rank(design) < 4:
        return {}
    fit = sm.OLS(yv[rows], design).fit(cov_type="HC3", use_t=True)
    first = 1 + z.shape[1]
    out = {}
    for a, b in pairs:
        c = np.zeros(design.shape[1])
        if b != levels[0]:
            c[first + levels.index(b) - 1] += 1
        if a != levels[0]:
            c[first + levels.index(a) - 1] -= 1
        test = fit.t_test(c)
        lo, hi = test.conf_int(alpha=1 - confidence)[0]
        out[(a, b)] = (float(test.effect[0]), float(lo), float(hi), float(test.pvalue))
    return out


def level_effects(x: pd.DataFrame, y: pd.Series, params: list[Param], mode: str = "max", *,
                  compare: str = "pairs", confidence: float = CONFIDENCE,
                  adaptive: bool = False, adjust: bool = True) -> pd.DataFrame:
    """One row per comparison of the levels of each categorical parameter with >= 2 levels of
    >= 2 trials: `compare="pairs"` (every pair A < B) or `"rest"` (each level B vs all other
    levels pooled, A = "rest"). Effect = mean(B) - mean(A) of the raw metric with a Welch t
    interval, p, Holm across all rows; "Better" names the better level by `mode` when the
    interval excludes 0. Marginal over the other parameters: valid for independent random
    sampling; with `adaptive=True` (e.g. Optuna TPE) a caveat is added to the notes and to
    each row's method, since the levels are confounded with where the sampler went.
    `adjust` (pairs only): when other parameters vary, the difference is adjusted for them
    (`_adjusted`: OLS with HC3 errors), so that levels a searcher tried in better regions of
    the other parameters are not credited with those regions."""
    if compare not in ("pairs", "rest"):
        raise ValueError(f"compare must be 'pairs' or 'rest' (got {compare!r})")
    x, yv, notes = _prepare(x, y, mode)
    if len(yv) and np.ptp(yv) == 0:
        notes.append(_tied_note(len(yv)))
        return _frame([], LEVEL_COLUMNS, notes)
    rows = []
    for p in params:
        if p.kind != "categorical":
            continue
        groups = _levels(x[p.name], yv, p.name, notes)
        if len(groups) < 2:
            notes.append(_constant_note(p.name) if x[p.name].map(_text).nunique() <= 1
                         else f"{p.name}: fewer than 2 levels with 2 trials: skipped")
            continue
        if compare == "pairs":
            pairs = [(a, groups[a], b, groups[b]) for a, b in combinations(groups, 2)]
        else:
            pairs = [("rest", np.concatenate([g for k, g in groups.items() if k != b]), b,
                      groups[b]) for b in groups]
        adjusted = _adjusted(x, yv, params, p, groups, [(a, b) for a, _, b, _ in pairs],
                             confidence) if adjust and compare == "pairs" and any(
            q.name != p.name for q in params) else {}
        for a, ga, b, gb in pairs:
            if (a, b) in adjusted:
                diff, lo, hi, pv = adjusted[(a, b)]
                how = ADJUSTED
            else:
                lo, hi, pv = _welch(ga, gb, confidence)
                diff, how = float(gb.mean() - ga.mean()), WELCH
            better = ""
            if np.isfinite(lo) and (lo > 0 or hi < 0):
                better = b if (diff > 0) == (mode == "max") else a
            rows.append({"Param": p.name, "Level A": a, "Level B": b, "N A": len(ga),
                         "N B": len(gb), "Mean A": float(ga.mean()), "Mean B": float(gb.mean()),
                         "Effect": diff, "CI low": lo, "CI high": hi, "p": pv,
                         "p (Holm)": math.nan, "Better": better,
                         "Method": how + ("; " + ADAPTIVE_NOTE if adaptive else "")})
    if adaptive:
        notes.append(ADAPTIVE_NOTE)
    out = _frame(rows, LEVEL_COLUMNS, notes)
    if len(out):
        out["p (Holm)"] = holm(out["p"].to_numpy(dtype=float))
    return out


# --------------------------------------------------------------------------- importance


def _columns(x: pd.DataFrame, params: list[Param], notes: list[str]) -> list[tuple[
        Param, np.ndarray]]:
    """Each usable parameter's values: floats (NaN missing) or level text (None missing);
    constant ones are noted and left out."""
    out = []
    for p in params:
        if p.kind == "numeric":
            v = _numeric_values(x[p.name])
            fin = v[np.isfinite(v)]
            if len(fin) == 0 or np.ptp(fin) == 0:
                notes.append(_constant_note(p.name))
                continue
            if p.log and fin.min() <= 0:
                notes.append(f"{p.name}: non-positive values: not on a log scale")
                p = Param(p.name, p.kind, False)
            out.append((p, v))
        else:
            miss = x[p.name].map(_missing).to_numpy(dtype=bool)
            t = np.asarray(x[p.name].map(_text), dtype=object)
            t[miss] = None
            if len(set(t[~miss])) < 2:
                notes.append(_constant_note(p.name))
                continue
            out.append((p, t))
    return out


class _Optuna:
    """PED-ANOVA importances of trials given as rows (resampled or with a permuted metric)."""

    def __init__(self, cols: list[tuple[Param, np.ndarray]], mode: str) -> None:
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.direction = "maximize" if mode == "max" else "minimize"
        self.names = [p.name for p, _ in cols]
        self.dists, self.values = {}, []
        for p, v in cols:
            if p.kind == "numeric":
                fin = v[np.isfinite(v)]
                self.dists[p.name] = FloatDistribution(float(fin.min()), float(fin.max()),
                                                       log=p.log)
                self.values.append([float(a) if np.isfinite(a) else None for a in v])
            else:
                levels = sorted({a for a in v if a is not None})
                self.dists[p.name] = CategoricalDistribution(levels)
                self.values.append(list(v))

    def __call__(self, rows: np.ndarray, y: np.ndarray) -> np.ndarray:
        from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

        optuna = self.optuna
        study = optuna.create_study(direction=self.direction)
        trials = []
        for r, value in zip(rows, y, strict=True):
            params = {n: vals[r] for n, vals in zip(self.names, self.values, strict=True)
                      if vals[r] is not None}
            trials.append(optuna.trial.create_trial(
                params=params, distributions={n: self.dists[n] for n in params},
                value=float(value)))
        study.add_trials(trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = get_param_importances(
                study, evaluator=PedAnovaImportanceEvaluator(target_quantile=TARGET_QUANTILE),
                params=self.names, normalize=False)
        return np.array([float(got.get(n, 0.0)) for n in self.names])


class _Forest:
    """Permutation importances of a random forest (scikit-learn) of trials given as rows."""

    def __init__(self, cols: list[tuple[Param, np.ndarray]], seed: int) -> None:
        feats = []
        for p, v in cols:
            if p.kind == "numeric":
                f = np.log10(v) if p.log else v.copy()
                feats.append(np.where(np.isfinite(f), f, np.nanmin(f) - 1))
            else:
                feats.append(pd.factorize(pd.Series(v))[0].astype(float))
        self.x = np.column_stack(feats)
        self.seed = seed

    def __call__(self, rows: np.ndarray, y: np.ndarray) -> np.ndarray:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.inspection import permutation_importance

        x = self.x[rows]
        forest = RandomForestRegressor(n_estimators=50, min_samples_leaf=2,
                                       random_state=self.seed, n_jobs=1).fit(x, y)
        res = permutation_importance(forest, x, y, n_repeats=5, random_state=self.seed,
                                     n_jobs=1)
        return np.maximum(res.importances_mean, 0.0)


def _has_optuna() -> bool:
    try:
        import optuna.importance  # noqa: F401
    except ImportError:
        return False
    return True


def importance_with_intervals(x: pd.DataFrame, y: pd.Series, params: list[Param],
                              mode: str = "max", *, min_trials: int = MIN_TRIALS,
                              n_boot: int = N_BOOT, n_perm: int = N_PERM,
                              confidence: float = CONFIDENCE, seed: int = 0,
                              use_optuna: bool = True,
                              adaptive: bool = False) -> ImportanceResult:
    """Importance of each parameter (optuna PED-ANOVA, else a forest's permutation importance)
    with a percentile bootstrap interval over trials (`n_boot` resamples, recomputed) and a
    noise level: the `confidence` quantile of its importance with the metric permuted
    (`n_perm` permutations), i.e. what a parameter without effect gets. "Above noise" when
    the importance exceeds that level (one-sided permutation p, "p (perm)" < 1 - confidence;
    per parameter: "p (perm, Holm)" is the family-wise version, reachable below 0.05 only when
    `n_perm` + 1 > 20 x the number of parameters);
    "Separated" when a parameter's interval lies above the next-ranked one's. Below
    `min_trials` trials: a message and no numbers."""
    x, yv, notes = _prepare(x, y, mode)
    n = len(yv)
    cols = _columns(x, params, notes)
    optuna = use_optuna and _has_optuna()
    method = PED_ANOVA if optuna else FOREST
    if adaptive:
        notes.append(ADAPTIVE_NOTE)
    empty = pd.DataFrame(columns=IMPORTANCE_COLUMNS)
    if n < min_trials:
        return ImportanceResult(empty, n, method, f"too few trials to rank hyperparameters "
                                f"(n = {n} < {min_trials})", notes)
    if np.ptp(yv) == 0:
        return ImportanceResult(empty, n, method, _tied_note(n), notes)
    if not cols:
        return ImportanceResult(empty, n, method, "no varying hyperparameter to rank", notes)
    evaluate = _Optuna(cols, mode) if optuna else _Forest(cols, seed)
    rng = np.random.default_rng(seed)
    rows = np.arange(n)
    point = evaluate(rows, yv)
    boot = np.array([evaluate(r, yv[r]) for r in rng.integers(0, n, size=(n_boot, n))])
    null = np.array([evaluate(rows, rng.permutation(yv)) for _ in range(n_perm)])
    alpha = 1 - confidence
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    level = np.quantile(null, confidence, axis=0)
    p_perm = (1 + (null >= point).sum(axis=0)) / (n_perm + 1)
    total = point.sum()
    table = pd.DataFrame({
        "Param": [p.name for p, _ in cols], "Importance": point,
        "Share": point / total if total > 0 else np.full(len(point), math.nan),
        "CI low": lo, "CI high": hi, "Noise level": level, "p (perm)": p_perm,
        "p (perm, Holm)": holm(p_perm), "Above noise": p_perm < alpha, "Rank": 0,
        "Separated": False, "Method": method},
        columns=IMPORTANCE_COLUMNS)
    table = table.sort_values("Importance", ascending=False, kind="mergesort").reset_index(
        drop=True)
    table["Rank"] = np.arange(1, len(table) + 1)
    nxt = table["CI high"].shift(-1)
    table["Separated"] = (table["CI low"] > nxt).fillna(False).astype(bool)
    return ImportanceResult(table, n, method, "", notes)
