"""Statistics of the trials: mean, std and Student-t interval of repeats, Welch's t-test,
trials grouped by configuration, and the ranking rule (accuracy, then training time)."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from tune_bench.analysis.columns import (
    config_columns,
    ensure_columns,
    numeric,
    trainer_of,
    with_final_metric,
)
from tune_bench.labels import fmt, present

STANDARD_KEYS = ("trainer", "dataset", "model", "kernel", "batch_size", "optimizer", "lr",
                 "epochs", "C", "gamma", "degree")


def summarize(values: Iterable[float]) -> dict[str, float]:
    """n, mean, std (ddof=1) and the half-width of the 95% Student-t confidence interval."""
    a = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = len(a)
    if n == 0:
        return {"n": 0, "mean": math.nan, "std": math.nan, "ci95": math.nan}
    if n == 1:
        return {"n": 1, "mean": float(a[0]), "std": math.nan, "ci95": math.nan}
    std = float(a.std(ddof=1))
    half = float(_t975(n - 1) * std / math.sqrt(n))
    return {"n": n, "mean": float(a.mean()), "std": std, "ci95": half}


def welch_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float] | None:
    """Welch's t-test (t, p), as scipy.stats.ttest_ind(equal_var=False) computes it; None when
    either side has fewer than 2 runs or both have zero variance."""
    if len(a) < 2 or len(b) < 2:
        return None
    from scipy.special import stdtr

    xa, xb = np.asarray(a, float), np.asarray(b, float)
    va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
    if va + vb == 0:
        return None
    t = (xa.mean() - xb.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1))
    return float(t), float(2 * stdtr(df, -abs(t)))


@functools.lru_cache(maxsize=256)
def _t975(df: int) -> float:
    """97.5% quantile of Student's t with `df` degrees of freedom (scipy.special, imported
    only when needed: scipy.stats alone takes a second to import)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, 0.975))


def significance_text(best: pd.Series, runner: pd.Series | None) -> str:
    """Whether the best configuration beats the runner-up (Welch t-test, p < 0.05), as text."""
    if runner is None:
        return "no runner-up to compare with"
    test = welch_test(best["acc_values"], runner["acc_values"])
    if test is None:
        if best["n"] < 2 and runner["n"] < 2:
            return "single runs: no significance test"
        if best["n"] < 2 or runner["n"] < 2:
            side = "best" if best["n"] < 2 else "runner-up"
            return f"the {side} is a single run: no significance test"
        return "not testable (zero variance on both sides)"
    t, p = test
    verdict = "significant" if p < 0.05 else "not significant"
    return f"Welch t = {t:.2f}, p = {p:.3g}: {verdict} at p < 0.05"


def config_groups(df: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Finished trials grouped by configuration (every config key except `seed`), plus `by`.

    Columns: the config keys, `n`, `acc_mean`, `acc_std`, `acc_ci95` (95% CI half-width),
    `acc_values`, `time_mean`, `trial_ids`, `best_trial_id`, `_rows` (the members' labels in
    `df`'s index: trial ids repeat across experiments, e.g. a URI and its local copy); sorted
    best first.
    """
    fin = with_final_metric(df)
    cols = [c for c in config_columns(fin) if c != "seed"]
    extra = [c for c in by if c not in cols]
    if fin.empty:
        return pd.DataFrame(columns=[*extra, *cols, "n", "acc_mean", "acc_std", "acc_ci95"])
    keys = fin[extra + cols]
    codes = np.stack([_codes(keys[c]) for c in keys.columns], axis=1) if len(keys.columns) \
        else np.zeros((len(fin), 1), dtype=np.int64)
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    records = keys.iloc[first].to_dict("records")
    acc = numeric(fin, "test_acc").to_numpy()
    time = numeric(fin, "train_time_ms").to_numpy()
    ids = fin["trial_id"].to_numpy()
    out = []
    for rec, idx in zip(records, np.split(order, bounds), strict=True):
        s = summarize(acc[idx])
        best_i = idx[int(np.argmax(acc[idx]))]
        key = json.dumps({k: v for k, v in rec.items() if present(v)}, sort_keys=True,
                         default=str)
        out.append({**rec, "n": s["n"], "acc_mean": s["mean"], "acc_std": s["std"],
                    "acc_ci95": s["ci95"], "acc_values": list(acc[idx]),
                    "time_mean": float(np.nanmean(time[idx])) if np.isfinite(time[idx]).any()
                    else math.nan,
                    "trial_ids": list(ids[idx]), "best_trial_id": ids[best_i],
                    "_rows": list(fin.index[idx]), "_key": key})
    return ensure_columns(rank(pd.DataFrame(out)).drop(columns="_key"), STANDARD_KEYS)


def _codes(col: pd.Series) -> np.ndarray:
    """Integer codes of a config column's values; None and NaN share one code (absent)."""
    try:
        codes, _ = pd.factorize(col, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts): compare them by their JSON text
        codes, _ = pd.factorize(col.map(lambda v: json.dumps(v, sort_keys=True, default=str)
                                        if present(v) else None), use_na_sentinel=True)
    return codes


def rank(df: pd.DataFrame, acc: str = "acc_mean", time: str = "time_mean") -> pd.DataFrame:
    """Sort best first: accuracy descending, ties by lower time, then a stable key."""
    tie = "_key" if "_key" in df.columns else "trial_id"
    cols = [acc, time] + ([tie] if tie in df.columns else [])
    asc = [False, True] + ([True] if tie in df.columns else [])
    return df.sort_values(cols, ascending=asc, na_position="last", kind="mergesort")



def varying(df: pd.DataFrame, cols: Sequence[str]) -> list[str]:
    """The columns of `cols` whose displayed values differ between the rows of `df`."""
    return [c for c in cols if c in df.columns and df[c].map(fmt).nunique() > 1]




def best_trial(df: pd.DataFrame, trainer: str | None = None) -> pd.Series | None:
    """The single best finished trial (highest final test_acc, ties by lower training time)."""
    fin = with_final_metric(df if trainer is None else df[trainer_of(df) == trainer])
    if fin.empty:
        return None
    ranked = rank(fin.assign(_acc=numeric(fin, "test_acc"), _t=numeric(fin, "train_time_ms")),
                  "_acc", "_t")
    return ranked.iloc[0]
