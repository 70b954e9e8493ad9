"""The inference as tables (numbers; report/ formats them): matched and simple effects,
sampled-search associations, ANOVA, importance, PBT schedules, and why a table is empty."""

from __future__ import annotations

import json
import math

import pandas as pd

from tune_bench.analysis import sampled as sampled_stats
from tune_bench.analysis.columns import numeric
from tune_bench.analysis.effects import LARGE_SHARE, METHODS, significant
from tune_bench.analysis.study import SIGNIFICANT, Study, study, value_text
from tune_bench.analysis.target import target_of

__all__ = ["absent_reason", "anova_table", "associations_table", "claims_table",
           "effects_table", "importance_table", "schedules_table"]


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
                         "Config": ", ".join(f"{k}={value_text(cfg.get(k))}" for k in changed),
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


def claims_table(df: pd.DataFrame):
    """The `claims` table (None without claims)."""
    from tune_bench.analysis.claims import NOT_SHOWN, claims_frame, rule
    from tune_bench.analysis.tables import Shown, Table, title

    tab = claims_frame(df)
    if tab.empty:
        return None
    emphasis = pd.DataFrame(False, index=tab.index, columns=tab.columns)
    emphasis["Verdict"] = (tab["Verdict"] != NOT_SHOWN).to_numpy()
    shown = [Shown("Claim", "value", ("Claim",)), Shown("Source", "value", ("Source",)),
             Shown("Stated", "value", ("Stated",)), Shown("Dataset", "value", ("Dataset",)),
             Shown("Statistic", "value", ("Statistic",)),
             Shown("Estimate", "signed", ("Estimate",)),
             Shown("95% CI", "signed_interval", ("CI low", "CI high")),
             Shown("n", "value", ("n",)), Shown("p (Holm)", "pvalue", ("p (Holm)",)),
             Shown("Verdict", "value", ("Verdict",)), Shown("Test", "value", ("Test",))]
    notes = [rule(df), "Estimate: oriented so that a positive value supports the claim "
             "(same: the difference itself, margin in column Margin); n: matched pairs, "
             "matched sets, trials or hardware pairs",
             "how each verdict is computed: docs/findings.md, Claims"]
    return Table("claims", title("claims"), tab, notes, emphasis, shown)
