"""The metric an analysis is about and its direction, and where they come from.

In order: `--metric`/`--mode`; tune-bench's saved spec; the metric and mode Tune itself was given
(read from tuner.pkl without unpickling: `tune_dir.tuner_target`); the only metric the trials
report; `test_acc` when the trials report it (tune-bench's trainers). Otherwise the caller is
told which metrics the trials report and asked to choose (`ConfigError`: one line, exit 2).
A mode not given follows the metric's source, else its name (loss, error -> min; accuracy,
score, reward -> max), else it must be given.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from tune_bench.analysis.columns import config_columns, numeric
from tune_bench.errors import ConfigError
from tune_bench.labels import present
from tune_bench.tune_dir import AUTO_RESULT_KEYS

DEFAULT_METRIC = "test_acc"
DEFAULT_MODE = "max"
MODES = ("max", "min")
# Result keys of tune-bench's trainers that describe a run, not its outcome.
_RUN_FACTS = frozenset({"epoch", "torch_threads", "n_train_used", "n_train_eval_used", "seed",
                        "macs", "flops", "params", "peak_mem_mb", "n_support", "svm_threads",
                        "final", "stopped_early", "n_results", "iterations", "n_configs"})
_MIN_WORDS = re.compile(r"(loss|err|error|mse|mae|rmse|regret|time|latency|cost|perplexity)",
                        re.IGNORECASE)
_MAX_WORDS = re.compile(r"(acc|accuracy|score|reward|return|auc|f1|precision|recall|gain|"
                        r"iou|map|bleu|r2)", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """The metric analyzed, its direction, and how it is shown: accuracies reported as
    fractions are shown in percentage points (scale 100). `source` says where it came from."""

    metric: str = DEFAULT_METRIC
    mode: str = DEFAULT_MODE
    scale: float = 1.0
    source: str = ""

    @property
    def unit(self) -> str:
        return "points" if self.scale == 100 else self.metric

    def show(self, x: float, signed: bool = False, places: int = 2) -> str:
        """A value (or a difference, `signed`) in display units."""
        if not present(x) or not math.isfinite(x):
            return "-"
        v = x * self.scale
        return f"{v:+.{places}f}" if signed else f"{v:.{places}f}"

    def better(self, diff: float) -> bool:
        """Whether a positive `diff` (b - a) means b is better."""
        return diff > 0 if self.mode == "max" else diff < 0

    @property
    def words(self) -> str:
        """e.g. "mean_loss (lower is better; Tune's TuneConfig)"."""
        way = "higher" if self.mode == "max" else "lower"
        return f"{self.metric} ({way} is better" + (f"; {self.source})" if self.source else ")")


def candidate_metrics(df: pd.DataFrame) -> list[str]:
    """The numeric result keys the trials report that may be a metric: not Tune's own
    bookkeeping, not a config key, not a fact about the run."""
    skip = set(AUTO_RESULT_KEYS) | _RUN_FACTS | set(config_columns(df))
    out = []
    for c in df.columns:
        if c in skip or c.startswith(("time_", "timestamp")) or c.endswith(("_time_ms", "_s")):
            continue
        col = df[c]
        if col.dtype == bool or col.map(lambda v: isinstance(v, bool)).any():
            continue
        if numeric(df, c).notna().any() and col.map(
                lambda v: v is None or isinstance(v, (int, float))).all():
            out.append(c)
    return out


def mode_for(metric: str) -> str | None:
    """max or min from a metric's name (loss -> min, accuracy -> max), None when unclear."""
    if _MIN_WORDS.search(metric) and not metric.startswith("neg"):
        return "min"
    if _MAX_WORDS.search(metric) or metric.startswith("neg"):
        return "max"
    return None


def resolve_target(df: pd.DataFrame, metric: str | None = None,
                   mode: str | None = None) -> Target:
    """The target for `df`: see the module docstring. df.attrs["saved_targets"] holds the
    saved spec's and Tune's (metric, mode, source) per experiment (set by the loader)."""
    if mode is not None and mode not in MODES:
        raise ConfigError(f"mode: must be max or min (got {mode!r})")
    saved = [tuple(s) for s in df.attrs.get("saved_targets", []) if s and s[0]]
    source = "--metric"
    if metric is None:
        metric, saved_mode, source = _default_metric(df, saved)
        mode = mode or saved_mode
    elif mode is None:
        mode = next((m for s_metric, m, _ in saved if s_metric == metric and m), None)
    values = numeric(df, metric)
    if not values.notna().any():
        reported = candidate_metrics(df)
        if metric == DEFAULT_METRIC and source == "default":
            return Target(metric, mode or DEFAULT_MODE, 1.0, source)  # no results at all
        hint = f"; the trials report: {', '.join(reported)}" if reported else ""
        raise ConfigError(f"metric: no trial reports {metric!r}{hint}")
    if mode is None:
        mode = mode_for(metric)
        if mode is None:
            raise ConfigError(f"mode: is {metric!r} better higher or lower? give --mode max "
                              "or --mode min")
        source = f"{source}; mode from its name"
    return Target(metric, mode, _scale(values), source)


def _scale(values: pd.Series) -> float:
    """100 for an accuracy reported as a fraction (shown in percentage points), else 1."""
    name = str(values.name or "")
    values = values.dropna()
    frac = name.endswith(("acc", "accuracy")) and len(values) > 0 and values.between(0, 1).all()
    return 100.0 if frac else 1.0


def _default_metric(df: pd.DataFrame,
                    saved: list[tuple]) -> tuple[str, str | None, str]:
    if saved:
        return str(saved[0][0]), saved[0][1], str(saved[0][2])
    reported = candidate_metrics(df)
    if len(reported) == 1:
        return reported[0], None, "the only metric the trials report"
    ours = "trainer" in df.columns and df["trainer"].isin(("resnet", "svm")).any()
    if DEFAULT_METRIC in reported or not reported or ours:  # tune-bench's trainers: test_acc
        return DEFAULT_METRIC, DEFAULT_MODE, "default"
    shown = ", ".join(reported[:12]) + (f" and {len(reported) - 12} more"
                                         if len(reported) > 12 else "")
    raise ConfigError(f"metric: no single metric is recorded with this experiment (none, or "
                      f"a multi-objective search's several) and the trials report "
                      f"{len(reported)}: {shown}; choose one with --metric (and --mode max|min)")


def set_target(df: pd.DataFrame, metric: str | None = None, mode: str | None = None) -> Target:
    """Resolve the target (ConfigError when it cannot be) and record it in df.attrs, where
    the tables, findings and plots read it (`target_of`)."""
    t = resolve_target(df, metric, mode)
    df.attrs.update(metric=t.metric, mode=t.mode, metric_source=t.source)
    return t


def target_of(df: pd.DataFrame) -> Target:
    """The target recorded in df.attrs (by `set_target`), else resolved leniently."""
    metric, mode = df.attrs.get("metric"), df.attrs.get("mode")
    if metric:
        return Target(metric, mode or DEFAULT_MODE, _scale(numeric(df, metric)),
                      df.attrs.get("metric_source", ""))
    try:
        return resolve_target(df)
    except ConfigError:
        return Target(DEFAULT_METRIC, DEFAULT_MODE, 1.0, "default")
