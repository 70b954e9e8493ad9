"""The course's tables, as numbers: ResNet configurations (best per configuration, top runs,
best per dataset and model), SVMs (every configuration, best per kernel) and CPU vs GPU pairs.
Registered, with their keys and titles, in `tables.TABLES`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tune_bench.analysis.columns import (
    column,
    config_columns,
    device_of,
    ensure_columns,
    numeric,
    with_final_metric,
)
from tune_bench.analysis.stats import (
    config_groups,
    rank,
    significance_text,
    varying,
)
from tune_bench.analysis.table_base import (
    BEST_RULE,
    SINGLE_RUNS,
    TOP_RUNS,
    Shown,
    Table,
    _acc_shown,
    _acc_values,
    _best_of,
    _ci_shown,
    _ci_text,
    _decimals,
    _excluded_note,
    _frame,
    _hp_text,
    _hp_value,
    _label,
    _repeat_notes,
    _resnet,
    _sorted,
    _stopped_notes,
    _svm,
    _table,
    _value,
    acc_columns,
)
from tune_bench.labels import (
    COLUMN_LABELS,
    applies,
    fmt,
    label,
    pct,
    present,
)

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
        row: dict[str, Any] = {"Dataset": _label("dataset", g["dataset"]),
                               "Model": _label("model", g["model"])}
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
