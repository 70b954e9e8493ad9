"""The comparative tables, as numbers: each builder returns a `Table` whose DataFrame holds
numbers (NaN when missing), label strings and booleans, plus the cells to emphasize and the
columns to show; `report.format.display` turns it into text, `report.render` writes it.

`TABLES` lists every table once: its key (file name), title, builder and why it may be absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tune_bench import tune_dir
from tune_bench.analysis.columns import (
    column,
    config_columns,
    device_of,
    ensure_columns,
    numeric,
    stopped_early,
    trainer_of,
    with_final_metric,
)
from tune_bench.analysis.frame import STATES
from tune_bench.analysis.stats import (
    config_groups,
    rank,
    significance_text,
    varying,
    welch_test,
)
from tune_bench.report.format import (
    COLUMN_LABELS,
    applies,
    describe_config,
    fmt,
    label,
    pct,
    present,
    sort_key,
)

BEST_RULE = (
    "best = highest final (last reported) test_acc of each trial; ties broken by lower "
    "training time (train_time_ms)"
)
SINGLE_RUNS = "single runs: no confidence interval"
TOP_RUNS = 10


@dataclass(frozen=True)
class Shown:
    """A displayed column: its header, its cell kind (`report.format.CELLS`) and the numeric
    columns the cell is made from (an accuracy cell: mean, std and n)."""

    header: str
    kind: str
    sources: tuple[str, ...]


@dataclass
class Table:
    """A table as numbers: `df` (NaN for missing), `emphasis` (booleans, df's shape and
    columns: the best cells; None for none), `shown` (the displayed columns; None: every column
    as a value) and `notes` saying how it was computed."""

    key: str
    title: str
    df: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    emphasis: pd.DataFrame | None = None
    shown: list[Shown] | None = None

    def columns(self) -> list[Shown]:
        """The displayed columns."""
        if self.shown is not None:
            return self.shown
        return [_value(str(c)) for c in self.df.columns]

    def mask(self) -> pd.DataFrame:
        """The cells to emphasize (all False when none)."""
        if self.emphasis is not None:
            return self.emphasis
        return pd.DataFrame(False, index=self.df.index, columns=self.df.columns)


# --------------------------------------------------------------------------- columns


def _value(header: str) -> Shown:
    return Shown(header, "value", (header,))


def _decimals(header: str, places: int) -> Shown:
    return Shown(header, f"dec{places}", (header,))


def acc_columns(header: str) -> tuple[str, str, str, str, str]:
    """The numeric columns of an accuracy column `X (%)`: mean, std, 95% CI low and high (all
    in %) and n (runs of the configuration)."""
    base = header.removesuffix(" (%)")
    return (header, f"{base} std (%)", f"{base} 95% CI low (%)", f"{base} 95% CI high (%)",
            f"{base} n")


def _acc_values(header: str, g: pd.Series | None) -> dict[str, float]:
    """The accuracy columns of a configuration group (`config_groups` row); NaN for none."""
    names = acc_columns(header)
    if g is None:
        return dict.fromkeys(names, math.nan)
    mean, half = g["acc_mean"], g["acc_ci95"]
    return dict(zip(names, (100 * mean, 100 * g["acc_std"], 100 * (mean - half),
                            100 * (mean + half), g["n"]), strict=True))


def _acc_shown(header: str) -> Shown:
    mean, std, _, _, n = acc_columns(header)
    return Shown(header, "mean_sd", (mean, std, n))


def _ci_shown(acc_header: str, header: str = "95% CI (%)") -> Shown:
    _, _, low, high, n = acc_columns(acc_header)
    return Shown(header, "interval", (low, high, n))


def _label(kind: str, v: Any) -> str | None:
    """The display label of a value; None when missing."""
    return label(kind, v) if present(v) else None


def _hp_value(col: str, v: Any) -> Any:
    """A hyperparameter's value for a table: optimizer and kernel as their labels."""
    return _label(col, v) if col in ("optimizer", "kernel") else v


def _hp_text(col: str, v: Any) -> str:
    return label(col, v) if col in ("optimizer", "kernel") else fmt(v)


def _frame(rows: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Rows as a DataFrame without the helper columns (names starting with `_`)."""
    df = pd.DataFrame(rows)
    return df[[c for c in df.columns if not str(c).startswith("_")]].reset_index(drop=True)


def _best_of(values: np.ndarray) -> np.ndarray:
    """Where `values` equal their maximum (ties all True; none when all are NaN)."""
    if not np.isfinite(values).any():
        return np.zeros(len(values), dtype=bool)
    return np.isclose(values, np.nanmax(values), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- helpers


def method_of(df: pd.DataFrame) -> pd.Series:
    """'ResNet-18' ... for ResNet trials, 'SVM (poly)' / 'SVM (rbf)' for SVM trials."""
    tr = trainer_of(df)
    res = column(df, "model").map(lambda m: label("model", m) if present(m) else "ResNet")
    svm = column(df, "kernel").map(lambda k: f"SVM ({k})" if present(k) else "SVM")
    other = column(df, "trainer").map(lambda t: str(t) if present(t) else "unknown")
    return pd.Series(np.where(tr == "svm", svm, np.where(tr == "resnet", res, other)),
                     index=df.index)


def _sorted(df: pd.DataFrame, cols: list[str], descending: Sequence[str] = ()) -> pd.DataFrame:
    out = df
    for c in reversed(cols):
        out = out.sort_values(
            c, key=lambda s: s.map(sort_key), ascending=c not in descending, kind="mergesort"
        )
    return out


def _repeat_notes(groups: pd.DataFrame) -> list[str]:
    if groups.empty or (groups["n"] <= 1).all():
        return [SINGLE_RUNS]
    n_rep = int((groups["n"] > 1).sum())
    return [f"{n_rep} configuration(s) have repeats (same config, other seed): "
            "mean ± std (n) shown; 95% CI from Student t"]


def _excluded_note(df: pd.DataFrame, sub: pd.DataFrame) -> list[str]:
    """How many trials of `df` are not in `sub` (no final test_acc), by state; trials a
    scheduler stopped early are counted by the epoch they stopped at."""
    missing = len(df) - len(sub)
    if missing <= 0:
        return []
    out = df.loc[~df.index.isin(sub.index)]
    early = stopped_early(out)
    parts = [f"{n} {s}" for s, n in out.loc[~early, "state"].value_counts().items()]
    epochs = numeric(out[early], "epoch").value_counts(dropna=False).sort_index()
    parts += [f"{n} stopped early at epoch {fmt(e)}" for e, n in epochs.items()]
    return [f"{missing} trial(s) without a final test_acc left out ({', '.join(parts)})"]


def _stopped_notes(df: pd.DataFrame, trial_ids: Sequence[Any]) -> list[str]:
    """'trial <id> stopped early at epoch k' for the given trials a scheduler stopped."""
    shown = df[df["trial_id"].isin(list(trial_ids)) & stopped_early(df)]
    return [f"trial {r['trial_id']} stopped early at epoch {fmt(r.get('epoch'))}"
            for _, r in shown.iterrows()]


def _ci_text(g: pd.Series) -> str:
    if g["n"] < 2:
        return "-"
    lo, hi = g["acc_mean"] - g["acc_ci95"], g["acc_mean"] + g["acc_ci95"]
    return f"[{pct(lo)}, {pct(hi)}]"


def _resnet(df: pd.DataFrame) -> pd.DataFrame:
    return df[trainer_of(df) == "resnet"]


def _svm(df: pd.DataFrame) -> pd.DataFrame:
    return df[trainer_of(df) == "svm"]


def _table(key: str, df: pd.DataFrame, notes: list[str], shown: list[Shown] | None = None,
           emphasis: pd.DataFrame | None = None, **title_fields: Any) -> Table:
    return Table(key, title(key, **title_fields), df, notes, emphasis, shown)


# --------------------------------------------------------------------------- tables

_CELL_AXES = ["dataset", "batch_size", "optimizer", "lr"]


def _model_header(model: Any) -> str:
    return f"{label('model', model)} Acc (%)"


def best_per_configuration(df: pd.DataFrame) -> Table | None:
    """Per dataset: rows (batch_size, optimizer, lr), one column per model, best test accuracy."""
    res = _resnet(df)
    groups = config_groups(res)
    if groups.empty:
        return None
    groups = ensure_columns(groups, [*_CELL_AXES, "model"])
    cells = groups.groupby([*_CELL_AXES, "model"], dropna=False, sort=False).head(1)
    models = sorted(cells["model"].dropna().unique(), key=str)
    rows = []
    for axes, sub in cells.groupby(_CELL_AXES, dropna=False, sort=False):
        row = {"Dataset": _label("dataset", axes[0]), "Batch Size": axes[1],
               "Optimizer": _label("optimizer", axes[2]), "LR": axes[3]}
        for m in models:
            hit = sub[sub["model"] == m]
            row.update(_acc_values(_model_header(m), hit.iloc[0] if len(hit) else None))
            row[f"_mean_{m}"] = hit["acc_mean"].iloc[0] if len(hit) else math.nan
        rows.append({**row, "_ds": axes[0], "_bs": axes[1], "_opt": axes[2], "_lr": axes[3]})
    table = _sorted(pd.DataFrame(rows), ["_ds", "_bs", "_opt", "_lr"], descending=["_lr"])
    table = table.reset_index(drop=True)
    out = _frame(table)
    emphasis = pd.DataFrame(False, index=out.index, columns=out.columns)
    for idx in table.groupby("_ds", dropna=False, sort=False).groups.values():
        means = table.loc[idx, [f"_mean_{m}" for m in models]].to_numpy(dtype=float)
        best = _best_of(means.ravel()).reshape(means.shape)
        for j, m in enumerate(models):
            emphasis.loc[idx, _model_header(m)] = best[:, j]
    remaining = [c for c in config_columns(res)
                 if c not in {*_CELL_AXES, "model", "trainer", "seed"} and c in res.columns]
    remaining = varying(res, remaining)
    notes = [
        "each cell: best over the remaining axes ("
        + (", ".join(remaining) if remaining else "none vary")
        + ") by final (last reported) test_acc; " + BEST_RULE,
        "* (bold in markdown, HTML and LaTeX) marks the best cell of each dataset",
        *_repeat_notes(groups),
        *_cell_significance(cells),
        *_excluded_note(res, with_final_metric(res)),
    ]
    shown = [_value(h) for h in ("Dataset", "Batch Size", "Optimizer", "LR")]
    shown += [_acc_shown(_model_header(m)) for m in models]
    return _table("best_per_configuration", out, notes, shown, emphasis)


def _cell_significance(cells: pd.DataFrame) -> list[str]:
    notes = []
    for ds, sub in _sorted(cells, ["dataset"]).groupby("dataset", dropna=False, sort=False):
        sub = rank(sub)
        best = sub.iloc[0]
        runner = sub.iloc[1] if len(sub) > 1 else None
        text = f"{label('dataset', ds)}: best cell {_cell_name(best)}: {pct(best['acc_mean'])}%"
        if best["n"] > 1:
            text += f" (95% CI {_ci_text(best)}, n={int(best['n'])})"
        if runner is not None:
            text += f"; runner-up {_cell_name(runner)}: {pct(runner['acc_mean'])}%"
        notes.append(f"{text}; {significance_text(best, runner)}")
    return notes


def _cell_name(g: pd.Series) -> str:
    return (f"{label('model', g['model'])} bs={fmt(g['batch_size'])} "
            f"{label('optimizer', g['optimizer'])} lr={fmt(g['lr'])}")


def top_runs(df: pd.DataFrame, n: int = TOP_RUNS) -> Table | None:
    """Top-n single ResNet runs per dataset with every hyperparameter."""
    res = with_final_metric(_resnet(df))
    if res.empty:
        return None
    hp = [c for c in config_columns(res) if c not in ("trainer", "dataset", "model")]
    hp = [c for c in hp if res[c].notna().any()]
    core = ("batch_size", "optimizer", "lr", "epochs", "pin_memory", "device")
    constant = [c for c in hp if c not in core and res[c].astype(str).nunique() <= 1]
    hp = [c for c in hp if c not in constant]
    rows, trial_ids = [], []
    for ds, sub in _sorted(res, ["dataset"]).groupby("dataset", dropna=False, sort=False):
        sub = rank(sub.assign(_acc=numeric(sub, "test_acc"), _t=numeric(sub, "train_time_ms")),
                   "_acc", "_t").head(n)
        for i, (_, r) in enumerate(sub.iterrows(), start=1):
            row = {"Dataset": _label("dataset", ds), "Rank": i,
                   "Model": _label("model", r["model"])}
            row.update({COLUMN_LABELS.get(c, c): _hp_value(c, r[c]) for c in hp})
            row.update({"Test Acc (%)": 100 * r["_acc"], "Train Time (ms)": r["_t"],
                        "Trial": r["trial_id"]})
            rows.append(row)
            trial_ids.append(r["trial_id"])
    notes = [f"top {n} single runs per dataset (one trial per row), ranked by final (last "
             "reported) test_acc; ties broken by lower train_time_ms", SINGLE_RUNS,
             *([("same in every run: " + ", ".join(
                 f"{c}={_hp_text(c, res[c].iloc[0])}" for c in constant))] if constant else []),
             *_stopped_notes(res, trial_ids),
             *_excluded_note(_resnet(df), res)]
    out = _frame(rows)
    places = {"Test Acc (%)": 2, "Train Time (ms)": 1}
    shown = [_decimals(c, places[c]) if c in places else _value(c) for c in out.columns]
    return _table("top_runs", out, notes, shown, n=n)


_BEST_CONFIG_KEYS = ("batch_size", "optimizer", "lr", "epochs", "pin_memory", "device")


def best_config_per_dataset_model(df: pd.DataFrame) -> Table | None:
    """The best configuration of each (dataset, model), with its epochs and training time."""
    res = _resnet(df)
    groups = config_groups(res)
    if groups.empty:
        return None
    show = [c for c in _BEST_CONFIG_KEYS if c in groups.columns]
    best = groups.groupby(["dataset", "model"], dropna=False, sort=False).head(1)
    best = _sorted(best, ["dataset", "model"])
    repeats = (groups["n"] > 1).any()
    rows = []
    for _, g in best.iterrows():
        row = {"Dataset": _label("dataset", g["dataset"]), "Model": _label("model", g["model"])}
        row.update({COLUMN_LABELS.get(c, c): _hp_value(c, g[c]) for c in show})
        row.update(_acc_values("Test Acc (%)", g))
        row["Train Time (ms)"] = g["time_mean"]
        rows.append(row)
    notes = [BEST_RULE + "; with repeats the configuration mean is used",
             *_repeat_notes(groups),
             *_stopped_notes(res, [t for ids in best["trial_ids"] for t in ids]),
             *_excluded_note(res, with_final_metric(res))]
    shown = [_value(h) for h in ("Dataset", "Model", *(COLUMN_LABELS.get(c, c) for c in show))]
    shown += [_acc_shown("Test Acc (%)"), *([_ci_shown("Test Acc (%)")] if repeats else []),
              _decimals("Train Time (ms)", 1)]
    return _table("best_config_per_dataset_model", _frame(rows), notes, shown)


def _svm_groups(df: pd.DataFrame) -> pd.DataFrame:
    svm = _svm(df).reset_index(drop=True)
    groups = config_groups(svm)
    if groups.empty:
        return groups
    fin = with_final_metric(svm)  # members by row: a trial id can repeat across experiments
    sizes = groups["_rows"].map(len).to_numpy()
    pos = fin.index.get_indexer(np.concatenate(groups["_rows"].to_list()))
    members = np.split(pos, np.cumsum(sizes)[:-1])
    for metric in ("train_acc", "predict_time_ms"):
        vals = numeric(fin, metric).to_numpy()
        groups[metric] = [float(np.nanmean(vals[i])) if np.isfinite(vals[i]).any() else math.nan
                          for i in members]
    backend = column(fin, "svm_backend").astype(object)
    backend = backend.where(backend.notna(), column(fin, "backend")).map(fmt)
    gemm = column(fin, "svm_predict").astype(object).eq("gemm").to_numpy()
    backend = np.where(gemm, backend + " (gemm predict)", backend)  # predict time depends on it
    groups["_backend"] = [", ".join(sorted(set(backend[i]))) for i in members]
    return ensure_columns(groups, ("dataset", "kernel", "C", "gamma", "degree"))


_SVM_SHOWN = [*(_value(h) for h in ("Dataset", "Kernel", "C", "gamma", "degree")),
              _acc_shown("Test Acc (%)"), _decimals("Train Acc (%)", 2),
              _decimals("Train Time (ms)", 1), _decimals("Predict Time (ms)", 1),
              _value("Backend")]


def svm_table(df: pd.DataFrame) -> Table | None:
    """Every SVM configuration: kernel, C, gamma, degree, accuracies, times, backend."""
    groups = _svm_groups(df)
    if groups.empty:
        return None
    groups = _sorted(groups, ["dataset", "kernel", "degree", "C", "gamma"])
    best_ids = set(rank(groups).groupby(["dataset", "kernel"], dropna=False).head(1).index)
    repeats = (groups["n"] > 1).any()
    rows = [{**_svm_row(g), "Best": i in best_ids} for i, g in groups.iterrows()]
    notes = ["* = best of its dataset and kernel; " + BEST_RULE,
             "degree applies to the poly kernel only", *_repeat_notes(groups),
             *_excluded_note(_svm(df), with_final_metric(_svm(df)))]
    n = acc_columns("Test Acc (%)")[-1]
    shown = [*_SVM_SHOWN, *([Shown("n", "value", (n,))] if repeats else []),
             Shown("Best", "mark", ("Best",))]
    return _table("svm", _frame(rows), notes, shown)


def _svm_row(g: pd.Series) -> dict[str, Any]:
    return {
        "Dataset": _label("dataset", g["dataset"]),
        "Kernel": _label("kernel", g["kernel"]),
        "C": g["C"],
        "gamma": g["gamma"],
        "degree": g["degree"] if applies(g, "degree") else math.nan,
        **_acc_values("Test Acc (%)", g),
        "Train Acc (%)": 100 * g["train_acc"],
        "Train Time (ms)": g["time_mean"],
        "Predict Time (ms)": g["predict_time_ms"],
        "Backend": g["_backend"],
    }


def svm_best(df: pd.DataFrame) -> Table | None:
    """The best SVM configuration of each dataset and kernel."""
    groups = _svm_groups(df)
    if groups.empty:
        return None
    best = groups.groupby(["dataset", "kernel"], dropna=False, sort=False).head(1)
    best = _sorted(best, ["dataset", "kernel"])
    rows = [_svm_row(g) for _, g in best.iterrows()]
    return _table("svm_best", _frame(rows), [BEST_RULE, *_repeat_notes(groups)],
                  _SVM_SHOWN)


_PAIR_KEYS = ["dataset", "model", "optimizer", "batch_size", "lr", "epochs", "n_train"]


def cpu_gpu_pairs(df: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """Numeric CPU-vs-GPU comparison: one row per matched ResNet configuration.

    Trials are matched on dataset, model, optimizer, batch size, lr, epochs and n_train and
    averaged per device (over seeds and device-specific loader settings).
    """
    res = with_final_metric(_resnet(df))
    if res.empty:
        return None, "no finished ResNet trials"
    res = ensure_columns(res.assign(_device=device_of(res)), ("dataset", "model"))
    devices = set(res["_device"])
    if "gpu" not in devices or "cpu" not in devices:
        missing = "GPU" if "gpu" not in devices else "CPU"
        return None, f"no {missing} ResNet trials, so no CPU-vs-GPU comparison"
    keys = [k for k in _PAIR_KEYS if k in res.columns]
    agg = res.assign(**{f"_{m}": numeric(res, m) for m in ("macs", "flops", "params")},
                     _acc=numeric(res, "test_acc"), _t=numeric(res, "train_time_ms"))
    per = agg.groupby([*keys, "_device"], sort=False, dropna=False).agg(
        acc=("_acc", "mean"), time=("_t", "mean"), n=("_acc", "size"),
        macs=("_macs", "mean"), flops=("_flops", "mean"), params=("_params", "mean")
    )
    wide = per.unstack("_device")
    wide = wide[wide[("n", "cpu")].notna() & wide[("n", "gpu")].notna()]
    if wide.empty:
        return None, "no ResNet configuration ran on both CPU and GPU"
    out = pd.DataFrame(index=wide.index)
    for m in ("acc", "time", "n"):
        out[f"{m}_cpu"], out[f"{m}_gpu"] = wide[(m, "cpu")], wide[(m, "gpu")]
    out["speedup"] = out["time_cpu"] / out["time_gpu"]
    macs = wide["macs"].mean(axis=1)
    out["macs"] = macs
    out["flops"] = wide["flops"].mean(axis=1).fillna(2 * macs)
    out["params"] = wide["params"].mean(axis=1)
    return out.reset_index(), ""


def _pair_header(k: str) -> str:
    return COLUMN_LABELS.get(k, k.capitalize())


def _mega(x: Any) -> float:
    return float(x) / 1e6 if present(x) else math.nan


def cpu_vs_gpu(df: pd.DataFrame) -> tuple[Table | None, str]:
    """Accuracy and training time per device, speedup = CPU time / GPU time, MACs/FLOPs/params.

    Returns (None, reason) when there are no GPU (or no CPU) ResNet trials to compare.
    """
    pairs, reason = cpu_gpu_pairs(df)
    if pairs is None:
        return None, reason
    pairs = _sorted(pairs, [k for k in ("dataset", "model", "optimizer", "batch_size", "lr")
                            if k in pairs.columns], descending=["lr"])
    keys = [k for k in _PAIR_KEYS if k in pairs.columns]
    rows = []
    for _, p in pairs.iterrows():
        row = {_pair_header(k): _label(k, p[k]) if k in ("dataset", "model", "optimizer")
               else p[k] for k in keys}
        row.update({
            "Acc CPU (%)": 100 * p["acc_cpu"], "Acc GPU (%)": 100 * p["acc_gpu"],
            "Time CPU (ms)": p["time_cpu"], "Time GPU (ms)": p["time_gpu"],
            "Speedup (x)": p["speedup"], "MACs (M)": _mega(p["macs"]),
            "FLOPs (M)": _mega(p["flops"]), "Params (M)": _mega(p["params"]),
            "n CPU": int(p["n_cpu"]), "n GPU": int(p["n_gpu"]),
        })
        rows.append(row)
    notes = [
        "speedup = mean CPU training time / mean GPU training time (train_time_ms)",
        "FLOPs = 2 x MACs (multiply-accumulates counted by thop, forward pass, one image)",
        "trials matched on dataset, model, optimizer, batch size, lr, epochs, n_train; "
        "averaged per device over seeds and loader settings (pin_memory, num_workers, amp)",
        "accuracies are final (last reported) test_acc",
        SINGLE_RUNS if (pairs[["n_cpu", "n_gpu"]] <= 1).all().all()
        else "n CPU/GPU: trials averaged on each side",
    ]
    shown = [*(_value(_pair_header(k)) for k in keys),
             *(_decimals(h, 2) for h in ("Acc CPU (%)", "Acc GPU (%)")),
             *(_decimals(h, 1) for h in ("Time CPU (ms)", "Time GPU (ms)")),
             *(_decimals(h, 2) for h in ("Speedup (x)", "MACs (M)", "FLOPs (M)", "Params (M)")),
             Shown("n CPU/GPU", "count_pair", ("n CPU", "n GPU"))]
    return _table("cpu_vs_gpu", _frame(rows), notes, shown), ""


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
    """A builder of `analysis.findings` (imported on use: it imports this module)."""

    def build(df: pd.DataFrame) -> Any:
        from tune_bench.analysis import findings

        return getattr(findings, name)(df)

    return build


def _inference_absent(kind: str) -> Callable[[pd.DataFrame], str]:
    def reason(df: pd.DataFrame) -> str:
        from tune_bench.analysis.findings import absent_reason

        return absent_reason(df, kind)

    return reason


_NO_RESNET = "no finished ResNet trials"
_NO_SVM = "no finished SVM trials"
_NO_TRIALS = "no finished trials"

TABLES: tuple[TableSpec, ...] = (
    TableSpec("trial_states", "Trials per state", state_counts),
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
