"""Claims as hypotheses: each claim of a space file (`claims:`) or of `analyze --claims FILE`
answered with an estimate, its 95% interval, n, the test and a verdict (supported,
contradicted, not shown), Holm-corrected across the report's claims.

The numbers are the findings' (`findings.study`): `better` and `same` read the matched effects
of the block (a `where` on other factors: the same `matched_effects` on that slice; sampled
searches: `sampled.level_effects`), `increases: {y: speedup}` the hardware pairs' Spearman ρ.
`robust` compares spreads of the block's cell means. See docs/findings.md, "Claims".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_bench.analysis.columns import config_columns, numeric
from tune_bench.analysis.design import _LABELLED, BLOCK_KEYS, Design, _text, design, label
from tune_bench.analysis.effects import POOLED, _t_quantile, holm, matched_effects
from tune_bench.errors import ConfigError, TuneBenchError
from tune_bench.space.claims import read_claims
from tune_bench.space.schema import DERIVED, Claim, ClaimTest

ALPHA = 0.05
BEFORE, AFTER = "before the sweep", "after the sweep"
SUPPORTED, CONTRADICTED, NOT_SHOWN = "supported", "contradicted", "not shown"
MIN_SETS = 8  # robust without repeats: matched sets needed for a bootstrap over them
N_BOOT = 2000
RULE = ("decision rule: supported when the claim's test passes at 5% family-wise (Holm across "
        "the {k} test(s) of this report's claims) and its 95% interval lies on the claimed "
        "side (better, robust, increases: above zero; same: within ±margin); contradicted when "
        "it passes the other way (below zero; wholly outside the margin); otherwise not shown")
COLUMNS = ["Claim", "Source", "Stated", "Kind", "Dataset", "Statistic", "Estimate", "CI low",
           "CI high", "Margin", "n", "p", "p (Holm)", "Verdict", "Claim verdict", "Test",
           "Note"]


@dataclass
class StatedClaim:
    """A claim and when it was stated (before the sweep: saved with it; after: --claims)."""

    claim: Claim
    stated: str = BEFORE
    experiment: str | None = None  # the experiment it belongs to (None: every trial)
    index: int = 0  # its place in its file, for messages
    source: str = ""  # the file it came from
    problem: str = ""  # a saved claim naming what the trials lack (e.g. an axis --set fixed)


@dataclass
class Test:
    """One test of a claim in one block. `estimate` is oriented so that positive supports the
    claim (except `same`: the difference itself); p_for / p_against: one-sided evidence."""

    block: str
    statistic: str
    estimate: float = math.nan
    low: float = math.nan
    high: float = math.nan
    n: int = 0
    p_for: float = math.nan
    p_against: float = math.nan
    test: str = ""
    note: str = ""
    margin: float = math.nan
    p_holm: float = math.nan
    verdict: str = NOT_SHOWN

    @property
    def p(self) -> float:
        """The test's p-value: both ways, Bonferroni (twice the smaller one-sided p)."""
        if not (math.isfinite(self.p_for) and math.isfinite(self.p_against)):
            return math.nan
        return min(1.0, 2 * min(self.p_for, self.p_against))

    def interval_side(self) -> str:
        """SUPPORTED / CONTRADICTED / NOT_SHOWN by where the 95% interval lies."""
        lo, hi, m = self.low, self.high, self.margin
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return NOT_SHOWN
        if math.isfinite(m):
            return SUPPORTED if -m <= lo and hi <= m else (
                CONTRADICTED if lo > m or hi < -m else NOT_SHOWN)
        return SUPPORTED if lo > 0 else CONTRADICTED if hi < 0 else NOT_SHOWN


@dataclass
class ClaimResult:
    """A claim, its tests (one per block it is about) and its verdict."""

    stated: StatedClaim
    tests: list[Test] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        v = [t.verdict for t in self.tests]
        if v and all(x == v[0] for x in v):
            return v[0]
        return CONTRADICTED if CONTRADICTED in v else NOT_SHOWN


# --------------------------------------------------------------------------- input


def attach_claims(df: pd.DataFrame, paths: list[Any], claims_file: str | Path | None) -> None:
    """Record in df.attrs["claims"] the claims saved with each experiment (its space file's
    `claims:`, stated before the sweep) and those of `claims_file` (stated after it), checked
    against the trials: a factor, level or metric the experiment lacks is a ConfigError."""
    stated: list[StatedClaim] = []
    for path, name in _names(paths):
        for i, c in enumerate(_saved_claims(path, name)):
            stated.append(StatedClaim(c, BEFORE, name, i, f"{name} (space file)"))
    if claims_file is not None:
        src = str(claims_file)
        for i, c in enumerate(load_claims_file(claims_file)):
            stated.append(StatedClaim(c, AFTER, None, i, src))
    for s in stated:
        problem = check_claim(df, s.claim)
        if problem and s.stated == AFTER:
            raise ConfigError(f"{s.source}: claims[{s.index}].{problem}")
        s.problem = problem
    df.attrs["claims"] = stated


def load_claims_file(path: str | Path) -> list[Claim]:
    """The claims of a YAML file (ConfigError, one line, when missing or malformed)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--claims: {path}: no such file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--claims: {path}: cannot read it: "
                          + " ".join(str(e).split())) from None
    return read_claims(data, str(path))


def _names(paths: list[Any]) -> list[tuple[Any, str]]:
    from tune_bench.analysis.frame import _experiment_names

    return _experiment_names(paths)


def _saved_claims(path: Any, name: str) -> list[Claim]:
    """The claims of the space file saved with the sweep (none for other experiments)."""
    import yaml

    from tune_bench.storage import readable
    from tune_bench.tune_dir import read_saved_spec

    try:
        with readable(path) as local:
            text = read_saved_spec(Path(local)).get("source_text")
    except (TuneBenchError, OSError, AttributeError):
        return []
    try:
        data = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError:
        return []
    if not isinstance(data, dict) or not data.get("claims"):
        return []
    return read_claims(data, f"{name} (saved space file)")


def _level_text(key: str, v: Any) -> str:
    """A config value as the design shows its level (ResNet-18, 0.001, True)."""
    return label(key, v) if key in _LABELLED else _text(v)


def _levels_of(df: pd.DataFrame, key: str) -> list[str]:
    col = df[key].dropna()
    return list(dict.fromkeys(_level_text(key, v) for v in col))


def _has_level(df: pd.DataFrame, key: str, v: Any) -> bool:
    return _level_text(key, v) in _levels_of(df, key) or str(v) in _levels_of(df, key)


def check_claim(df: pd.DataFrame, c: Claim) -> str:
    """'' when the trials have every factor, level and metric the claim names; else the
    problem as 'kind.key: ...'."""
    keys = set(config_columns(df))
    t = c.test
    for k, v in c.where.items():
        if k not in keys:
            return f"where.{k}: the experiment has no factor {k!r}"
        if not _has_level(df, k, v):
            return f"where.{k}: the experiment has no level {v!r} of {k} " \
                   f"(levels: {', '.join(_levels_of(df, k))})"
    if t.kind in ("better", "robust"):
        if t.factor not in keys:
            return f"{t.kind}.{t.factor}: the experiment has no factor {t.factor!r}"
        for part, v in ((t.factor, t.a), ("than", t.b)):
            if not _has_level(df, t.factor, v):
                return (f"{t.kind}.{part}: the experiment has no level {v!r} of {t.factor} "
                        f"(levels: {', '.join(_levels_of(df, t.factor))})")
    named = {"same": [("factor", t.factor)], "robust": [("across", t.across)]}.get(t.kind, [])
    for part, k in named:
        if k not in keys:
            return f"{t.kind}.{part}: the experiment has no factor {k!r}"
    if t.kind == "increases":
        if t.y != "speedup" and not numeric(df, t.y).notna().any() if t.y in df.columns \
                else t.y != "speedup":
            return f"increases.y: the trials report no metric {t.y!r}"
        if t.x not in keys and not (t.x in DERIVED and t.x in df.columns):
            return f"increases.with: the experiment has no factor {t.x!r}"
    return ""


# --------------------------------------------------------------------------- computation


_CACHE: list[tuple[pd.DataFrame, list[ClaimResult]]] = []


def evaluate(df: pd.DataFrame) -> list[ClaimResult]:
    """Every claim of df.attrs["claims"] answered (computed once per DataFrame)."""
    for frame, res in _CACHE:
        if frame is df:
            return res
    res = evaluate_claims(df, df.attrs.get("claims", []))
    _CACHE[:] = [*_CACHE[-3:], (df, res)]
    return res


def evaluate_claims(df: pd.DataFrame, stated: list[StatedClaim]) -> list[ClaimResult]:
    """The claims' tests, Holm across all of them, and the verdicts."""
    from tune_bench.analysis.findings import study

    out = []
    for s in stated:
        sub = df if s.experiment is None or "experiment" not in df.columns else \
            df[df["experiment"] == s.experiment]
        tests = ([Test("-", "", note=s.problem)] if s.problem else
                 _tests(sub if len(sub) else df, study(df), s.claim))
        out.append(ClaimResult(s, tests))
    tests = [t for r in out for t in r.tests]
    adj = holm(np.array([t.p for t in tests], dtype=float))
    for t, p in zip(tests, adj, strict=True):
        t.p_holm = float(p)
        side = SUPPORTED if t.p_for <= t.p_against else CONTRADICTED
        passed = math.isfinite(p) and p < ALPHA and t.interval_side() == side
        t.verdict = side if passed else NOT_SHOWN
    return out


def _tests(df: pd.DataFrame, s: Any, c: Claim) -> list[Test]:
    t = c.test
    if t.kind == "increases" and t.y == "speedup":
        return _speedup(df, s, c)
    out = []
    for b in s.blocks:
        d = b.design
        rows = d.y.index.intersection(df.index)
        if not _block_matches(df, rows, c.where):
            continue
        mask = _where_mask(df.loc[rows], {k: v for k, v in c.where.items()
                                          if k not in BLOCK_KEYS})
        sliced = not bool(mask.all())
        if sliced:
            keep = mask[mask].index
            if len(keep) < 2:
                continue
            d = design(df.loc[keep], d.target, d.name, y=d.y.loc[keep])
            d.kind = b.design.kind
        out.append(_one(df, d, b, t, sliced))
    if not out:
        out.append(Test("-", "", note="no block of the experiment matches " + (
            ", ".join(f"{k}={v}" for k, v in c.where.items()) or "the claim")))
    return out


def _block_matches(df: pd.DataFrame, rows: pd.Index, where: dict) -> bool:
    sub = df.loc[rows]
    for k, v in where.items():
        if k in BLOCK_KEYS and k in sub.columns and not _where_mask(sub, {k: v}).any():
            return False
    return True


def _where_mask(sub: pd.DataFrame, where: dict) -> pd.Series:
    mask = pd.Series(True, index=sub.index)
    for k, v in where.items():
        want = {_level_text(k, v), str(v)}
        mask &= sub[k].map(lambda x, k=k, want=want: _level_text(k, x) in want)
    return mask


def _one(df: pd.DataFrame, d: Design, b: Any, t: ClaimTest, sliced: bool) -> Test:
    if d.kind == "pbt":
        return Test(d.name, "", note="population-based training: no fixed treatments")
    if t.kind == "increases":
        return _trend(df, d, b, t)
    if t.factor in BLOCK_KEYS:
        return Test(d.name, "", note=f"{t.factor} separates the blocks: nothing is pooled "
                    "across them")
    if t.factor not in d.factors:
        why = next((n for n in d.dropped if n.startswith(t.factor + " ")),
                   f"{t.factor} does not vary in this block")
        return Test(d.name, "", note=why)
    if t.kind == "robust":
        return _robust(d, t)
    if d.kind == "sampled" or t.factor in d.sampled:
        return _sampled_levels(d, b, t, sliced)
    eff = matched_effects(d) if sliced else b.effects
    eff = eff[eff["Factor"] == t.factor] if len(eff) else eff
    return _same(d, eff, t) if t.kind == "same" else _better(d, eff, t)


def _orient(row: pd.Series, a: str) -> tuple[float, float, float]:
    """metric(a) - metric(other) and its interval, from an effects row (Effect = B - A)."""
    e, lo, hi = float(row["Effect"]), float(row["CI low"]), float(row["CI high"])
    return (e, lo, hi) if row["Level B"] == a else (-e, -hi, -lo)


def _find(eff: pd.DataFrame, f: str, a: Any, b: Any) -> tuple[pd.Series | None, str, str]:
    ta, tb = _level_text(f, a), _level_text(f, b)
    if eff.empty:
        return None, ta, tb
    m = eff[((eff["Level A"] == ta) & (eff["Level B"] == tb))
            | ((eff["Level A"] == tb) & (eff["Level B"] == ta))]
    return (m.iloc[0] if len(m) else None), ta, tb


def _better(d: Design, eff: pd.DataFrame, t: ClaimTest) -> Test:
    row, ta, tb = _find(eff, t.factor, t.a, t.b)
    tg = d.target
    stat = f"{ta} − {tb}" if tg.mode == "max" else f"{tb} − {ta}"
    stat += f" ({tg.unit})"
    if row is None:
        return Test(d.name, stat, note=f"no grid points of {ta} and {tb} agree on the other "
                    "factors: no matched pairs")
    e, lo, hi = _orient(row, ta)
    if tg.mode == "min":
        e, lo, hi = -e, -hi, -lo
    p = float(row["p"])
    p_for = p / 2 if e > 0 else 1 - p / 2
    return Test(d.name, stat, e, lo, hi, int(row["Pairs"]), p_for, 1 - p_for,
                f"matched effect: {row['Method']}")


def _same(d: Design, eff: pd.DataFrame, t: ClaimTest) -> Test:
    """TOST at ±margin on each level pair's matched effect (se and df from its interval):
    supported when every pair is within the margin, contradicted when one is outside."""
    tg, m = d.target, t.margin
    if eff.empty:
        return Test(d.name, "", note="no matched pairs", margin=m)
    pooled_df = d.pooled()[1]
    fors, againsts, worst = [], [], None
    for _, r in eff.iterrows():
        df_ = pooled_df if r["Method"] == POOLED else int(r["Pairs"]) - 1
        if df_ < 1 or not math.isfinite(r["CI low"]):
            continue
        se = (r["CI high"] - r["CI low"]) / (2 * _t_quantile(0.975, df_))
        e = float(r["Effect"])
        from scipy.special import stdtr

        lower, upper = stdtr(df_, -(e + m) / se), stdtr(df_, (e - m) / se)  # H0: e<=-m, e>=m
        fors.append(float(max(lower, upper)))
        againsts.append(float(min(stdtr(df_, -(e - m) / se), stdtr(df_, (e + m) / se))))
        if worst is None or abs(e) > abs(worst["Effect"]):
            worst = r
    if worst is None:
        return Test(d.name, "", note="one matched pair: no interval", margin=m)
    p_against = min(1.0, len(againsts) * min(againsts))  # Bonferroni over the pairs
    stat = f"{worst['Level B']} − {worst['Level A']} ({tg.unit})"
    test = (f"TOST at ±{m:g} {tg.unit} on the matched effect ({worst['Method']})"
            + (f"; the largest of {len(fors)} level pairs, all tested" if len(fors) > 1 else ""))
    res = Test(d.name, stat, float(worst["Effect"]), float(worst["CI low"]),
               float(worst["CI high"]), int(worst["Pairs"]), max(fors), p_against, test,
               margin=m)
    if len(fors) > 1:  # the interval rule over every pair
        lows, highs = eff["CI low"].to_numpy(float), eff["CI high"].to_numpy(float)
        if np.all((lows >= -m) & (highs <= m)):
            res.low, res.high = float(np.nanmin(lows)), float(np.nanmax(highs))
    return res


def _sampled_levels(d: Design, b: Any, t: ClaimTest, sliced: bool) -> Test:
    """A sampled search: the level difference of `sampled.level_effects` (Welch)."""
    from tune_bench.analysis import sampled as sm

    tg = d.target
    levels = b.levels
    if sliced or levels is None:
        raw = d.raw if d.raw is not None else pd.DataFrame(index=d.y.index)
        levels = sm.level_effects(raw, d.y, sm.params_of(raw), tg.mode)
    rows = levels[levels["Param"] == t.factor] if levels is not None and len(levels) else None
    ta, tb = _level_text(t.factor, t.a), _level_text(t.factor, t.b)
    if rows is not None and len(rows):
        rows = rows.assign(**{"Level A": rows["Level A"].map(lambda v: _level_text(t.factor, v)),
                              "Level B": rows["Level B"].map(lambda v: _level_text(t.factor,
                                                                                  v))})
    row, _, _ = _find(rows if rows is not None else pd.DataFrame(), t.factor, t.a, t.b)
    if row is None:
        return Test(d.name, "", note=f"too few trials of {ta} or {tb} for a comparison")
    sc = tg.scale
    r = row.copy()
    r["Effect"], r["CI low"], r["CI high"] = sc * r["Effect"], sc * r["CI low"], sc * r["CI high"]
    n = int(r["N A"] + r["N B"])
    if t.kind == "better":
        res = _better(d, pd.DataFrame([r.assign(Pairs=n, Method="Welch t, sampled levels")]),
                      t)
        res.test = "level difference of a sampled search: Welch t"
        return res
    r["Pairs"], r["Method"] = n - 1, "Welch t"
    return _same(d, pd.DataFrame([r]), t)


def _robust(d: Design, t: ClaimTest) -> Test:
    """Mean over matched sets (the other factors' combinations) of range(B) - range(A): the
    range of the cell means across the levels of `across`; percentile bootstrap over the
    sets (at least MIN_SETS) and, with repeats, over the runs of each cell."""
    f, g, tg = t.factor, t.across, d.target
    ta, tb = _level_text(f, t.a), _level_text(f, t.b)
    stat = f"range over {g} at {tb} − at {ta} ({tg.unit})"
    if g not in d.factors or g == f:
        return Test(d.name, stat, note=f"{g} does not vary in this block")
    others = [c for c in d.factors if c not in (f, g)]
    x = d.x.astype(str)
    key = x[others].agg("|".join, axis=1) if others else pd.Series("", index=x.index)
    glevels = d.levels[g]
    runs: list[list[list[np.ndarray]]] = []
    for _, idx in key.groupby(key, sort=True).groups.items():
        cell = [[d.y.loc[idx][(x.loc[idx, f] == lv) & (x.loc[idx, g] == gl)]
                 .to_numpy(float) for gl in glevels] for lv in (ta, tb)]
        if all(len(c) for side in cell for c in side):
            runs.append(cell)
    k = len(runs)
    repeats = k > 0 and all(len(c) > 1 for s in runs for side in s for c in side)
    if k == 0:
        return Test(d.name, stat, note=f"no matched set ran {ta} and {tb} at every {g}")
    means = np.array([[[c.mean() for c in side] for side in s] for s in runs])  # (k, 2, G)
    est = float(np.mean(np.ptp(means[:, 1], axis=1) - np.ptp(means[:, 0], axis=1)))
    if k < MIN_SETS and not repeats:
        return Test(d.name, stat, tg.scale * est, n=k, note=f"{k} matched set(s), no repeats: "
                    f"too few for a bootstrap (at least {MIN_SETS} sets or repeats)")
    rng = np.random.default_rng(0)
    boot = np.broadcast_to(means, (N_BOOT, *means.shape)).copy()
    if repeats:
        for i, s in enumerate(runs):
            for j, side in enumerate(s):
                for h, c in enumerate(side):
                    boot[:, i, j, h] = c[rng.integers(0, len(c), (N_BOOT, len(c)))].mean(1)
    diff = np.ptp(boot[:, :, 1], axis=2) - np.ptp(boot[:, :, 0], axis=2)  # (B, k)
    if k >= MIN_SETS:
        diff = np.take_along_axis(diff, rng.integers(0, k, (N_BOOT, k)), axis=1)
    dist = tg.scale * diff.mean(1)
    lo, hi = np.percentile(dist, [2.5, 97.5])
    p_for = (np.sum(dist <= 0) + 1) / (N_BOOT + 1)
    p_against = (np.sum(dist >= 0) + 1) / (N_BOOT + 1)
    how = ("sets" if k >= MIN_SETS else "") + (" and runs" if repeats and k >= MIN_SETS
                                               else "runs" if repeats else "")
    return Test(d.name, stat, tg.scale * est, float(lo), float(hi), k, float(p_for),
                float(p_against), f"difference of ranges of cell means across {g}, "
                f"percentile bootstrap over matched {how} ({N_BOOT} resamples, seed 0)")


def _trend(df: pd.DataFrame, d: Design, b: Any, t: ClaimTest) -> Test:
    """Spearman ρ of y with x over the block's trials (sampled searches: the partial ρ of the
    associations table), 95% percentile bootstrap as hardware.py."""
    from tune_bench.analysis.hardware import _rank_correlation

    stat = f"Spearman ρ({t.y}, {t.x})"
    if d.kind == "sampled" and t.y == d.target.metric and b.rho is not None and len(b.rho):
        r = b.rho[b.rho["Param"] == t.x]
        if len(r):
            r = r.iloc[0]
            return _rho_test(d.name, "partial " + stat, float(r["Rho"]), float(r["CI low"]),
                             float(r["CI high"]), int(r["N"]), float(r["p"]), str(r["Method"]))
    rows = d.y.index
    y = numeric(df.loc[rows], t.y).to_numpy(float)
    x = numeric(df.loc[rows], t.x).to_numpy(float)
    rho, lo, hi, n = _rank_correlation(x, y)
    return _rho_test(d.name, stat, rho, lo, hi, n, _spearman_p(x, y),
                     "Spearman over trials, percentile bootstrap (999 resamples, seed 0)")


def _speedup(df: pd.DataFrame, s: Any, c: Claim) -> list[Test]:
    """speedup (CPU time / GPU time) against macs/flops/params over the hardware pairs; the
    findings' numbers (`hardware`) where they are the same question."""
    from tune_bench.analysis.hardware import RHO_METHOD, _rank_correlation
    from tune_bench.analysis.tables import cpu_gpu_pairs

    t = c.test
    pairs, reason = cpu_gpu_pairs(df)
    if pairs is None:
        return [Test("-", "", note=reason)]
    pairs = pairs.assign(dataset=pairs["dataset"] if "dataset" in pairs else "all trials")
    where = {k: v for k, v in c.where.items() if k in pairs.columns}
    if where:
        pairs = pairs[_where_mask(pairs, where)]
    hw = {h.block: h for h in s.hardware}
    out = []
    for ds, p in pairs.groupby("dataset", sort=True):
        x, y = p[t.x].to_numpy(float), p["speedup"].to_numpy(float)
        h = hw.get(str(ds))
        if h is not None and t.x in ("macs", "flops") and set(where) <= {"dataset"}:
            rho, lo, hi, n = h.rho, h.rho_low, h.rho_high, h.rho_pairs
        else:
            rho, lo, hi, n = _rank_correlation(x, y)
        out.append(_rho_test(_level_text("dataset", ds), f"Spearman ρ(speedup, {t.x})", rho,
                             lo, hi, n, _spearman_p(x, y), RHO_METHOD.split(";")[0]))
    return out


def _rho_test(block: str, stat: str, rho: float, lo: float, hi: float, n: int, p: float,
              method: str) -> Test:
    if not math.isfinite(rho):
        return Test(block, stat, n=n, note="too few pairs or constant values: no correlation")
    p_for = p / 2 if rho > 0 else 1 - p / 2
    return Test(block, stat, rho, lo, hi, n, p_for, 1 - p_for, method)


def _spearman_p(x: np.ndarray, y: np.ndarray) -> float:
    import warnings

    from scipy import stats

    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.unique(x[ok]).size < 2 or np.unique(y[ok]).size < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(x[ok], y[ok]).pvalue)


# --------------------------------------------------------------------------- presentation


def claims_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per test of a claim (a claim about several blocks has one per block): numbers
    and verdicts in columns (`COLUMNS`)."""
    rows = []
    for r in evaluate(df):
        c = r.stated.claim
        for t in r.tests:
            rows.append({"Claim": c.claim, "Source": c.source, "Stated": r.stated.stated,
                         "Kind": c.test.kind, "Dataset": t.block, "Statistic": t.statistic,
                         "Estimate": t.estimate, "CI low": t.low, "CI high": t.high,
                         "Margin": t.margin, "n": t.n, "p": t.p, "p (Holm)": t.p_holm,
                         "Verdict": t.verdict, "Claim verdict": r.verdict, "Test": t.test,
                         "Note": t.note})
    return pd.DataFrame(rows, columns=COLUMNS)


def rule(df: pd.DataFrame) -> str:
    """The decision rule, with the number of tests Holm corrects for."""
    k = sum(math.isfinite(t.p) for r in evaluate(df) for t in r.tests)
    return RULE.format(k=k)


def sentences(df: pd.DataFrame) -> tuple[list[tuple[str, str]], list[str]]:
    """The Claims section: (verdict, sentence) per claim, and the notes (the rule)."""
    out = []
    for r in evaluate(df):
        c, st = r.stated.claim, r.stated
        whence = "; ".join(x for x in (c.source, f"stated {st.stated}") if x)
        parts = [_test_text(t) for t in r.tests]
        out.append((r.verdict, f"\"{c.claim}\" ({whence}): " + "; ".join(parts) + "."))
    return out, [rule(df)]


def _test_text(t: Test) -> str:
    where = f"{t.block}: " if t.block and t.block != "-" else ""
    if not math.isfinite(t.estimate):
        return f"{where}{t.note or 'no estimate'}"
    est = f"{t.statistic} = {t.estimate:+.2f}"
    if not math.isfinite(t.low):
        return f"{where}{est}, n = {t.n}: {t.note}"
    holm_p = "= -" if not math.isfinite(t.p_holm) else (
        "< 0.001" if t.p_holm < 0.001 else f"= {t.p_holm:.3f}")
    margin = f", margin ±{t.margin:g}" if math.isfinite(t.margin) else ""
    return (f"{where}{est} (95% CI {t.low:+.2f} to {t.high:+.2f}{margin}; n = {t.n}; "
            f"{t.test}; p(Holm) {holm_p}) → {t.verdict}")
