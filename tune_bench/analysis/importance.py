"""Hyperparameter importance for searches without a complete grid (random or Optuna searches):
optuna's PED-ANOVA evaluator on an in-memory study built from the trials, or, without optuna,
scikit-learn's permutation importance of a random forest. Neither gives a direction or an
interval; the table says which was used.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from tune_bench.analysis.design import Design

MIN_TRIALS = 8
OPTUNA = ("optuna PED-ANOVA (PedAnovaImportanceEvaluator, top 10% of trials vs all; "
          "normalized to sum 1)")
FOREST = ("scikit-learn permutation importance of a random forest (100 trees, 10 "
          "repeats, seed 0; drop in R² when a factor is shuffled; ± is the std over repeats)")
COLUMNS = ["Dataset", "Factor", "Importance", "Std", "Method"]


MAX_POINTS = 2000
MEANS = "; repeats averaged per grid point first"


def _points(d: Design, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, str]:
    """(raw values, level codes, metric) per grid point: the mean over its repeats; at most
    `MAX_POINTS` (a seeded sample beyond)."""
    codes = pd.DataFrame({f: d.x[f].cat.codes for f in d.factors}, index=d.x.index)
    note = ""
    if d.repeats:
        keys = [codes[f] for f in d.factors]
        raw = raw.groupby(keys, sort=False).first()
        y = d.y.groupby(keys, sort=False).mean().to_numpy(dtype=float)
        codes = raw.index.to_frame(index=False)
        codes.columns = d.factors
        raw = raw.reset_index(drop=True)
        note = MEANS
    else:
        y = d.y.to_numpy(dtype=float)
        raw, codes = raw.reset_index(drop=True), codes.reset_index(drop=True)
    if len(y) > MAX_POINTS:
        pick = np.sort(np.random.default_rng(0).choice(len(y), MAX_POINTS, replace=False))
        raw, codes, y = raw.iloc[pick], codes.iloc[pick], y[pick]
        note += f"; a seeded sample of {MAX_POINTS} of {len(d.y)} trials"
    return raw, codes, y, note


def importance(d: Design, raw: pd.DataFrame, use_optuna: bool = True) -> pd.DataFrame:
    """Importance of each factor of `d` (values of `raw`, the block's trials), best first."""
    if len(d.y) < MIN_TRIALS or not d.factors:
        return pd.DataFrame(columns=COLUMNS)
    raw, codes, y, note = _points(d, raw)
    if len(y) < 2:
        return pd.DataFrame(columns=COLUMNS)
    scores: dict[str, tuple[float, float]] | None = None
    method = OPTUNA
    if use_optuna:
        scores = _optuna(d, raw, codes, y)
    if scores is None:
        scores, method = _forest(d, codes, y), FOREST
    method += note
    out = pd.DataFrame([{"Dataset": d.name, "Factor": f, "Importance": v, "Std": s,
                         "Method": method} for f, (v, s) in scores.items()], columns=COLUMNS)
    return out.sort_values("Importance", ascending=False, kind="mergesort").reset_index(
        drop=True)


def _numeric(col: pd.Series) -> pd.Series | None:
    """The column as floats when every value is a number (not a bool), else None."""
    if col.isna().any() or col.map(lambda v: isinstance(v, bool)).any():
        return None
    values = pd.to_numeric(col, errors="coerce")
    return None if values.isna().any() else values.astype(float)


def _optuna(d: Design, raw: pd.DataFrame, codes: pd.DataFrame,
            y: np.ndarray) -> dict[str, tuple[float, float]] | None:
    try:
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution
        from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
    except ImportError:
        return None
    dists, values = {}, {}
    for f in d.factors:
        num = _numeric(raw[f])
        if num is not None:
            lo, hi = float(num.min()), float(num.max())
            dists[f] = FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 100)
            values[f] = num.to_numpy()
        else:
            dists[f] = CategoricalDistribution(list(d.levels[f]))
            values[f] = np.asarray(d.levels[f], dtype=object)[codes[f].to_numpy()]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if d.target.mode == "max" else "minimize"
    study = optuna.create_study(direction=direction)
    study.add_trials([optuna.trial.create_trial(
        params={f: _py(values[f][i]) for f in d.factors}, distributions=dists, value=y[i])
        for i in range(len(y))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator(),
                                    normalize=True)
    return {f: (float(got.get(f, 0.0)), math.nan) for f in d.factors}


def _py(v: object) -> object:
    return v.item() if isinstance(v, np.generic) else v


def _forest(d: Design, codes: pd.DataFrame, y: np.ndarray) -> dict[str, tuple[float, float]]:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    x = codes[d.factors].to_numpy(dtype=float)
    forest = RandomForestRegressor(n_estimators=100, random_state=0, n_jobs=1).fit(x, y)
    res = permutation_importance(forest, x, y, n_repeats=10, random_state=0, n_jobs=1)
    return {f: (float(m), float(s)) for f, m, s in zip(
        d.factors, res.importances_mean, res.importances_std, strict=True)}
