"""What the sweep shows, in plain sentences, strongest first ("Findings"): per block its
design, its best trial, then what the methods its design admits show (`study`). The same
numbers are in the tables of `inference_tables`.

See docs/findings.md for how each number is computed and what it assumes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tune_bench.analysis.anova import Anova, Ties
from tune_bench.analysis.columns import numeric
from tune_bench.analysis.design import Design, Target, candidate_factors, target_of  # noqa: F401
from tune_bench.analysis.effects import excludes_zero, significant
from tune_bench.analysis.hardware import MARGIN_POINTS, Hardware
from tune_bench.analysis.sampled import ImportanceResult
from tune_bench.analysis.study import (  # noqa: F401  (re-exported)
    NOTHING,
    SIGNIFICANT,
    BlockResult,
    Study,
    best_trial_by,
    study,
    value_text,
)
from tune_bench.labels import pvalue, stat

MAX_SENTENCES = 8


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
        out += _higher_order_sentence(b.anova)
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
    cfg = ", ".join(f"{k}={value_text(best[k], k)}" for k in keys) or "the single configuration"
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
    how = "adjusted for the other parameters (OLS, HC3)" if str(r["Method"]).startswith(
        "OLS") else "Welch t"
    test = f"{how}, {int(r['N A'])} and {int(r['N B'])} trials, {_p_text(r['p (Holm)'])}"
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


def _higher_order_sentence(a: Anova) -> list[str]:
    """A caution when interactions of three or more factors are large and significant: the
    main and simple effects above average over them."""
    from tune_bench.analysis.anova import LACK_OF_FIT
    from tune_bench.analysis.effects import LARGE_SHARE

    rows = a.table[(a.table["Term"] == LACK_OF_FIT) & (a.table["p (Holm)"] < 0.05)
                   & (a.table["Share (%)"] >= LARGE_SHARE)]
    return [f"caution: interactions of three or more factors explain "
            f"{r['Share (%)']:.0f}% of the variance ({_p_text(r['p (Holm)'])}): each effect "
            "above is an average over configurations where it differs in size or sign; the "
            "per-configuration table shows them." for _, r in rows.iterrows()]


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




def __getattr__(name: str):
    """The table builders moved to `inference_tables`; old imports keep working."""
    from tune_bench.analysis import inference_tables

    if name in inference_tables.__all__:
        return getattr(inference_tables, name)
    raise AttributeError(name)
