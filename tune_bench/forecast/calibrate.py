"""Calibration: time a few training steps and an evaluation of each trial shape, for real.

Each trainer's `Timing.calibrate` (`forecast/resnet.py`, `forecast/svm.py`, a plug-in's own)
runs here, on the real data, with the threads the sweep would give the trial, at the trial
workers' niceness. Results are cached per machine and shape in
`~/.cache/tune-bench/calibration/` (`$TUNE_BENCH_CALIBRATION_DIR`), and can be written to a
file (`tune-bench calibrate`) that another machine's forecast reads (`--calibration FILE`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tune_bench.errors import ConfigError

FORMAT = "tune-bench-calibration"
VERSION = 1


# --------------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    """What calibrations are valid for: host, CPU, cores, torch version, GPU name."""
    import platform

    import torch

    from tune_bench.provenance import hostname

    cpu = platform.processor()
    with contextlib.suppress(OSError):
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else cpu
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"host": hostname(), "cpu": cpu, "cores": os.cpu_count(),
            "torch": torch.__version__, "gpu": gpu}


def machine_id(m: dict[str, Any]) -> str:
    """A file-name-safe id of a machine."""
    text = f"{m['host']}-{m['cores']}c-{m['gpu'] or 'nogpu'}-torch{m['torch']}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def cache_dir() -> Path:
    return Path(os.environ.get("TUNE_BENCH_CALIBRATION_DIR")
                or Path.home() / ".cache" / "tune-bench" / "calibration")


# --------------------------------------------------------------------------- files


def empty(m: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "machine": m, "shapes": {}, "overheads": {}}


def load_file(path: str | Path) -> dict[str, Any]:
    """A calibration file, checked; a bad one is a ConfigError naming the file and the fault."""
    where = f"--calibration {path}"
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{where}: cannot be read ({type(e).__name__})") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}: not JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{where}: not a tune-bench calibration file (no \"format\": "
                          f"\"{FORMAT}\"; write one with tune-bench calibrate SPACE --out FILE)")
    if data.get("version") != VERSION:
        raise ConfigError(f"{where}: version {data.get('version')!r} (this tune-bench reads "
                          f"{VERSION})")
    shapes = data.get("shapes")
    if not isinstance(shapes, dict):
        raise ConfigError(f"{where}: shapes: must be an object of calibrated shapes")
    for key, rec in shapes.items():
        _check_record(where, key, rec)
    if not isinstance(data.get("machine"), dict):
        raise ConfigError(f"{where}: machine: must be an object")
    data.setdefault("overheads", {})
    return data


def _check_record(where: str, key: str, rec: Any) -> None:
    from tune_bench.forecast.timing import timing_of
    from tune_bench.plugins import BUILTIN

    try:
        shape = json.loads(key)
        trainer = shape["trainer"]
        # a built-in trainer's record is checked field by field; a plug-in's when it is used
        timing = timing_of(trainer) if trainer in BUILTIN else None
        needs = timing.needs if timing else ()
    except (ValueError, TypeError, KeyError):
        raise ConfigError(f"{where}: shapes: key {key[:60]!r} is not a trial shape") from None
    label = f"{where}: shapes[{trainer} {shape.get('model') or shape.get('kernel') or ''}]"
    if not isinstance(rec, dict):
        raise ConfigError(f"{label}: must be an object")
    for k in needs:
        v = rec.get(k)
        values = v if isinstance(v, list) else [v]
        if not values or not all(isinstance(x, int | float) and not isinstance(x, bool)
                                 and x >= 0 and x == x for x in values):
            raise ConfigError(f"{label}.{k}: must be a non-negative number or list of them "
                              f"(got {v!r})")
    if trainer == "svm" and not (len(rec["sizes"]) == len(rec["fit_s"]) ==
                                 len(rec["eval_img_s"]) >= 2):
        raise ConfigError(f"{label}: sizes, fit_s and eval_img_s need the same length (>= 2)")


def save_file(data: dict[str, Any], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


def load_cache(m: dict[str, Any]) -> dict[str, Any]:
    """This machine's cached calibrations (empty when none or unreadable)."""
    path = cache_dir() / f"{machine_id(m)}.json"
    try:
        data = json.loads(path.read_text())
        if data.get("format") == FORMAT and data.get("version") == VERSION:
            return data
    except (OSError, ValueError):
        pass
    return empty(m)


def save_cache(data: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        save_file(data, cache_dir() / f"{machine_id(data['machine'])}.json")


# --------------------------------------------------------------------------- timing


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to `n` for the block (as `run_trial` sets them)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def worker_niceness() -> int:
    """The niceness Ray gives trial workers (its `worker_niceness`, 15 unless set): on a
    machine shared with other jobs it decides how much CPU a trial gets, so the calibration
    runs at it too."""
    try:
        return int(os.environ.get("RAY_worker_niceness", "15"))
    except ValueError:
        return 15


def _renice() -> None:
    """This process to the trial workers' niceness (only ever up: no privileges needed)."""
    with contextlib.suppress(OSError):
        os.nice(max(0, worker_niceness() - os.nice(0)))


def actor_start_s() -> float:
    """What a fresh trial worker pays before its first step: a Python that imports torch,
    Ray's Tune and tune-bench's trainers (measured in a subprocess at the workers'
    niceness)."""
    code = ("import ray.tune, torch, torchvision.models, sklearn.svm; "
            "import tune_bench.sweep.trainable, tune_bench.train")
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                       preexec_fn=_renice, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                           p for p in (str(Path(__file__).resolve().parents[2]),
                                       os.environ.get("PYTHONPATH", "")) if p)})
    return time.perf_counter() - t0


def probe_s() -> float:
    """The machine's speed now, as a trial would get it: the median time of 5 rounds of a
    fixed 1-thread matrix product (about 0.05 s each on a quiet core). Run in the
    calibration's child process, and again (`probe_now`) when cached timings are reused."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).random((384, 384))
    rounds = []
    with threadpool_limits(1):
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(16):
                a = a @ a
                a /= np.abs(a).max()
            rounds.append(time.perf_counter() - t0)
    return sorted(rounds)[2]


def probe_now() -> float | None:
    """`probe_s` in a fresh process at the trial workers' niceness (None if it fails)."""
    code = "from tune_bench.forecast.calibrate import probe_s; print(probe_s())"
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                          text=True, preexec_fn=_renice, env={**os.environ, "PYTHONPATH": (
                              os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2]),
                                                          os.environ.get("PYTHONPATH", "")) if p))})
    try:
        return float(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def time_shapes(todo: dict[str, tuple[dict, dict, int]], data_dir: str | None,
                plugin_paths: list[str] | tuple[str, ...] = (), announce: bool = False,
                splits: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Calibration records of the shapes `todo` ({shape key: (point, sizes, threads)}), each
    by its trainer's `Timing.calibrate` with the trial's threads, at the trial workers'
    niceness (run it in a child process or a Ray task). `splits`: the decoded datasets
    (default: decoded here from `data_dir`)."""
    from tune_bench.forecast.timing import timing_of
    from tune_bench.plugins import search_paths
    from tune_bench.sweep.handover import data_key, decode_datasets
    from tune_bench.sweep.options import phase

    _renice()
    points = [p for p, _, _ in todo.values()]
    with search_paths(plugin_paths):
        if splits is None:
            splits = decode_datasets(points, data_dir)
        out = {}
        for key, (point, sizes, threads) in todo.items():
            timing = timing_of(point["trainer"])
            if timing is None:
                continue
            phase(f"calibrating {timing.label(json.loads(key))}", announce)
            # a trial's own warnings (pin_memory without a GPU...) are the sweep's to show
            with torch_threads(threads), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[key] = timing.calibrate(point, splits.get(data_key(point)), threads,
                                            sizes)
            out[key]["probe_s"] = probe_s()  # how fast the machine was for this shape
    return out


def calibrate_missing(data: dict[str, Any], wanted: dict[str, tuple[dict, dict, int]],
                      data_dir: str | None, announce: bool = False,
                      plugin_paths: list[str] | tuple[str, ...] = (), cluster: Any = None,
                      splits: dict[str, Any] | None = None, cpus: float = 1.0,
                      max_concurrent: int | None = None) -> list[str]:
    """Calibrate each shape of `wanted` ({shape key: (point, sizes, threads)}) not in `data`
    yet; returns the keys it timed. Here: in fresh child processes at the trial workers'
    niceness, as many side by side as trials of those threads run at once in `cpus` and
    `max_concurrent` (as the sweep will run them: two 1-thread SVM fits on 2 cores slow each
    other down); on a `cluster` (`sweep.calibration.Cluster`): as Ray tasks on its nodes,
    with the decoded `splits`. GPU shapes need a GPU there, and are timed one at a time."""
    todo = {k: v for k, v in wanted.items() if k not in data["shapes"]}
    if todo and cluster is not None:
        data["shapes"].update(cluster.time_shapes(todo, splits or {}, plugin_paths,
                                                  max_concurrent))
    elif todo:
        rounds = side_by_side(todo, cpus, max_concurrent)
        data["shapes"].update(_time_here(rounds, data_dir, plugin_paths, announce))
    if "actor_start_s" not in data["overheads"]:
        data["overheads"]["actor_start_s"] = cluster.worker_start_s() if cluster is not None \
            else actor_start_s()
    return list(todo)


def side_by_side(todo: dict[str, tuple[dict, dict, int]], cpus: float,
                 max_concurrent: int | None = None
                 ) -> list[list[dict[str, tuple[dict, dict, int]]]]:
    """`todo` in rounds of chunks to time side by side: per thread count (GPU shapes apart),
    as many chunks as such trials run at once in `cpus` (at least 1, at most the shapes and
    `max_concurrent`)."""
    groups: dict[tuple[int, bool], dict[str, tuple[dict, dict, int]]] = {}
    for key, entry in todo.items():
        groups.setdefault((entry[2], entry[0].get("device") == "gpu"), {})[key] = entry
    rounds = []
    for (threads, gpu), group in groups.items():
        k = 1 if gpu else max(1, min(len(group), int(cpus // threads),
                                     max_concurrent or len(group)))
        items = list(group.items())
        rounds.append([dict(items[i::k]) for i in range(k)])
    return rounds


def _time_here(rounds: list[list[dict[str, tuple[dict, dict, int]]]], data_dir: str | None,
               plugin_paths: list[str] | tuple[str, ...], announce: bool) -> dict[str, Any]:
    """Each round's chunks timed side by side, each in a fresh child process."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    out: dict[str, Any] = {}
    spawn = multiprocessing.get_context("spawn")
    for chunks in rounds:
        with ProcessPoolExecutor(len(chunks), mp_context=spawn) as pool:
            futures = [pool.submit(time_shapes, c, data_dir, plugin_paths, announce)
                       for c in chunks]
            for f in futures:
                out.update(f.result())
    return out
