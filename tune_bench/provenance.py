"""Where a result comes from: the machine, its CPU and GPU, the library versions.

The trainers record these in every result and the benchmarks in every JSON file, from the same
functions. Nothing is imported to read a version (package metadata only) and torch only when a
GPU is asked about, so the benchmark renderer and the CLI pay nothing for this module.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# (distribution name, key in the record)
LIBRARIES = [("torch", "torch"), ("torchvision", "torchvision"), ("ray", "ray"),
             ("scikit-learn", "sklearn"), ("scikit-learn-intelex", "sklearnex"),
             ("numpy", "numpy"), ("tune-bench", "tune_bench")]
CPUINFO = "/proc/cpuinfo"
MEMINFO = "/proc/meminfo"


def library_versions() -> dict[str, str]:
    """The Python version and those of the installed LIBRARIES (the missing ones left out)."""
    out = {"python": platform.python_version()}
    for dist, key in LIBRARIES:
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def hostname() -> str:
    """The name of the machine a run used."""
    return socket.gethostname()


def _cpuinfo(field: str) -> str | None:
    """The value of the first `field` line of /proc/cpuinfo (None where there is none)."""
    try:
        with open(CPUINFO) as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "cpu"


def cpu_flags() -> set[str]:
    """The CPU's feature flags (avx2, avx512f, ...); empty where /proc/cpuinfo is missing."""
    return set((_cpuinfo("flags") or "").split())


def gpu_name() -> str | None:
    """The name of the first CUDA device, or None without one."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def device_name(dev: torch.device) -> str:
    """Human-readable name of the device a run used: the GPU's name, else the CPU's."""
    if dev.type == "cuda":
        import torch

        return torch.cuda.get_device_name(dev)
    return cpu_name()


def ram_gib() -> float:
    """Total memory in GiB (NaN where /proc/meminfo is missing)."""
    try:
        with open(MEMINFO) as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return float("nan")


def machine() -> dict[str, Any]:
    """The machine a benchmark ran on: CPU, cores, memory, vector units, GPU, host, OS."""
    flags = cpu_flags()
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "ram_gib": ram_gib(),
            "avx2": "avx2" in flags, "avx512f": "avx512f" in flags, "gpu": gpu_name(),
            "hostname": hostname(), "os": platform.platform()}
