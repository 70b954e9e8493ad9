"""What every comparative table is made of: `Table` (numbers, emphasis, shown columns,
notes), `Shown` (a displayed column and its cell kind) and the helpers the builders share
(accuracy columns, labels, sorting, notes). The builders are in `course_tables` (the course's
ResNet / SVM / CPU-GPU tables) and `tables` (the generic ones and the `TABLES` registry).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tune_bench.analysis.columns import (
    column,
    numeric,
    stopped_early,
    trainer_of,
)
from tune_bench.labels import (
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
    from tune_bench.analysis.tables import title  # the registry (it imports this module)

    return Table(key, title(key, **title_fields), df, notes, emphasis, shown)
