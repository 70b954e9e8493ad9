"""Read Ray Tune experiment directories into a tidy DataFrame and build the comparative tables.

Only JSON, CSV and text files are read (never a pickle), and nothing is written into an
experiment directory. The layout and the trial-state rules are `tune_bench.tune_dir`'s.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_bench import tune_dir
from tune_bench.config import KEYS
from tune_bench.errors import ExperimentError
from tune_bench.tune_dir import STATES, flatten_config  # noqa: F401  (re-exported)
from tune_bench.tune_dir import error_line as _error_line  # noqa: F401  (re-exported)

# stopped_early: a TERMINATED trial the scheduler (ASHA) stopped before its last epoch.
BASE_COLUMNS = ["experiment", "trial_id", "trial_dir", "state", "error", "stopped_early"]
KNOWN_CONFIG_KEYS = frozenset(k for keys in KEYS.values() for k in keys)
# Tune bookkeeping that is not worth a column.
_DROP_RESULT_KEYS = frozenset(
    {
        "config",
        "trial_id",
        "pid",
        "node_ip",
        "checkpoint_dir_name",
        "should_checkpoint",
        "time_this_iter_s",
        "time_since_restore",
        "iterations_since_restore",
        "experiment_tag",
    }
)
HISTORY_KEYS = (
    "epoch",
    "training_iteration",
    "time_total_s",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "epoch_time_s",
    "images_per_s",
    "train_time_ms",
    "predict_time_ms",
)
_HISTORY_SET = frozenset(HISTORY_KEYS)
NUMERIC_METRICS = (
    "test_acc",
    "train_acc",
    "val_acc",
    "test_loss",
    "train_loss",
    "val_loss",
    "train_time_ms",
    "predict_time_ms",
    "macs",
    "flops",
    "params",
    "peak_mem_mb",
    "epoch",
)
BEST_RULE = (
    "best = highest final (last reported) test_acc of each trial; ties broken by lower "
    "training time (train_time_ms)"
)
SINGLE_RUNS = "single runs: no confidence interval"


@dataclass
class Table:
    """A display-ready table: `df` holds strings, `notes` say how it was computed."""

    key: str
    title: str
    df: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- loading


def load_experiments(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per trial across the experiment directories in `paths` (see tune_dir)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows: list[dict[str, Any]] = []
    config_cols: dict[str, None] = {}
    warnings: list[str] = []
    for path, name in _experiment_names([Path(p) for p in paths]):
        trials, warns = tune_dir.read_experiment(path)
        for trial in trials:
            rows.append(_row(trial, name))
            config_cols.update(dict.fromkeys(trial.config))
        warnings.extend(warns)
    if not rows:
        raise ExperimentError("no experiment directories given")
    return _to_frame(rows, list(config_cols), warnings)


def _experiment_names(paths: list[Path]) -> list[tuple[Path, str]]:
    names = [p.resolve().name for p in paths]
    return [
        (p, n if names.count(n) == 1 else str(p)) for p, n in zip(paths, names, strict=True)
    ]


def _to_frame(rows: list[dict], config_cols: list[str], warnings: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in NUMERIC_METRICS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    first = BASE_COLUMNS + [c for c in config_cols if c not in BASE_COLUMNS]
    rest = [c for c in df.columns if c not in first and c not in ("n_results", "history")]
    df = df[first + rest + ["n_results", "history"]]
    df.attrs["config_columns"] = [c for c in config_cols if c not in BASE_COLUMNS]
    df.attrs["warnings"] = warnings
    return df


def _row(trial: tune_dir.TrialRecord, experiment: str) -> dict[str, Any]:
    """A trial's row: identity and state, flat config, last result, history."""
    row: dict[str, Any] = {
        "experiment": experiment,
        "trial_id": trial.trial_id,
        "trial_dir": trial.path,
        "state": trial.state,
        "error": trial.error,
        "stopped_early": trial.stopped_early,
    }
    for k, v in trial.config.items():
        row.setdefault(k, v)
    for k, v in trial.last.items():
        if k not in _DROP_RESULT_KEYS and k not in row:
            row[k] = v
    row["n_results"] = len(trial.results)
    row["history"] = [_history_row(r) for r in trial.results]
    return row


def _history_row(r: dict) -> dict:
    return {
        k: v
        for k, v in r.items()
        if k in _HISTORY_SET or (type(v) in (int, float) and k.endswith(("_loss", "_acc")))
    }


def load_history(df: pd.DataFrame) -> pd.DataFrame:
    """Per-result rows (one per reported epoch) of every trial: experiment, trial_id, metrics."""
    records = [
        {"experiment": exp, "trial_id": tid, **h}
        for exp, tid, hist in zip(df["experiment"], df["trial_id"], df["history"], strict=True)
        for h in (hist if isinstance(hist, list) else [])
    ]
    cols = ["experiment", "trial_id", "epoch", "training_iteration"]
    out = pd.DataFrame(records)
    if out.empty:
        return pd.DataFrame(columns=cols)
    return out[[c for c in cols if c in out] + [c for c in out if c not in cols]]


# --------------------------------------------------------------------------- helpers


def config_columns(df: pd.DataFrame) -> list[str]:
    """Config keys among the columns (from the loader, else the documented trial config keys)."""
    known = df.attrs.get("config_columns") or [c for c in df.columns if c in KNOWN_CONFIG_KEYS]
    return [c for c in known if c in df.columns]


def column(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series([None] * len(df), index=df.index, dtype=object)


def numeric(df: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(column(df, name), errors="coerce").astype(float)


def trainer_of(df: pd.DataFrame) -> pd.Series:
    """'resnet' / 'svm' per trial (config `trainer`, else inferred from `model` / `kernel`)."""
    out = column(df, "trainer").astype(object)
    out = out.where(out.notna(), np.where(column(df, "kernel").notna(), "svm", None))
    out = out.where(out.notna(), np.where(column(df, "model").notna(), "resnet", None))
    return out


def device_of(df: pd.DataFrame) -> pd.Series:
    """'cpu' / 'gpu' per trial (config `device`, else the `resources` the trial reported)."""
    dev = column(df, "device").astype(object)
    gpu = column(df, "resources").map(
        lambda r: isinstance(r, dict) and float(r.get("gpu") or r.get("GPU") or 0) > 0
    )
    return dev.where(dev.notna(), np.where(gpu, "gpu", "cpu"))


def finished(df: pd.DataFrame) -> pd.DataFrame:
    """Trials with a final test accuracy (ERROR trials included only if they reported one)."""
    if "test_acc" not in df.columns:
        return df.iloc[0:0]
    return df[numeric(df, "test_acc").notna()]


def _excluded_note(df: pd.DataFrame, sub: pd.DataFrame) -> list[str]:
    missing = len(df) - len(sub)
    if missing <= 0:
        return []
    states = df.loc[~df.index.isin(sub.index), "state"].value_counts()
    parts = ", ".join(f"{n} {s}" for s, n in states.items())
    return [f"{missing} trial(s) without a final test_acc left out ({parts})"]


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

    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return None
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
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
    `acc_values`, `time_mean`, `trial_ids`, `best_trial_id`; sorted best first.
    """
    fin = finished(df)
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
        key = json.dumps({k: v for k, v in rec.items() if _present(v)}, sort_keys=True,
                         default=str)
        out.append({**rec, "n": s["n"], "acc_mean": s["mean"], "acc_std": s["std"],
                    "acc_ci95": s["ci95"], "acc_values": list(acc[idx]),
                    "time_mean": float(np.nanmean(time[idx])) if np.isfinite(time[idx]).any()
                    else math.nan,
                    "trial_ids": list(ids[idx]), "best_trial_id": ids[best_i], "_key": key})
    return ensure_columns(rank(pd.DataFrame(out)).drop(columns="_key"), STANDARD_KEYS)


def _codes(col: pd.Series) -> np.ndarray:
    """Integer codes of a config column's values; None and NaN share one code (absent)."""
    try:
        codes, _ = pd.factorize(col, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts): compare them by their JSON text
        codes, _ = pd.factorize(col.map(lambda v: json.dumps(v, sort_keys=True, default=str)
                                        if _present(v) else None), use_na_sentinel=True)
    return codes


STANDARD_KEYS = ("trainer", "dataset", "model", "kernel", "batch_size", "optimizer", "lr",
                 "epochs", "C", "gamma", "degree")


def ensure_columns(df: pd.DataFrame, cols: Iterable[str]) -> pd.DataFrame:
    """`df` with the missing `cols` added as empty (None) columns."""
    missing = [c for c in cols if c not in df.columns]
    return df.assign(**{c: None for c in missing}) if missing else df


def _present(v: Any) -> bool:
    if v is None:
        return False
    return not (isinstance(v, float) and math.isnan(v))


def rank(df: pd.DataFrame, acc: str = "acc_mean", time: str = "time_mean") -> pd.DataFrame:
    """Sort best first: accuracy descending, ties by lower time, then a stable key."""
    tie = "_key" if "_key" in df.columns else "trial_id"
    cols = [acc, time] + ([tie] if tie in df.columns else [])
    asc = [False, True] + ([True] if tie in df.columns else [])
    return df.sort_values(cols, ascending=asc, na_position="last", kind="mergesort")


# --------------------------------------------------------------------------- formatting

MODEL_LABELS = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50"}
DATASET_LABELS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
OPTIMIZER_LABELS = {"sgd": "SGD", "adam": "Adam"}
KERNEL_LABELS = {"poly": "Poly", "rbf": "RBF"}
COLUMN_LABELS = {
    "batch_size": "Batch Size",
    "optimizer": "Optimizer",
    "lr": "LR",
    "epochs": "Epochs",
    "device": "Device",
    "seed": "Seed",
    "kernel": "Kernel",
    "degree": "degree",
}
_ORDER = {"mnist": 0, "fashion_mnist": 1, "sgd": 0, "adam": 1}


def pct(x: Any) -> str:
    """A fraction as a percentage with 2 decimals ('-' when missing)."""
    return "-" if not _present(x) else f"{100 * float(x):.2f}"


def ms(x: Any) -> str:
    """Milliseconds with 1 decimal ('-' when missing)."""
    return "-" if not _present(x) else f"{float(x):.1f}"


def fmt(v: Any) -> str:
    """A hyperparameter value for display."""
    if not _present(v):
        return "-"
    if isinstance(v, bool) or isinstance(v, np.bool_):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() and abs(v) >= 1 else f"{float(v):g}"
    return str(v)


def label(kind: str, v: Any) -> str:
    """Display label of a dataset / model / optimizer / kernel value."""
    table = {"dataset": DATASET_LABELS, "model": MODEL_LABELS, "optimizer": OPTIMIZER_LABELS,
             "kernel": KERNEL_LABELS}[kind]
    return table.get(v, fmt(v)) if isinstance(v, str) else fmt(v)


def method_of(df: pd.DataFrame) -> pd.Series:
    """'ResNet-18' ... for ResNet trials, 'SVM (poly)' / 'SVM (rbf)' for SVM trials."""
    tr = trainer_of(df)
    res = column(df, "model").map(lambda m: label("model", m) if _present(m) else "ResNet")
    svm = column(df, "kernel").map(lambda k: f"SVM ({k})" if _present(k) else "SVM")
    other = column(df, "trainer").map(lambda t: str(t) if _present(t) else "unknown")
    return pd.Series(np.where(tr == "svm", svm, np.where(tr == "resnet", res, other)),
                     index=df.index)


def _acc_cell(g: pd.Series) -> str:
    if g["n"] > 1:
        return f"{pct(g['acc_mean'])} ± {pct(g['acc_std'])} (n={int(g['n'])})"
    return pct(g["acc_mean"])


def sort_key(v: Any) -> tuple:
    if isinstance(v, str):
        return (0, _ORDER.get(v, 99), v)
    return (1, 0, v if _present(v) else math.inf)


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


def varying(df: pd.DataFrame, cols: Sequence[str]) -> list[str]:
    return [c for c in cols if c in df.columns and df[c].map(fmt).nunique() > 1]


# Hyperparameters that only mean something for some values of another one: (column, values).
_APPLIES = {"degree": ("kernel", {"poly"}), "coef0": ("kernel", {"poly", "sigmoid"}),
            "gamma": ("kernel", {"rbf", "poly", "sigmoid"}), "momentum": ("optimizer", {"sgd"})}


def _applies(row: pd.Series, key: str) -> bool:
    col, values = _APPLIES.get(key, (None, None))
    return col is None or col not in row.index or not _present(row[col]) or row[col] in values


def describe_config(row: pd.Series, keys: Sequence[str]) -> str:
    """`key=value, ...` for the given keys; missing ones, and ones the row's kernel or optimizer
    ignores (degree of an rbf SVM, momentum of Adam), are skipped."""
    parts = [f"{k}={fmt(row[k])}" for k in keys
             if k in row.index and _present(row[k]) and _applies(row, k)]
    return ", ".join(parts) if parts else "(single configuration)"


def _absent(key: str, title: str, reason: str) -> Table:
    return Table(key, title, pd.DataFrame(), [f"not available: {reason}"])


def _resnet(df: pd.DataFrame) -> pd.DataFrame:
    return df[trainer_of(df) == "resnet"]


def _svm(df: pd.DataFrame) -> pd.DataFrame:
    return df[trainer_of(df) == "svm"]


# --------------------------------------------------------------------------- tables

_CELL_AXES = ["dataset", "batch_size", "optimizer", "lr"]


def best_per_configuration(df: pd.DataFrame) -> Table | None:
    """Per dataset: rows (batch_size, optimizer, lr), one column per model, best test accuracy."""
    res = _resnet(df)
    groups = config_groups(res)
    if groups.empty:
        return None
    for c in _CELL_AXES + ["model"]:
        if c not in groups.columns:
            groups[c] = None
    cells = groups.groupby([*_CELL_AXES, "model"], dropna=False, sort=False).head(1)
    models = sorted(cells["model"].dropna().unique(), key=str)
    out_rows = []
    for axes, sub in cells.groupby(_CELL_AXES, dropna=False, sort=False):
        row = {"Dataset": label("dataset", axes[0]), "Batch Size": fmt(axes[1]),
               "Optimizer": label("optimizer", axes[2]), "LR": fmt(axes[3]), "_axes": axes}
        for m in models:
            hit = sub[sub["model"] == m]
            row[f"{label('model', m)} Acc (%)"] = _acc_cell(hit.iloc[0]) if len(hit) else "-"
            row[f"_mean_{m}"] = hit["acc_mean"].iloc[0] if len(hit) else math.nan
        out_rows.append(row)
    table = pd.DataFrame(out_rows)
    table[["_ds", "_bs", "_opt", "_lr"]] = pd.DataFrame(table["_axes"].tolist(), index=table.index)
    table = _sorted(table, ["_ds", "_bs", "_opt", "_lr"], descending=["_lr"])
    _mark_best_cells(table, models)
    notes = _cell_significance(cells)
    remaining = [c for c in config_columns(res)
                 if c not in {*_CELL_AXES, "model", "trainer", "seed"} and c in res.columns]
    remaining = varying(res, remaining)
    notes = [
        "each cell: best over the remaining axes ("
        + (", ".join(remaining) if remaining else "none vary")
        + ") by final (last reported) test_acc; " + BEST_RULE,
        "* (bold in markdown, HTML and LaTeX) marks the best cell of each dataset",
        *_repeat_notes(groups),
        *notes,
        *_excluded_note(res, finished(res)),
    ]
    shown = [c for c in table.columns if not c.startswith("_")]
    return Table("best_per_configuration", "Aggregated best results per configuration",
                 table[shown].reset_index(drop=True), notes)


def _mark_best_cells(table: pd.DataFrame, models: list) -> None:
    """Append `*` to every cell equal to the best of its dataset (ties all marked)."""
    for idx in table.groupby("_ds", dropna=False, sort=False).groups.values():
        means = table.loc[idx, [f"_mean_{m}" for m in models]]
        best = np.nanmax(means.to_numpy(dtype=float)) if means.notna().any().any() else math.nan
        if math.isnan(best):
            continue
        for m in models:
            col = f"{label('model', m)} Acc (%)"
            vals = table.loc[idx, f"_mean_{m}"].to_numpy(dtype=float)
            hit = np.asarray(idx)[np.isclose(vals, best, rtol=0, atol=1e-12)]
            table.loc[hit, col] = table.loc[hit, col] + "*"


def _cell_significance(cells: pd.DataFrame) -> list[str]:
    notes = []
    for ds, sub in _sorted(cells, ["dataset"]).groupby("dataset", dropna=False, sort=False):
        sub = rank(sub)
        best = sub.iloc[0]
        runner = sub.iloc[1] if len(sub) > 1 else None
        text = f"{label('dataset', ds)}: best cell {_cell_name(best)}: {pct(best['acc_mean'])}%"
        if best["n"] > 1:
            text += f" (95% CI {_ci_cell(best)}, n={int(best['n'])})"
        if runner is not None:
            text += f"; runner-up {_cell_name(runner)}: {pct(runner['acc_mean'])}%"
        notes.append(f"{text}; {significance_text(best, runner)}")
    return notes


def _cell_name(g: pd.Series) -> str:
    return (f"{label('model', g['model'])} bs={fmt(g['batch_size'])} "
            f"{label('optimizer', g['optimizer'])} lr={fmt(g['lr'])}")


def top_runs(df: pd.DataFrame, n: int = 10) -> Table | None:
    """Top-n single ResNet runs per dataset with every hyperparameter."""
    res = finished(_resnet(df))
    if res.empty:
        return None
    hp = [c for c in config_columns(res) if c not in ("trainer", "dataset", "model")]
    hp = [c for c in hp if res[c].notna().any()]
    core = ("batch_size", "optimizer", "lr", "epochs", "pin_memory", "device")
    constant = [c for c in hp if c not in core and res[c].astype(str).nunique() <= 1]
    hp = [c for c in hp if c not in constant]
    rows = []
    for ds, sub in _sorted(res, ["dataset"]).groupby("dataset", dropna=False, sort=False):
        sub = rank(sub.assign(_acc=numeric(sub, "test_acc"), _t=numeric(sub, "train_time_ms")),
                   "_acc", "_t").head(n)
        for i, (_, r) in enumerate(sub.iterrows(), start=1):
            row = {"Dataset": label("dataset", ds), "Rank": str(i),
                   "Model": label("model", r["model"])}
            row.update({COLUMN_LABELS.get(c, c): _hp_value(c, r[c]) for c in hp})
            row.update({"Test Acc (%)": pct(r["_acc"]), "Train Time (ms)": ms(r["_t"]),
                        "Trial": r["trial_id"]})
            rows.append(row)
    notes = [f"top {n} single runs per dataset (one trial per row), ranked by final (last "
             "reported) test_acc; ties broken by lower train_time_ms", SINGLE_RUNS,
             *([("same in every run: " + ", ".join(
                 f"{c}={_hp_value(c, res[c].iloc[0])}" for c in constant))] if constant else []),
             *_excluded_note(_resnet(df), res)]
    return Table("top_runs", f"Top {n} single runs", pd.DataFrame(rows), notes)


def _hp_value(col: str, v: Any) -> str:
    return label(col, v) if col in ("optimizer", "kernel") else fmt(v)


def best_config_per_dataset_model(df: pd.DataFrame) -> Table | None:
    """The best configuration of each (dataset, model), with its epochs and training time."""
    res = _resnet(df)
    groups = config_groups(res)
    if groups.empty:
        return None
    show = [c for c in ("batch_size", "optimizer", "lr", "epochs", "pin_memory", "device")
            if c in groups.columns]
    best = groups.groupby(["dataset", "model"], dropna=False, sort=False).head(1)
    best = _sorted(best, ["dataset", "model"])
    repeats = (groups["n"] > 1).any()
    rows = []
    for _, g in best.iterrows():
        row = {"Dataset": label("dataset", g["dataset"]), "Model": label("model", g["model"])}
        row.update({COLUMN_LABELS.get(c, c): _hp_value(c, g[c]) for c in show})
        row["Test Acc (%)"] = _acc_cell(g)
        if repeats:
            row["95% CI (%)"] = _ci_cell(g)
        row["Train Time (ms)"] = ms(g["time_mean"])
        rows.append(row)
    notes = [BEST_RULE + "; with repeats the configuration mean is used",
             *_repeat_notes(groups), *_excluded_note(res, finished(res))]
    return Table("best_config_per_dataset_model", "Best configuration per dataset and model",
                 pd.DataFrame(rows), notes)


def _ci_cell(g: pd.Series) -> str:
    if g["n"] < 2:
        return "-"
    lo, hi = g["acc_mean"] - g["acc_ci95"], g["acc_mean"] + g["acc_ci95"]
    return f"[{pct(lo)}, {pct(hi)}]"


def _svm_groups(df: pd.DataFrame) -> pd.DataFrame:
    svm = _svm(df)
    groups = config_groups(svm)
    if groups.empty:
        return groups
    fin = finished(svm).set_index("trial_id")
    sizes = groups["trial_ids"].map(len).to_numpy()
    pos = fin.index.get_indexer(np.concatenate(groups["trial_ids"].to_list()))
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
    for c in ("dataset", "kernel", "C", "gamma", "degree"):
        if c not in groups.columns:
            groups[c] = None
    return groups


def svm_table(df: pd.DataFrame) -> Table | None:
    """Every SVM configuration: kernel, C, gamma, degree, accuracies, times, backend."""
    groups = _svm_groups(df)
    if groups.empty:
        return None
    groups = _sorted(groups, ["dataset", "kernel", "degree", "C", "gamma"])
    best_ids = set(rank(groups).groupby(["dataset", "kernel"], dropna=False).head(1).index)
    repeats = (groups["n"] > 1).any()
    rows = []
    for i, g in groups.iterrows():
        row = _svm_row(g)
        if repeats:
            row["n"] = str(int(g["n"]))
        row["Best"] = "*" if i in best_ids else ""
        rows.append(row)
    notes = ["* = best of its dataset and kernel; " + BEST_RULE,
             "degree applies to the poly kernel only", *_repeat_notes(groups),
             *_excluded_note(_svm(df), finished(_svm(df)))]
    return Table("svm", "SVM classification performance", pd.DataFrame(rows), notes)


def _svm_row(g: pd.Series) -> dict[str, str]:
    return {
        "Dataset": label("dataset", g["dataset"]),
        "Kernel": label("kernel", g["kernel"]),
        "C": fmt(g["C"]),
        "gamma": fmt(g["gamma"]),
        "degree": fmt(g["degree"]) if _applies(g, "degree") else "-",
        "Test Acc (%)": _acc_cell(g),
        "Train Acc (%)": pct(g["train_acc"]),
        "Train Time (ms)": ms(g["time_mean"]),
        "Predict Time (ms)": ms(g["predict_time_ms"]),
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
    return Table("svm_best", "Best SVM per dataset and kernel", pd.DataFrame(rows),
                 [BEST_RULE, *_repeat_notes(groups)])


_PAIR_KEYS = ["dataset", "model", "optimizer", "batch_size", "lr", "epochs", "n_train"]


def cpu_gpu_pairs(df: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """Numeric CPU-vs-GPU comparison: one row per matched ResNet configuration.

    Trials are matched on dataset, model, optimizer, batch size, lr, epochs and n_train and
    averaged per device (over seeds and device-specific loader settings).
    """
    res = finished(_resnet(df))
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


def cpu_vs_gpu(df: pd.DataFrame) -> tuple[Table | None, str]:
    """Accuracy and training time per device, speedup = CPU time / GPU time, MACs/FLOPs/params.

    Returns (None, reason) when there are no GPU (or no CPU) ResNet trials to compare.
    """
    pairs, reason = cpu_gpu_pairs(df)
    if pairs is None:
        return None, reason
    pairs = _sorted(pairs, [k for k in ("dataset", "model", "optimizer", "batch_size", "lr")
                            if k in pairs.columns], descending=["lr"])
    rows = []
    for _, p in pairs.iterrows():
        row = {COLUMN_LABELS.get(k, k.capitalize()): _pair_label(k, p[k])
               for k in _PAIR_KEYS if k in pairs.columns}
        row.update({
            "Acc CPU (%)": pct(p["acc_cpu"]), "Acc GPU (%)": pct(p["acc_gpu"]),
            "Time CPU (ms)": ms(p["time_cpu"]), "Time GPU (ms)": ms(p["time_gpu"]),
            "Speedup (x)": "-" if not _present(p["speedup"]) else f"{p['speedup']:.2f}",
            "MACs (M)": _mega(p["macs"]), "FLOPs (M)": _mega(p["flops"]),
            "Params (M)": _mega(p["params"]), "n CPU/GPU": f"{int(p['n_cpu'])}/{int(p['n_gpu'])}",
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
    return Table("cpu_vs_gpu", "CPU vs GPU performance", pd.DataFrame(rows), notes), ""


def _pair_label(k: str, v: Any) -> str:
    return label(k, v) if k in ("dataset", "model", "optimizer") else fmt(v)


def _mega(x: Any) -> str:
    return "-" if not _present(x) else f"{float(x) / 1e6:.2f}"


def cross_method(df: pd.DataFrame) -> Table | None:
    """Best accuracy of each method (ResNet-18/34/50, SVM poly/rbf) per dataset, with its time."""
    fin = finished(df)
    if fin.empty:
        return None
    groups = config_groups(fin.assign(_method=method_of(fin)), by=["_method"])
    groups["_ds"] = groups["dataset"].map(lambda d: fmt(d) if _present(d) else "")
    best = groups.groupby(["_method", "_ds"], sort=False).head(1)
    datasets = sorted(best["_ds"].unique(), key=sort_key)
    rows = []
    for method in sorted(best["_method"].unique(), key=_method_order):
        row: dict[str, Any] = {"Method": method}
        for ds in datasets:
            hit = best[(best["_method"] == method) & (best["_ds"] == ds)]
            name = f"{label('dataset', ds)} " if ds else ""
            row[f"{name}Acc (%)"] = _acc_cell(hit.iloc[0]) if len(hit) else "-"
            row[f"{name}Train Time (ms)"] = ms(hit["time_mean"].iloc[0]) if len(hit) else "-"
            row[f"_m_{ds}"] = hit["acc_mean"].iloc[0] if len(hit) else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    for ds in datasets:
        col = f"{label('dataset', ds)} Acc (%)" if ds else "Acc (%)"
        vals = table[f"_m_{ds}"].to_numpy(dtype=float)
        hit = np.isclose(vals, np.nanmax(vals), rtol=0, atol=1e-12)
        table.loc[hit, col] = table.loc[hit, col] + "*"
    notes = ["each cell: the best configuration of the method on the dataset; " + BEST_RULE,
             "* = best method of the dataset", *_repeat_notes(groups)]
    shown = [c for c in table.columns if not c.startswith("_")]
    return Table("cross_method", "Best results across methods", table[shown], notes)


def _method_order(m: str) -> tuple[int, str]:
    return (1 if m.startswith("SVM") else 0, m)


def best_models(df: pd.DataFrame) -> Table | None:
    """The best model of each study (experiment) and dataset, with the rule and significance."""
    fin = finished(df)
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
        rows.append({
            "Study": exp, "Dataset": label("dataset", ds), "Best Method": b["_method"],
            "Configuration": describe_config(b, keys), "Test Acc (%)": _acc_cell(b),
            "95% CI (%)": _ci_cell(b), "Train Time (ms)": ms(b["time_mean"]),
            "Runner-up": "-" if r is None else f"{r['_method']}: {describe_config(r, keys)}",
            "Runner-up Acc (%)": "-" if r is None else _acc_cell(r), "Significance": sig,
        })
        notes.append(f"{exp} / {label('dataset', ds)}: best is {b['_method']} "
                     f"({describe_config(b, keys)}) with {pct(b['acc_mean'])}% final test "
                     f"accuracy over {len(sub)} configuration(s); {sig}")
    notes += _repeat_notes(groups)
    return Table("best_models", "Best model of each study", pd.DataFrame(rows), notes)


def state_counts(df: pd.DataFrame) -> Table:
    """Trials per experiment and state."""
    counts = df.groupby(["experiment", "state"]).size().unstack(fill_value=0)
    order = [s for s in STATES if s in counts.columns] + [
        s for s in counts.columns if s not in STATES]
    counts = counts[order]
    counts["total"] = counts.sum(axis=1)
    out = counts.reset_index().rename(columns={"experiment": "Experiment"})
    out = out.astype(str)
    out.columns.name = None
    return Table("trials", "Trials per state", out, [f"{len(df)} trial(s) in all"])


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
    return Table("errors", "Errored trials", out, [note])


def all_tables(df: pd.DataFrame) -> list[Table]:
    """Every table that applies; the others appear empty with a note saying why."""
    resnet_reason = "no finished ResNet trials"
    svm_reason = "no finished SVM trials"
    specs = [
        ("best_per_configuration", "Aggregated best results per configuration",
         best_per_configuration, resnet_reason),
        ("top_runs", "Top 10 single runs", top_runs, resnet_reason),
        ("best_config_per_dataset_model", "Best configuration per dataset and model",
         best_config_per_dataset_model, resnet_reason),
        ("svm", "SVM classification performance", svm_table, svm_reason),
        ("svm_best", "Best SVM per dataset and kernel", svm_best, svm_reason),
    ]
    tables = [state_counts(df)]
    for key, title, fn, reason in specs:
        t = fn(df)
        tables.append(t if t is not None else _absent(key, title, reason))
    gpu, reason = cpu_vs_gpu(df)
    tables.append(gpu if gpu is not None else _absent("cpu_vs_gpu", "CPU vs GPU performance",
                                                      reason))
    for key, title, fn in (("cross_method", "Best results across methods", cross_method),
                           ("best_models", "Best model of each study", best_models)):
        t = fn(df)
        tables.append(t if t is not None else _absent(key, title, "no finished trials"))
    tables.append(errored_trials(df))
    return tables


def best_trial(df: pd.DataFrame, trainer: str | None = None) -> pd.Series | None:
    """The single best finished trial (highest final test_acc, ties by lower training time)."""
    fin = finished(df if trainer is None else df[trainer_of(df) == trainer])
    if fin.empty:
        return None
    ranked = rank(fin.assign(_acc=numeric(fin, "test_acc"), _t=numeric(fin, "train_time_ms")),
                  "_acc", "_t")
    return ranked.iloc[0]
