"""Typed views of the trials DataFrame: a column whether or not it exists, as numbers, the
trainer and device of each trial, and the trials that reported a final test accuracy."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from tune_bench.analysis.frame import KNOWN_CONFIG_KEYS


def config_columns(df: pd.DataFrame) -> list[str]:
    """Config keys among the columns (from the loader, else the documented trial config keys)."""
    known = df.attrs.get("config_columns") or [c for c in df.columns if c in KNOWN_CONFIG_KEYS]
    return [c for c in known if c in df.columns]


def column(df: pd.DataFrame, name: str) -> pd.Series:
    """Column `name`, or a column of None when the trials never reported it."""
    if name in df.columns:
        return df[name]
    return pd.Series([None] * len(df), index=df.index, dtype=object)


def numeric(df: pd.DataFrame, name: str) -> pd.Series:
    """Column `name` as floats (NaN where missing or not a number)."""
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


def stopped_early(df: pd.DataFrame) -> pd.Series:
    """True for TERMINATED trials a scheduler (ASHA) stopped before their last epoch; all False
    for experiment frames loaded without the `stopped_early` column."""
    if "stopped_early" not in df.columns:
        return pd.Series(False, index=df.index, dtype=bool)
    return df["stopped_early"].fillna(False).astype(bool)


def with_final_metric(df: pd.DataFrame) -> pd.DataFrame:
    """Trials that reported a final test accuracy, whatever their state (an ERROR trial that
    reported one is included; a trial stopped early before its final row is not)."""
    if "test_acc" not in df.columns:
        return df.iloc[0:0]
    return df[numeric(df, "test_acc").notna()]


def ensure_columns(df: pd.DataFrame, cols: Iterable[str]) -> pd.DataFrame:
    """`df` with the missing `cols` added as empty (None) columns."""
    missing = [c for c in cols if c not in df.columns]
    return df.assign(**{c: None for c in missing}) if missing else df
