"""What a trainer tells the forecast: how to time its trials (`Timing`), one per trainer.

A trainer in the catalog (`tune_bench.plugins.Trainer.timing`) names its `Timing` as
`module:attribute` (imported when a forecast needs it) or holds one. The built-in ones:
`tune_bench.forecast.resnet:TIMING`, `tune_bench.forecast.svm:TIMING`. A trainer without one
is "not forecast" (never a guessed number).

A *shape* is what a trial's time per step depends on (`shape_keys`, plus the threads the sweep
gives it); the *sizes* (`size_keys`: images, epochs) are extrapolated by `predict` from the
shape's calibration record, which `calibrate` times for real on a few steps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """A predicted duration (s) with its low and high bounds."""

    s: float
    low: float
    high: float


def _no_pool(records: list[dict[str, Any]]) -> Any:
    return None


def _no_checkpoints(point: dict[str, Any], sizes: dict[str, int]) -> int:
    return 0


@dataclass(frozen=True)
class Timing:
    """How to forecast one trainer's trials.

    - `shape_keys`: config keys the time per step depends on; `size_keys`: config keys the
      duration is extrapolated in (with the shape, they make a trial's forecast key).
    - `sizes(point, split_sizes)`: the trial's sizes (e.g. images trained on), from its config
      and its dataset split's sizes ({"train": n, "val": n, "test": n}; {} without a dataset).
    - `kind(point, sizes)`: what the forecast table groups trials by; `label(shape)`: a shape
      in words.
    - `calibrate(point, split, threads, sizes)`: a calibration record (JSON numbers) timed
      for real; `needs`: the record's fields (checked in a calibration file).
    - `pool(records)`: what the sweep's records of this trainer say together (passed to
      `predict`); `predict(record, point, sizes, pooled)`: the trial's `Estimate`.
    - `method`: the method in one sentence, printed with the forecast.
    - `checkpoints(point, sizes)`: checkpoints the trial writes to the sweep's storage (each
      of the record's `checkpoint_mb`: on remote storage their upload is added).
    """

    shape_keys: tuple[str, ...]
    size_keys: tuple[str, ...]
    sizes: Callable[[dict[str, Any], dict[str, int]], dict[str, int]]
    kind: Callable[[dict[str, Any], dict[str, int]], str]
    label: Callable[[dict[str, Any]], str]
    calibrate: Callable[[dict[str, Any], Any, int, dict[str, int]], dict[str, Any]]
    predict: Callable[[dict[str, Any], dict[str, Any], dict[str, int], Any], Estimate]
    needs: tuple[str, ...]
    method: str
    pool: Callable[[list[dict[str, Any]]], Any] = _no_pool
    checkpoints: Callable[[dict[str, Any], dict[str, int]], int] = _no_checkpoints


def timing_of(trainer_name: Any) -> Timing | None:
    """The `Timing` the catalog's trainer `trainer_name` declares (None: it declares none).
    Resolves the trainer (a plug-in is imported, from the active search path)."""
    from tune_bench.plugins import load_object, resolve

    t = resolve(trainer_name).timing
    if isinstance(t, str) and t:
        t = load_object(t, f"trainer {trainer_name}: timing")[0]
    return t if isinstance(t, Timing) else None


def threads_for(resources: dict[str, float]) -> int:
    """The torch / SVM threads a trial with `resources` runs with (as `run_trial` sets them)."""
    return max(1, int(resources.get("cpu", 1)))


def shape_of(point: dict[str, Any], resources: dict[str, float],
             timing: Timing) -> dict[str, Any]:
    """The calibration shape of a trial (flat config) run with `resources`."""
    shape = {"trainer": point["trainer"], **{k: point.get(k) for k in timing.shape_keys}}
    shape["threads"] = threads_for(resources)
    return shape


def shape_key(shape: dict[str, Any]) -> str:
    """A stable text key of a shape (the calibration cache's key)."""
    return json.dumps(shape, sort_keys=True, default=str)


def trial_key(point: dict[str, Any], resources: dict[str, float], keys: list[str]) -> str:
    """What a trial's predicted time depends on: its trainer, threads and `keys` (its
    trainer's shape and size keys; seed, learning rate... excluded). Needs no plug-in: the
    keys are saved with the forecast."""
    return shape_key({"trainer": point.get("trainer"), "threads": threads_for(resources),
                      **{k: point.get(k) for k in keys}})


def cap(limit: Any, total: int) -> int:
    """`limit` images of `total` (all when None)."""
    return total if limit is None else min(int(limit), total)
