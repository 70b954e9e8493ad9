"""The comparative tables, as numbers: each builder returns a `Table` whose DataFrame holds
numbers (NaN when missing), label strings and booleans, plus the cells to emphasize and the
columns to show; `report.format.display` turns it into text, `report.render` writes it.

`TABLES` lists every table once: its key (file name), title, builder and why it may be absent.
`Table` and the shared helpers are in `table_base`, the course's ResNet / SVM / CPU-GPU tables
in `course_tables`; this module holds the generic tables and the registry, and re-exports the
names of both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tune_bench import tune_dir
from tune_bench.analysis.columns import (
    config_columns,
    numeric,
    stopped_early,
    with_final_metric,
)
from tune_bench.analysis.course_tables import (
    _svm_groups,  # noqa: F401  (re-exported)
    best_config_per_dataset_model,
    best_per_configuration,
    cpu_gpu_pairs,
    cpu_vs_gpu,
    svm_best,
    svm_table,
    top_runs,
)
from tune_bench.analysis.frame import STATES
from tune_bench.analysis.stats import (
    config_groups,
    rank,
    significance_text,
    varying,
    welch_test,
)
from tune_bench.analysis.table_base import (
    BEST_RULE,
    SINGLE_RUNS,  # noqa: F401  (re-exported)
    TOP_RUNS,
    Shown,  # noqa: F401  (re-exported)
    Table,
    _acc_shown,
    _acc_values,
    _best_of,
    _ci_shown,
    _decimals,
    _frame,
    _label,
    _repeat_notes,
    _table,
    _value,
    acc_columns,  # noqa: F401  (re-exported)
    method_of,
)
from tune_bench.labels import (
    describe_config,
    fmt,
    label,
    pct,
    present,
    sort_key,
)


def cross_method(df: pd.DataFrame) -> Table | None:
    """Best accuracy of each method (ResNet-18/34/50, SVM poly/rbf) per dataset, with its time."""
    fin = with_final_metric(df)
    if fin.empty:
        return None
    groups = config_groups(fin.assign(_method=method_of(fin)), by=["_method"])
    groups["_ds"] = groups["dataset"].map(lambda d: fmt(d) if present(d) else "")
    best = groups.groupby(["_method", "_ds"], sort=False).head(1)
    datasets = sorted(best["_ds"].unique(), key=sort_key)
    headers = {ds: (f"{label('dataset', ds)} " if ds else "") for ds in datasets}
    rows = []
    for method in sorted(best["_method"].unique(), key=_method_order):
        row: dict[str, Any] = {"Method": method}
        for ds in datasets:
            hit = best[(best["_method"] == method) & (best["_ds"] == ds)]
            g = hit.iloc[0] if len(hit) else None
            row.update(_acc_values(f"{headers[ds]}Acc (%)", g))
            row[f"{headers[ds]}Train Time (ms)"] = g["time_mean"] if g is not None else math.nan
            row[f"_m_{ds}"] = g["acc_mean"] if g is not None else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    out = _frame(rows)
    emphasis = pd.DataFrame(False, index=out.index, columns=out.columns)
    for ds in datasets:
        emphasis[f"{headers[ds]}Acc (%)"] = _best_of(table[f"_m_{ds}"].to_numpy(dtype=float))
    notes = ["each cell: the best configuration of the method on the dataset; " + BEST_RULE,
             "* = best method of the dataset", *_repeat_notes(groups)]
    shown = [_value("Method")]
    for ds in datasets:
        shown += [_acc_shown(f"{headers[ds]}Acc (%)"),
                  _decimals(f"{headers[ds]}Train Time (ms)", 1)]
    return _table("cross_method", out, notes, shown, emphasis)


def _method_order(m: str) -> tuple[int, str]:
    return (1 if m.startswith("SVM") else 0, m)


_BEST_MODELS_SHOWN = [
    *(_value(h) for h in ("Study", "Dataset", "Best Method", "Configuration")),
    _acc_shown("Test Acc (%)"), _ci_shown("Test Acc (%)"), _decimals("Train Time (ms)", 1),
    _value("Runner-up"), _acc_shown("Runner-up Acc (%)"), _value("Significance"),
]


def best_models(df: pd.DataFrame) -> Table | None:
    """The best model of each study (experiment) and dataset, with the rule and significance."""
    fin = with_final_metric(df)
    if fin.empty:
        return None
    fin = fin.assign(_method=method_of(fin))
    groups = config_groups(fin, by=["experiment", "_method"])
    cfg = [c for c in config_columns(fin) if c not in ("trainer", "dataset", "model", "kernel",
                                                      "seed")]
    rows, notes = [], [BEST_RULE + "; with repeats (same config, other seed) the configuration "
                       "mean is compared", "significance: Welch t-test of best vs runner-up "
                       "configuration, p < 0.05"]
    for (exp, ds), sub in groups.groupby(["experiment", "dataset"], dropna=False, sort=False):
        sub = rank(sub)
        b, r = sub.iloc[0], (sub.iloc[1] if len(sub) > 1 else None)
        keys = varying(sub, cfg)
        sig = significance_text(b, r)
        test = welch_test(b["acc_values"], r["acc_values"]) if r is not None else None
        rows.append({
            "Study": exp, "Dataset": _label("dataset", ds), "Best Method": b["_method"],
            "Configuration": describe_config(b, keys), **_acc_values("Test Acc (%)", b),
            "Train Time (ms)": b["time_mean"],
            "Runner-up": None if r is None else f"{r['_method']}: {describe_config(r, keys)}",
            **_acc_values("Runner-up Acc (%)", r), "Significance": sig,
            "Welch t": test[0] if test else math.nan, "Welch p": test[1] if test else math.nan,
        })
        notes.append(f"{exp} / {label('dataset', ds)}: best is {b['_method']} "
                     f"({describe_config(b, keys)}) with {pct(b['acc_mean'])}% final test "
                     f"accuracy over {len(sub)} configuration(s); {sig}")
    notes += _repeat_notes(groups)
    return _table("best_models", _frame(rows), notes, _BEST_MODELS_SHOWN)


STOPPED_EARLY = "stopped early"


def state_counts(df: pd.DataFrame) -> Table:
    """Trials per experiment and state; with a `stopped early` column (TERMINATED trials a
    scheduler stopped before their last epoch) when there are any."""
    counts = df.groupby(["experiment", "state"]).size().unstack(fill_value=0)
    order = [s for s in STATES if s in counts.columns] + [
        s for s in counts.columns if s not in STATES]
    counts = counts[order]
    counts["total"] = counts.sum(axis=1)
    notes = [f"{len(df)} trial(s) in all"]
    early = stopped_early(df) & (df["state"] == "TERMINATED")
    if early.any():
        counts[STOPPED_EARLY] = early.groupby(df["experiment"]).sum().reindex(counts.index)
        at = numeric(df[early], "iterations").fillna(numeric(df[early], "epoch")).fillna(0)
        notes.append(f"{STOPPED_EARLY}: finished trials a scheduler stopped before the "
                     f"budget ({tune_dir.stopped_early_text(at, unit='iteration')})")
    out = counts.reset_index().rename(columns={"experiment": "Experiment"})
    out.columns.name = None
    return _table("trial_states", out, notes)


def errored_trials(df: pd.DataFrame) -> Table:
    """Trials in state ERROR with the exception line of their error.txt."""
    err = df[df["state"] == "ERROR"]
    out = pd.DataFrame({
        "Experiment": err["experiment"].astype(str), "Trial": err["trial_id"].astype(str),
        "Method": method_of(err).astype(str) if len(err) else pd.Series(dtype=str),
        "Error": err["error"].map(lambda e: e if isinstance(e, str) else "(no error.txt)"),
        "Trial Dir": err["trial_dir"].astype(str),
    }).reset_index(drop=True)
    note = f"{len(err)} errored trial(s)" if len(err) else "no errored trials"
    return _table("errors", out, [note])


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class TableSpec:
    """One table of the report: key (file name), title, builder (None when the data does not
    allow the table) and the reason it is then absent (a text, or computed from the trials)."""

    key: str
    title: str
    build: Callable[[pd.DataFrame], Table | None]
    absent: str | Callable[[pd.DataFrame], str] = ""

    def table(self, df: pd.DataFrame) -> Table:
        """The table for the trials `df`, or an empty one whose note says why not."""
        built = self.build(df)
        if built is not None:
            return built
        reason = self.absent(df) if callable(self.absent) else self.absent
        return Table(self.key, title(self.key), pd.DataFrame(), [f"not available: {reason}"])


def _inference(name: str) -> Callable[[pd.DataFrame], Any]:
    """A builder of `analysis.inference_tables` (imported on use: it imports this module)."""

    def build(df: pd.DataFrame) -> Any:
        from tune_bench.analysis import inference_tables

        return getattr(inference_tables, name)(df)

    return build


def _inference_absent(kind: str) -> Callable[[pd.DataFrame], str]:
    def reason(df: pd.DataFrame) -> str:
        from tune_bench.analysis.inference_tables import absent_reason

        return absent_reason(df, kind)

    return reason


_NO_RESNET = "no finished ResNet trials"
_NO_SVM = "no finished SVM trials"
_NO_TRIALS = "no finished trials"

def _claims_table(df: pd.DataFrame) -> Any:
    """The claims' verdicts (`analysis.claims`, imported on use)."""
    from tune_bench.analysis.inference_tables import claims_table

    return claims_table(df)


TABLES: tuple[TableSpec, ...] = (
    TableSpec("trial_states", "Trials per state", state_counts),
    TableSpec("claims", "Claims", _claims_table,
              "no claims (a claims: list in the space file, or analyze --claims FILE)"),
    TableSpec("effects", "Matched effects", _inference("effects_table"),
              _inference_absent("effects")),
    TableSpec("associations", "Sampled search: associations", _inference("associations_table"),
              _inference_absent("associations")),
    TableSpec("anova", "ANOVA (variance explained)", _inference("anova_table"),
              _inference_absent("anova")),
    TableSpec("importance", "Hyperparameter importance", _inference("importance_table"),
              _inference_absent("importance")),
    TableSpec("best_per_configuration", "Aggregated best results per configuration",
              best_per_configuration, _NO_RESNET),
    TableSpec("top_runs", "Top {n} single runs", top_runs, _NO_RESNET),
    TableSpec("best_config_per_dataset_model", "Best configuration per dataset and model",
              best_config_per_dataset_model, _NO_RESNET),
    TableSpec("svm", "SVM classification performance", svm_table, _NO_SVM),
    TableSpec("svm_best", "Best SVM per dataset and kernel", svm_best, _NO_SVM),
    TableSpec("cpu_vs_gpu", "CPU vs GPU performance", lambda df: cpu_vs_gpu(df)[0],
              lambda df: cpu_gpu_pairs(df)[1]),
    TableSpec("cross_method", "Best results across methods", cross_method, _NO_TRIALS),
    TableSpec("best_models", "Best model of each study", best_models, _NO_TRIALS),
    TableSpec("schedules", "Population-based training: schedules",
              _inference("schedules_table"), _inference_absent("schedules")),
    TableSpec("errors", "Errored trials", errored_trials),
)
_BY_KEY = {spec.key: spec for spec in TABLES}


def title(key: str, n: int = TOP_RUNS) -> str:
    """The title of table `key` (`n`: the number of runs of the top-runs table)."""
    return _BY_KEY[key].title.format(n=n)


def all_tables(df: pd.DataFrame) -> list[Table]:
    """Every table that applies; the others appear empty with a note saying why."""
    return [spec.table(df) for spec in TABLES]
