"""A sweep's options (no Ray needed: the command line reads its defaults from here)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_FAILURES = 2


@dataclass
class SweepOptions:
    """What a sweep needs besides its search space; saved with the experiment for resume."""

    storage_path: str = "ray_results"  # a local path or a URI (tune_bench.storage)
    name: str | None = None
    address: str | None = None
    data_dir: str | None = None
    max_concurrent: int | None = None
    max_failures: int = DEFAULT_MAX_FAILURES
    drop_gpu_trials: bool = False
    num_cpus: int | None = None
    progress: bool = True
    keep_checkpoints: bool = False
    shared_storage: bool = False  # a local storage path that every node mounts at that place
    overrides: dict[str, Any] | None = None  # the command line's --set, applied to the space


def saved_overrides(options: dict[str, Any]) -> dict[str, Any] | None:
    """The overrides of a saved sweep's options (saved as `extra.overrides` before issue 15)."""
    if "overrides" in options:
        return options["overrides"]
    return (options.get("extra") or {}).get("overrides")


def phase(text: str, enabled: bool = True) -> None:
    """One line saying what the sweep is doing now (checking, decoding, starting Ray...), on
    stdout, so that a one-line error on stderr stays one line."""
    if enabled:
        from rich.console import Console

        Console(highlight=False, soft_wrap=True).print(f"[dim]·[/dim] {text}")


# Set by a resume to its --progress/--no-progress: the display Tune restores was pickled with
# the first run's choice.
PROGRESS_ENV = "TUNE_BENCH_PROGRESS"


def local_gpus() -> int:
    """GPUs a local Ray would find, without starting it or initialising CUDA: none when
    CUDA_VISIBLE_DEVICES hides them all, else torch's device count (NVML, no CUDA context)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "NoDevFiles"):
        return 0
    try:
        import torch

        return int(torch.cuda.device_count())
    except Exception:  # a torch without CUDA support, a broken driver: let Ray decide
        return -1
