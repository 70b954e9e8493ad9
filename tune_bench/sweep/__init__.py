"""Ray Tune sweeps: the only package that imports Ray.

- `run`: pre-flight checks, the Ray session, the Tuner, restore and the outcome;
- `options`: `SweepOptions` (Ray-free, so the command line starts fast);
- `trainable`: `run_trial`, the function every trial runs, and its checkpoint recovery;
- `handover`: the datasets, decoded once by the driver and put in Ray's object store;
- `callbacks`: the live progress display and the pruning of finished trials' checkpoints;
- `calibration`: the forecast's calibration on a Ray cluster (`Cluster`);
- `ray_internals`: the Ray internals (non-public APIs) this relies on, checked against 2.60.

The names below are imported on first use, so `from tune_bench.sweep.options import ...`
does not import Ray.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_EXPORTS = {
    "DEFAULT_MAX_FAILURES": "options", "SweepOptions": "options", "local_gpus": "options",
    "SweepOutcome": "run", "build_trainable": "run", "check_shared": "run",
    "check_storage": "run",
    "cluster_view": "run", "param_space": "run", "plan_resources": "run",
    "read_outcome": "run", "resume_sweep": "run", "run_sweep": "run", "start_ray": "run",
    "run_trial": "trainable",
    "data_key": "handover", "data_source": "handover", "decode_datasets": "handover",
    "put_datasets": "handover",
    "PruneFinishedCheckpoints": "callbacks", "RichProgress": "callbacks",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"tune_bench.sweep.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'tune_bench.sweep' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """`tb.sweep(space, **options)` is the Python API's sweep (`tune_bench.api.sweep`): once
    this subpackage is imported, `tune_bench.sweep` names it, so calling it runs that."""

    def __call__(self, space: Any, **options: Any) -> Any:
        from tune_bench.api import sweep

        return sweep(space, **options)


sys.modules[__name__].__class__ = _CallableModule
