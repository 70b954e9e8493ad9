"""What the sweep shows, with confidence: the inference of every block (matched effects,
ANOVA and ties on complete grids, importance otherwise, CPU/GPU pairs), as the `effects`,
`anova` and `importance` tables and as plain sentences, strongest first ("Findings").

See docs/findings.md for how each number is computed and what it assumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tune_bench.analysis.anova import Anova, Ties, anova, ties_at_top
from tune_bench.analysis.design import Design, Target, blocks, target_of
from tune_bench.analysis.effects import METHODS, excludes_zero, matched_effects
from tune_bench.analysis.hardware import ACC_METHOD, MARGIN_POINTS, RHO_METHOD, Hardware, hardware
from tune_bench.analysis.importance import importance
from tune_bench.report.format import pvalue

NOTHING = "nothing is called better when its 95% interval includes zero"
MAX_SENTENCES = 8


@dataclass
class BlockResult:
    """Everything inferred for one block."""

    design: Design
    effects: pd.DataFrame
    anova: Anova | None
    anova_reason: str
    ties: Ties | None
    importance: pd.DataFrame | None


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
        res, reason = anova(d)
        ties = ties_at_top(d) if d.repeats else None
        if ties is None and res is not None:
            ties = ties_at_top(d, res.sigma2, res.dof, "ANOVA " + res.residual.lower())
        imp = None if d.complete else importance(d, df.loc[d.x.index, d.factors])
        out.blocks.append(BlockResult(d, matched_effects(d), res, reason, ties, imp))
    if target.metric == "test_acc":
        out.hardware = hardware(df)
    return out


# --------------------------------------------------------------------------- sentences


@dataclass
class Findings:
    """Plain sentences per block (title, sentences), and notes on the methods."""

    sections: list[tuple[str, list[str]]]
    notes: list[str]


def findings(df: pd.DataFrame) -> Findings:
    """The findings of `df`, strongest first within each block."""
    s = study(df)
    t = s.target
    sections = []
    if not s.blocks:
        return Findings([("all trials", [f"no trial reports {t.metric}: nothing to infer "
                                         "(choose the metric with --metric)"])], [])
    for b in s.blocks:
        sections.append((b.design.name, _block_sentences(b)))
    hw = {h.block: h for h in s.hardware}
    for name, sentences in sections:
        key = _dataset_key(name, hw)
        if key is not None:
            sentences.extend(_hardware_sentences(hw.pop(key)))
    for h in hw.values():
        sections.append((h.block, _hardware_sentences(h)))
    notes = [f"metric: {t.metric} ({'higher' if t.mode == 'max' else 'lower'} is better)"
             + ("; differences in percentage points" if t.scale == 100 else ""),
             NOTHING, "effects and ANOVA: see the Matched effects and ANOVA tables and "
             "docs/findings.md"]
    return Findings(sections, notes)


def _dataset_key(name: str, hw: dict[str, Hardware]) -> str | None:
    from tune_bench.report.format import label

    for k in hw:
        if label("dataset", k) == name.split(" / ")[0]:
            return k
    return None


def _block_sentences(b: BlockResult) -> list[str]:
    d, t = b.design, b.design.target
    out = [f"{len(d.y)} finished trials; " + d.repeat_text() + "."]
    out += [f"{n}." for n in d.dropped]
    if b.ties is not None:
        out.append(_ties_sentence(b.ties, d))
    effects = _effect_sentences(b.effects, t)
    out += effects[:MAX_SENTENCES]
    if b.anova is not None:
        out.append(_anova_sentence(b.anova))
    elif d.factors and b.anova_reason:
        out.append(f"no ANOVA: {b.anova_reason}.")
    if b.importance is not None and not b.importance.empty:
        out.append(_importance_sentence(b.importance))
    if not d.factors:
        out.append("no hyperparameter varies: nothing to compare.")
    return out


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


def _effect_sentences(eff: pd.DataFrame, t: Target) -> list[str]:
    """One sentence per factor: its strongest level pair; detectable ones first, by size."""
    if eff.empty:
        return []
    eff = eff.assign(_sig=eff.apply(excludes_zero, axis=1), _abs=eff["Effect"].abs())
    picked = (eff.sort_values(["_sig", "_abs"], ascending=False, kind="mergesort")
              .groupby("Factor", sort=False).head(1))
    pairs = eff.groupby("Factor").size()
    return [_effect_sentence(r, t, int(pairs[r["Factor"]])) for _, r in picked.iterrows()]


def _effect_sentence(r: pd.Series, t: Target, n_pairs: int) -> str:
    unit = " points" if t.scale == 100 else ""
    a, b = r["Level A"], r["Level B"]
    which = f" (strongest of {n_pairs} level pairs)" if n_pairs > 1 else ""
    test = f"{r['Method']}, {int(r['Pairs'])} matched pair{'s' if r['Pairs'] != 1 else ''}"
    if not math.isfinite(r["CI low"]):
        return (f"{r['Factor']}: {b} − {a} = {r['Effect']:+.2f}{unit} from a single matched "
                f"pair: no interval, no conclusion{which}.")
    ci = f"95% CI {r['CI low']:+.2f} to {r['CI high']:+.2f}"
    if excludes_zero(r):
        winner, n_win = (b, r["Favour B"]) if t.better(r["Effect"]) else (a, r["Favour A"])
        return (f"{r['Factor']}: {b} − {a} = {r['Effect']:+.2f}{unit} ({ci}; {test}, "
                f"{_p_text(r['p (Holm)'])}), {int(n_win)} of {int(r['Pairs'])} pairs "
                f"favour {winner}{which}.")
    half = max(abs(r["CI low"] - r["Effect"]), abs(r["CI high"] - r["Effect"]))
    return (f"{r['Factor']}: no detectable difference between {a} and {b} "
            f"({b} − {a} = {r['Effect']:+.2f} ± {half:.2f}{unit}, {ci}; {test}){which}.")


def _p_text(p: float, name: str = "p(Holm)") -> str:
    text = pvalue(p)
    return f"{name} < {text[1:]}" if text.startswith("<") else f"{name} = {text}"


def _anova_sentence(a: Anova) -> str:
    tab = a.table[a.table["F"].notna()].sort_values("Share (%)", ascending=False)
    sig = tab[tab["p (Holm)"] < 0.05]
    parts = [f"{r['Term']} {r['Share (%)']:.0f}% (F = {r['F']:.1f}, "
             f"{_p_text(r['p (Holm)'])})" for _, r in sig.head(4).iterrows()]
    head = ("share of variance (type II ANOVA, main effects and two-way interactions, "
            f"tested against the {a.residual.lower()}): ")
    if not parts:
        return head + "no term is significant after Holm correction."
    rest = len(tab) - len(sig)
    tail = f"; {rest} other term(s) not significant" if rest else ""
    return head + "; ".join(parts) + tail + "."


def _importance_sentence(imp: pd.DataFrame) -> str:
    parts = [f"{r['Factor']} {r['Importance']:.2f}" for _, r in imp.head(5).iterrows()]
    method = str(imp["Method"].iloc[0]).split(" (")[0]
    return (f"no complete grid, so importance instead ({method}; no direction, no "
            f"interval): " + ", ".join(parts) + ".")


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
    eff = pd.concat([b.effects for b in s.blocks if not b.effects.empty], ignore_index=True) \
        if any(not b.effects.empty for b in s.blocks) else pd.DataFrame()
    if eff.empty:
        return None
    sig = eff.apply(excludes_zero, axis=1).to_numpy(dtype=bool)
    emphasis = pd.DataFrame(False, index=eff.index, columns=eff.columns)
    emphasis["Effect"] = sig
    t = s.target
    unit = "points" if t.scale == 100 else t.metric
    used = sorted(set(eff["Method"]) & set(METHODS))
    notes = [f"Effect = mean over matched grid points (same other hyperparameters) of "
             f"{t.metric}(B) - {t.metric}(A), in {unit}; 95% CI; pairs = matched grid points; "
             f"favour = pairs where the level is better ({t.mode} {t.metric})",
             *(f"{m}: {METHODS[m]}" for m in used),
             "p: two-sided, same t; p (Holm): Holm-corrected within each dataset",
             f"* (bold) marks effects whose interval excludes zero; {NOTHING}",
             *_common_notes(s)]
    shown = [_shown("Dataset", "value"), _shown("Factor", "value"), _shown("A", "value",
             "Level A"), _shown("B", "value", "Level B"),
             _shown(f"B - A ({unit})", "signed", "Effect"),
             _shown("95% CI", "signed_interval", "CI low", "CI high"),
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
             _shown("df", "value"), _shown("F", "dec2"), _shown("p", "pvalue"),
             _shown("p (Holm)", "pvalue"), _shown("Share (%)", "dec1")]
    return _table("anova", tab, notes, shown, emphasis)


def importance_table(df: pd.DataFrame):
    """Importance of each factor for blocks without a complete grid (see `importance`)."""
    s = study(df)
    parts = [b.importance for b in s.blocks if b.importance is not None
             and not b.importance.empty]
    if not parts:
        return None
    tab = pd.concat(parts, ignore_index=True)
    notes = [*(f"{m}" for m in dict.fromkeys(tab["Method"])),
             "importance says how much a hyperparameter matters, not in which direction, "
             "and carries no confidence interval; used where the grid is not complete"]
    shown = [_shown("Dataset", "value"), _shown("Factor", "value"),
             _shown("Importance", "dec3"), _shown("Std", "dec3"), _shown("Method", "value")]
    return _table("importance", tab, notes, shown)


def absent_reason(df: pd.DataFrame, kind: str) -> str:
    """Why the effects / anova / importance table is empty."""
    s = study(df)
    if not s.blocks:
        return f"no trial reports {s.target.metric}"
    if kind == "anova":
        reasons = [f"{b.design.name}: {b.anova_reason}" for b in s.blocks if b.anova_reason]
        return "; ".join(reasons) or "no complete grid"
    if kind == "importance":
        return "every dataset's trials form a complete grid (see effects and anova)"
    return "no hyperparameter varies between matched trials"
