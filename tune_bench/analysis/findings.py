"""What the sweep shows, with confidence: the inference of every block (matched effects,
ANOVA and ties on complete grids, importance otherwise, CPU/GPU pairs), as the `effects`,
`anova` and `importance` tables and as plain sentences, strongest first ("Findings").

See docs/findings.md for how each number is computed and what it assumes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tune_bench.analysis import sampled as sampled_stats
from tune_bench.analysis.anova import Anova, Ties, anova, ties_at_top
from tune_bench.analysis.columns import numeric
from tune_bench.analysis.design import Design, Target, blocks, candidate_factors, target_of
from tune_bench.analysis.effects import (
    LARGE_SHARE,
    METHODS,
    excludes_zero,
    matched_effects,
    significant,
    simple_effects,
)
from tune_bench.analysis.hardware import ACC_METHOD, MARGIN_POINTS, RHO_METHOD, Hardware, hardware
from tune_bench.analysis.sampled import ImportanceResult
from tune_bench.labels import pvalue, stat

NOTHING = "nothing is called better when its 95% interval includes zero"
SIGNIFICANT = ("significant = Holm-adjusted p < 0.05 within the dataset (the same rule in the "
               "text, the bold cells and the CSV's 'best' columns); intervals are 95%, "
               "per comparison")
MAX_SENTENCES = 8


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


# --------------------------------------------------------------------------- sentences


@dataclass
class Findings:
    """Plain sentences per block (title, sentences), and notes on the methods."""

    sections: list[tuple[str, list[str]]]
    notes: list[str]


def findings(df: pd.DataFrame) -> Findings:
    """The findings of `df`: per block its design, its best trial, then what its methods show,
    strongest first."""
    s = study(df)
    t = s.target
    sections = []
    if not s.blocks:
        return Findings([("all trials", [f"no trial reports {t.metric}: nothing to infer "
                                         "(choose the metric with --metric)"])], [])
    for b in s.blocks:
        sections.append((b.design.name, _block_sentences(b, df)))
    hw = {h.block: h for h in s.hardware}
    for name, sentences in sections:
        key = _dataset_key(name, hw)
        if key is not None:
            sentences.extend(_hardware_sentences(hw.pop(key)))
    for h in hw.values():
        sections.append((h.block, _hardware_sentences(h)))
    notes = [f"metric: {t.words}" + ("; differences in percentage points"
                                     if t.scale == 100 else ""),
             SIGNIFICANT, "how each number is computed and what it assumes: docs/findings.md"]
    return Findings(sections, notes)


def _dataset_key(name: str, hw: dict[str, Hardware]) -> str | None:
    from tune_bench.labels import label

    for k in hw:
        if label("dataset", k) == name.split(" / ")[0]:
            return k
    return None


def design_text(d: Design) -> str:
    """One line naming the block's design and the methods that apply to it."""
    n = len(d.y)
    if d.kind == "pbt":
        return (f"design: population-based training ({n} trials; configs change within "
                "trials): each trial's schedule is in the Schedules table; no effects are "
                "estimated, since no trial ran one configuration")
    if d.kind == "sampled":
        how = (f"by an adaptive search algorithm ({d.searcher})" if d.searcher
               else "at random")
        kinds = ", ".join(
            f"{f} ({'sampled values' if f in d.sampled else f'{len(d.levels[f])} levels'})"
            for f in d.factors)
        return (f"design: sampled search, {n} trials drawn {how} over {kinds or 'nothing'}: "
                "rank correlations, level differences and importance with bootstrap "
                "intervals; no matched pairs (no two trials share the other values)")
    if not d.factors:
        return f"design: {n} trials of one configuration"
    shape = " × ".join(str(len(d.levels[f])) for f in d.factors)
    shape = shape + "-level" if len(d.factors) == 1 else shape
    grid = "complete" if d.complete else (
        f"incomplete ({len(d.cells)} of {math.prod(len(v) for v in d.levels.values())} "
        "level combinations ran)")
    return (f"design: {grid} {shape} grid over {', '.join(d.factors)}; "
            + d.repeat_text())


def _block_sentences(b: BlockResult, df: pd.DataFrame) -> list[str]:
    d, t = b.design, b.design.target
    out = [design_text(d) + "."]
    if b.best is not None:
        out.append(_best_sentence(b, df))
    if d.budget:
        out.append(d.budget + ".")
    out += [f"{n}." for n in d.dropped]
    if d.kind == "pbt":
        return out + _pbt_sentences(d, df)
    if d.kind == "sampled":
        return out + _sampled_sentences(b)
    if b.ties is not None:
        out.append(_ties_sentence(b.ties, d))
    effects = _effect_sentences(b.effects, t, b.simple)
    out += effects[:MAX_SENTENCES]
    if b.anova is not None:
        out.append(_anova_sentence(b.anova))
    elif d.factors and b.anova_reason:
        out.append(f"no ANOVA: {b.anova_reason}.")
    if b.importance is not None:
        out.append(_importance_sentence(b.importance))
    if not d.factors:
        out.append("no hyperparameter varies: nothing to compare.")
    return out


def _best_sentence(b: BlockResult, df: pd.DataFrame) -> str:
    d, t = b.design, b.design.target
    best = b.best
    keys = [k for k in candidate_factors(df.loc[d.last.index]) if k in best.index
            and df.loc[d.last.index, k].map(_hashable).nunique() > 1] or d.factors
    cfg = ", ".join(f"{k}={_value(best[k], k)}" for k in keys) or "the single configuration"
    pct = "%" if t.scale == 100 else ""
    early = " (stopped early)" if bool(best.get("stopped_early")) else ""
    it = best.get("iterations")
    at = f" at iteration {int(it)}" if isinstance(it, (int, float)) and math.isfinite(it) \
        and d.budget else ""
    name = best.get("trial_id", f"#{best.name}")
    cfg = f"its last config: {cfg}" if d.kind == "pbt" else cfg
    return (f"best trial: {name}{early}, {t.metric} {t.show(best[t.metric])}{pct}"
            f"{at} ({cfg}): the last reported value, as Ray's get_best_trial(scope=\"last\")"
            " picks.")


def _hashable(v: object) -> object:
    return json.dumps(v, sort_keys=True, default=str) if isinstance(v, (list, dict)) else v


def _value(v: object, key: str = "") -> str:
    from tune_bench.labels import fmt, label

    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return label(key, v) if key in ("dataset", "model", "optimizer", "kernel") else fmt(v)


def _pbt_sentences(d: Design, df: pd.DataFrame) -> list[str]:
    sub = df.loc[d.last.index]
    changes = int((numeric(sub, "n_configs").fillna(1) - 1).sum())
    moved = int((numeric(sub, "n_configs") > 1).sum())
    logged = [df.attrs.get("pbt_perturbations", {}).get(e) for e in sub["experiment"].unique()] \
        if "experiment" in sub.columns else []
    log = (f"Tune's PBT log (pbt_global.txt) records {sum(logged)} exploit-and-explore steps; "
           if logged and all(n is not None for n in logged) else "")
    return [f"{log}{changes} config changes (perturbations) are visible in the results of "
            f"{moved} of {len(sub)} trials; the best trial's last value is reported, never a "
            "mean over population members."]


def _sampled_sentences(b: BlockResult) -> list[str]:
    t = b.design.target
    out = []
    if b.rho is not None and not b.rho.empty:
        rows = b.rho.assign(_a=b.rho["Rho"].abs()).sort_values("_a", ascending=False)
        for _, r in rows.iterrows():
            out.append(_rho_sentence(r, t))
    if b.levels is not None and not b.levels.empty:
        for _, r in b.levels.iterrows():
            out.append(_level_sentence(r, t))
    if b.importance is not None:
        out.append(_importance_sentence(b.importance))
    notes = list(dict.fromkeys([*(b.rho.attrs.get("notes", []) if b.rho is not None else []),
                                *(b.levels.attrs.get("notes", []) if b.levels is not None
                                  else [])]))
    out += [f"{n}." for n in notes]
    return out


def _rho_sentence(r: pd.Series, t: Target) -> str:
    if not math.isfinite(r["CI low"]):
        return (f"{r['Param']}: partial ρ = {r['Rho']:+.2f} from {int(r['N'])} trials: too few "
                "for an interval or a test, no conclusion.")
    ci = f"95% bootstrap CI {r['CI low']:+.2f} to {r['CI high']:+.2f}"
    test = f"partial Spearman, {int(r['N'])} trials, {_p_text(r['p (Holm)'])}"
    if significant(r):
        way = "higher" if r["Rho"] > 0 else "lower"
        better = "better" if t.better(r["Rho"]) else "worse"
        return (f"{r['Param']}: larger values go with {way} {t.metric} ({better}): partial ρ = "
                f"{r['Rho']:+.2f} ({ci}; {test}).")
    return (f"{r['Param']}: no detectable monotone association with {t.metric} (partial ρ = "
            f"{r['Rho']:+.2f}, {ci}; {test}).")


def _level_sentence(r: pd.Series, t: Target) -> str:
    a, b = r["Level A"], r["Level B"]
    unit = " points" if t.scale == 100 else ""
    eff, lo, hi = (t.scale * r[k] for k in ("Effect", "CI low", "CI high"))
    ci = f"95% CI {lo:+.2f} to {hi:+.2f}"
    test = f"Welch t, {int(r['N A'])} and {int(r['N B'])} trials, {_p_text(r['p (Holm)'])}"
    if significant(r):
        winner = b if t.better(eff) else a
        return f"{r['Param']}: {b} − {a} = {eff:+.2f}{unit} ({ci}; {test}): {winner} is better."
    return (f"{r['Param']}: no detectable difference between {a} and {b} ({b} − {a} = "
            f"{eff:+.2f}{unit}, {ci}; {test}).")


def _config_text(row: pd.Series, factors: list[str]) -> str:
    return ", ".join(f"{f}={row[f]}" for f in factors) or "the single configuration"


def _ties_sentence(ties: Ties, d: Design) -> str:
    t = d.target
    best = ties.best
    n = int(best["n"])
    runs = f", mean of {n} runs" if n > 1 else ""
    k = len(ties.tied)
    within = ("no other configuration is within noise of it" if k == 0 else
              f"{k} other configuration{'s are' if k > 1 else ' is'} within noise of it")
    return (f"best {t.metric} {t.show(best['mean'])}{'%' if t.scale == 100 else ''} "
            f"({_config_text(best, d.factors)}{runs}); {within} ({ties.method}).")


def _effect_sentences(eff: pd.DataFrame, t: Target,
                      simple: pd.DataFrame | None = None) -> list[str]:
    """One sentence per factor: its strongest level pair; significant ones first, by size.
    A factor with a large, significant interaction also gets its simple effects: the same
    pair within each level of the other factor, and whether the average hides a reversal."""
    if eff.empty:
        return []
    eff = eff.assign(_sig=eff.apply(significant, axis=1), _abs=eff["Effect"].abs())
    picked = (eff.sort_values(["_sig", "_abs"], ascending=False, kind="mergesort")
              .groupby("Factor", sort=False).head(1))
    pairs = eff.groupby("Factor").size()
    out = []
    for _, r in picked.iterrows():
        text = _effect_sentence(r, t, int(pairs[r["Factor"]]))
        if simple is not None and not simple.empty:
            text += _simple_text(r, simple, t)
        out.append(text)
    return out


def _effect_sentence(r: pd.Series, t: Target, n_pairs: int) -> str:
    unit = " points" if t.scale == 100 else ""
    a, b = r["Level A"], r["Level B"]
    which = f" (strongest of {n_pairs} level pairs)" if n_pairs > 1 else ""
    test = f"{r['Method']}, {int(r['Pairs'])} matched pair{'s' if r['Pairs'] != 1 else ''}"
    if not math.isfinite(r["CI low"]):
        return (f"{r['Factor']}: {b} − {a} = {r['Effect']:+.2f}{unit} from a single matched "
                f"pair: no interval, no conclusion{which}.")
    ci = f"95% CI {r['CI low']:+.2f} to {r['CI high']:+.2f}"
    if significant(r):
        winner, n_win = (b, r["Favour B"]) if t.better(r["Effect"]) else (a, r["Favour A"])
        return (f"{r['Factor']}: {b} − {a} = {r['Effect']:+.2f}{unit} ({ci}; {test}, "
                f"{_p_text(r['p (Holm)'])}), {int(n_win)} of {int(r['Pairs'])} pairs "
                f"favour {winner}{which}.")
    half = max(abs(r["CI low"] - r["Effect"]), abs(r["CI high"] - r["Effect"]))
    why = (f", {_p_text(r['p (Holm)'])}: not significant after Holm correction"
           if excludes_zero(r) else "")
    return (f"{r['Factor']}: no detectable difference between {a} and {b} "
            f"({b} − {a} = {r['Effect']:+.2f} ± {half:.2f}{unit}, {ci}; {test}{why}){which}.")


def _simple_text(main: pd.Series, simple: pd.DataFrame, t: Target) -> str:
    """" The effect depends on g (...): the average hides a reversal: with g=x: ...", for the
    main row's factor and level pair, or "" when it has no simple effects."""
    rows = simple[(simple["Factor"] == main["Factor"]) & (simple["Level A"] == main["Level A"])
                  & (simple["Level B"] == main["Level B"])]
    if rows.empty:
        return ""
    unit = " points" if t.scale == 100 else ""
    texts = []
    for g, part in rows.groupby("By", sort=False):
        sig = part[part.apply(significant, axis=1)]
        flips = (sig["Effect"] > 0).any() and (sig["Effect"] < 0).any()
        head = (f" The effect depends on {g} ({main['Factor']} × {g}: "
                f"{part['Share (%)'].iloc[0]:.0f}% of the variance, "
                f"{_p_text(part['Interaction p (Holm)'].iloc[0])}); "
                + ("the average hides a reversal: " if flips else "by level of " + g + ": "))
        parts = []
        for _, r in part.iterrows():
            ci = (f"95% CI {r['CI low']:+.2f} to {r['CI high']:+.2f}"
                  if math.isfinite(r["CI low"]) else "no interval")
            mark = "" if significant(r) else ", not significant"
            parts.append(f"with {g}={r['Within']}, {r['Level B']} − {r['Level A']} = "
                         f"{r['Effect']:+.2f}{unit} ({ci}{mark})")
        texts.append(head + "; ".join(parts) + ".")
    return "".join(texts)


def _p_text(p: float, name: str = "p(Holm)") -> str:
    text = pvalue(p)
    return f"{name} < {text[1:]}" if text.startswith("<") else f"{name} = {text}"


def _anova_sentence(a: Anova) -> str:
    tab = a.table[a.table["F"].notna()].sort_values("Share (%)", ascending=False)
    sig = tab[tab["p (Holm)"] < 0.05]
    parts = [f"{r['Term']} {r['Share (%)']:.0f}% (F = {stat(r['F'])}, "
             f"{_p_text(r['p (Holm)'])})" for _, r in sig.head(4).iterrows()]
    head = ("share of variance (type II ANOVA, main effects and two-way interactions, "
            f"tested against the {a.residual.lower()}): ")
    if not parts:
        return head + "no term is significant after Holm correction."
    rest = len(tab) - len(sig)
    tail = f"; {rest} other term(s) not significant" if rest else ""
    return head + "; ".join(parts) + tail + "."


def _importance_sentence(imp: ImportanceResult) -> str:
    if not imp.ranked:
        return f"importance: {imp.message}."
    tab = imp.table
    parts = []
    for _, r in tab.head(5).iterrows():
        noise = "" if r["Above noise"] else ", within noise"
        parts.append(f"{r['Param']} {r['Importance']:.2f} (95% CI {r['CI low']:.2f} to "
                     f"{r['CI high']:.2f}{noise})")
    method = imp.method.split(",")[0]
    return (f"importance ({method}, {imp.n} trials; no direction): " + ", ".join(parts) + ".")


def _hardware_sentences(h: Hardware) -> list[str]:
    out = []
    if h.pairs >= 2:
        ci = f"95% CI {h.ci_low:+.2f} to {h.ci_high:+.2f}"
        equiv = (f"equivalent within ±{MARGIN_POINTS} points (TOST {_p_text(h.tost_p, 'p')})"
                 if h.equivalent else f"not shown equivalent within ±{MARGIN_POINTS} points "
                 f"(TOST {_p_text(h.tost_p, 'p')})")
        verdict = ("a detectable difference" if h.ci_low > 0 or h.ci_high < 0
                   else "no detectable difference")
        out.append(f"CPU vs GPU ({h.pairs} matched pairs): GPU − CPU accuracy = "
                   f"{h.acc_diff:+.2f} points ({ci}, paired t): {verdict}; {equiv}.")
    elif h.pairs == 1:
        out.append(f"CPU vs GPU: one matched pair, GPU − CPU accuracy = {h.acc_diff:+.2f} "
                   "points: no interval, no conclusion.")
    if np.isfinite(h.rho):
        ci = f"95% bootstrap CI {h.rho_low:+.2f} to {h.rho_high:+.2f}"
        detect = ("no detectable rank correlation" if h.rho_low <= 0 <= h.rho_high else
                  "larger models get " + ("higher" if h.rho > 0 else "lower") + " speedups")
        out.append(f"speedup (median {h.speedup_median:.2f}x) vs MACs: Spearman ρ = "
                   f"{h.rho:+.2f} ({ci}, {h.rho_pairs} pairs): {detect}.")
    return out


HARDWARE_NOTES = (ACC_METHOD, RHO_METHOD)
EFFECT_METHODS = METHODS


# --------------------------------------------------------------------------- tables


def _table(key: str, df: pd.DataFrame, notes: list[str], shown: list,
           emphasis: pd.DataFrame | None = None):
    from tune_bench.analysis.tables import Table, title

    return Table(key, title(key), df.reset_index(drop=True), notes, emphasis, shown)


def _shown(header: str, kind: str, *sources: str):
    from tune_bench.analysis.tables import Shown

    return Shown(header, kind, sources or (header,))


def _common_notes(s: Study) -> list[str]:
    notes = []
    for b in s.blocks:
        notes.append(f"{b.design.name}: {b.design.repeat_text()}")
        notes += [f"{b.design.name}: {n}" for n in b.design.dropped]
    return notes


def effects_table(df: pd.DataFrame):
    """Matched effects of every factor and level pair, per block (see `effects`)."""
    s = study(df)
    parts = [b.effects.assign(By="", Within="") for b in s.blocks if not b.effects.empty]
    parts += [b.simple.drop(columns=["Share (%)", "Interaction p (Holm)"])
              for b in s.blocks if b.simple is not None and not b.simple.empty]
    if not parts:
        return None
    eff = pd.concat(parts, ignore_index=True)
    sig = eff.apply(significant, axis=1).to_numpy(dtype=bool)
    emphasis = pd.DataFrame(False, index=eff.index, columns=eff.columns)
    emphasis["Effect"] = sig
    t = s.target
    unit = "points" if t.scale == 100 else t.metric
    used = sorted(set(eff["Method"]) & set(METHODS))
    notes = [f"Effect = mean over matched grid points (same other hyperparameters) of "
             f"{t.metric}(B) - {t.metric}(A), in {unit}; 95% CI; pairs = matched grid points; "
             f"favour = pairs where the level is better ({t.mode} {t.metric})",
             *(f"{m}: {METHODS[m]}" for m in used),
             "p: two-sided, same t; p (Holm): Holm-corrected within each dataset (simple "
             "effects: within each interaction's family)",
             "rows with 'within': simple effects, the factor's effect at one level of another "
             "factor, shown where their interaction is significant and explains >= "
             f"{LARGE_SHARE:.0f}% of the variance",
             f"bold: significant ({SIGNIFICANT})",
             *_common_notes(s)]
    shown = [_shown("Dataset", "value"), _shown("Factor", "value"), _shown("A", "value",
             "Level A"), _shown("B", "value", "Level B"),
             _shown(f"B - A ({unit})", "signed", "Effect"),
             _shown("95% CI", "signed_interval", "CI low", "CI high"),
             _shown("Within", "value", "Within"),
             _shown("Pairs", "value"), _shown("Favour A/B", "count_pair", "Favour A",
                                               "Favour B"),
             _shown("p (Holm)", "pvalue"), _shown("Method", "value")]
    return _table("effects", eff, notes, shown, emphasis)


def anova_table(df: pd.DataFrame):
    """Type II ANOVA of each complete grid block (see `anova`)."""
    s = study(df)
    parts = [b.anova.table for b in s.blocks if b.anova is not None]
    if not parts:
        return None
    tab = pd.concat(parts, ignore_index=True)
    emphasis = pd.DataFrame(False, index=tab.index, columns=tab.columns)
    emphasis["Share (%)"] = (tab["p (Holm)"] < 0.05).to_numpy()
    unit = "points²" if s.target.scale == 100 else f"({s.target.metric})²"
    notes = ["type II sums of squares (statsmodels ols + anova_lm(typ=2)) of a model with "
             f"the main effects and two-way interactions, in {unit}; Share = SS / total SS",
             "F-tests against the residual row of each dataset; p (Holm): Holm-corrected "
             "within each dataset; * (bold) = significant at 5% after correction",
             "assumes independent runs, normal errors with equal variance; with single runs "
             "the residual is the higher-order interactions, assumed to be noise"]
    for b in s.blocks:
        if b.anova is not None:
            notes.append(f"{b.design.name}: residual = {b.anova.residual} (df {b.anova.dof})")
            notes += [f"{b.design.name}: {n}" for n in b.anova.notes]
        elif b.design.factors:
            notes.append(f"{b.design.name}: no ANOVA ({b.anova_reason})")
    notes += _common_notes(s)
    shown = [_shown("Dataset", "value"), _shown("Term", "value"), _shown("SS", "dec3"),
             _shown("df", "value"), _shown("F", "stat"), _shown("p", "pvalue"),
             _shown("p (Holm)", "pvalue"), _shown("Share (%)", "dec1")]
    return _table("anova", tab, notes, shown, emphasis)


def importance_table(df: pd.DataFrame):
    """Importance of each hyperparameter, with bootstrap intervals, for blocks that are not a
    complete grid and have enough trials (see `sampled.importance_with_intervals`)."""
    s = study(df)
    parts = [b.importance.table.assign(Dataset=b.design.name) for b in s.blocks
             if b.importance is not None and b.importance.ranked]
    if not parts:
        return None
    tab = pd.concat(parts, ignore_index=True)
    notes = [*(sampled_stats.METHODS.get(m.split(" (")[0], m) for m in dict.fromkeys(
        tab["Method"])),
             "importance says how much a hyperparameter matters, not in which direction; "
             "'above noise' when it exceeds what the same method gives with the metric "
             "permuted (no parameter has an effect)"]
    notes += [f"{b.design.name}: {b.importance.message}" for b in s.blocks
              if b.importance is not None and not b.importance.ranked]
    shown = [_shown("Dataset", "value"), _shown("Parameter", "value", "Param"),
             _shown("Importance", "dec3"), _shown("95% CI", "range", "CI low", "CI high"),
             _shown("Noise level", "dec3"), _shown("Above noise", "value"),
             _shown("Method", "value")]
    emphasis = pd.DataFrame(False, index=tab.index, columns=tab.columns)
    emphasis["Importance"] = tab["Above noise"].astype(bool).to_numpy()
    return _table("importance", tab, notes, shown, emphasis)


def associations_table(df: pd.DataFrame):
    """Sampled searches: each numeric hyperparameter's rank correlation with the metric and
    each categorical one's level differences, with intervals (see `sampled`)."""
    s = study(df)
    rows = []
    for b in s.blocks:
        sc = b.design.target.scale
        if b.rho is not None:
            for _, r in b.rho.iterrows():
                rows.append({"Dataset": b.design.name, "Parameter": r["Param"],
                             "Statistic": "Spearman ρ", "Estimate": r["Rho"],
                             "CI low": r["CI low"], "CI high": r["CI high"], "n": r["N"],
                             "p (Holm)": r["p (Holm)"], "Method": r["Method"]})
        if b.levels is not None:
            for _, r in b.levels.iterrows():
                rows.append({"Dataset": b.design.name, "Parameter": r["Param"],
                             "Statistic": f"{r['Level B']} − {r['Level A']}",
                             "Estimate": sc * r["Effect"], "CI low": sc * r["CI low"],
                             "CI high": sc * r["CI high"], "n": r["N A"] + r["N B"],
                             "p (Holm)": r["p (Holm)"], "Method": r["Method"]})
    if not rows:
        return None
    tab = pd.DataFrame(rows)
    emphasis = pd.DataFrame(False, index=tab.index, columns=tab.columns)
    emphasis["Estimate"] = tab.apply(significant, axis=1).to_numpy(dtype=bool)
    used = dict.fromkeys(m.split(";")[0] for m in tab["Method"])
    notes = [*(sampled_stats.METHODS.get(m, m) for m in used),
             f"bold: significant ({SIGNIFICANT})"]
    notes += [n for b in s.blocks for n in
              ((b.rho.attrs.get("notes", []) if b.rho is not None else [])
               + (b.levels.attrs.get("notes", []) if b.levels is not None else []))]
    shown = [_shown("Dataset", "value"), _shown("Parameter", "value"),
             _shown("Statistic", "value"), _shown("Estimate", "signed"),
             _shown("95% CI", "signed_interval", "CI low", "CI high"), _shown("n", "value"),
             _shown("p (Holm)", "pvalue")]
    return _table("associations", tab, notes, shown, emphasis)


def schedules_table(df: pd.DataFrame):
    """Population-based training: each trial's configs by iteration range (the keys that
    changed), best trial first."""
    if "schedule" not in df.columns:
        return None
    t = target_of(df)
    y = numeric(df, t.metric)
    order = y.sort_values(ascending=t.mode == "min", na_position="last").index
    rows = []
    for i in order:
        sched = df.at[i, "schedule"]
        if not isinstance(sched, list) or len(sched) < 2:
            continue
        changed = [k for k in sched[0][1] if len({json.dumps(c.get(k), sort_keys=True,
                                                             default=str)
                                                  for _, c in sched}) > 1]
        last_it = df.at[i, "iterations"]
        for j, (start, cfg) in enumerate(sched):
            end = sched[j + 1][0] - 1 if j + 1 < len(sched) else last_it
            rows.append({"Trial": df.at[i, "trial_id"], "From": start, "To": end,
                         "Config": ", ".join(f"{k}={_value(cfg.get(k))}" for k in changed),
                         t.metric: y[i] if j == len(sched) - 1 else math.nan})
    if not rows:
        return None
    tab = pd.DataFrame(rows)
    notes = ["population-based training: a trial's config changes when it copies a better "
             "member and perturbs its hyperparameters; From/To: training iterations; the "
             f"metric is the trial's last reported {t.metric}; only keys that changed shown"]
    shown = [_shown("Trial", "value"), _shown("From", "value"), _shown("To", "value"),
             _shown("Config", "value"), _shown(t.metric, "value")]
    return _table("schedules", tab, notes, shown)


def absent_reason(df: pd.DataFrame, kind: str) -> str:
    """Why the effects / anova / importance / associations / schedules table is empty."""
    s = study(df)
    if not s.blocks:
        return f"no trial reports {s.target.metric}"
    kinds = {b.design.kind for b in s.blocks}
    if kind == "anova":
        reasons = [f"{b.design.name}: {b.anova_reason}" for b in s.blocks if b.anova_reason]
        return "; ".join(reasons) or "no complete grid"
    if kind == "importance":
        msgs = [f"{b.design.name}: {b.importance.message}" for b in s.blocks
                if b.importance is not None and b.importance.message]
        return "; ".join(msgs) or "every dataset's trials form a complete grid (see effects " \
            "and anova)"
    if kind == "associations":
        return "no sampled search (see effects)"
    if kind == "schedules":
        return "no trial changed its config (not population-based training)"
    if kinds == {"sampled"}:
        return "a sampled search: no two trials share the other values (see associations)"
    if kinds == {"pbt"}:
        return "population-based training: configs changed within trials"
    return "no hyperparameter varies between matched trials"
