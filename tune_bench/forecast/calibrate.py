"""Calibration: time a few training steps and an evaluation of each trial shape, for real.

The trainers' own functions run here (`train.resnet.setup`, `train_epoch`, `evaluate`,
`checkpoint`; `train.svm.train_svm` at small sizes), on the real data, with the threads the
sweep would give the trial. Results are cached per machine and shape in
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
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tune_bench.errors import ConfigError

FORMAT = "tune-bench-calibration"
VERSION = 1
SVM_TOP = 2000  # SVM shapes are timed at TOP/4, TOP/2, TOP training images (or their n_train)
SVM_EVAL = 500  # ... predicting this many test images
RESNET_STEPS = (1, 2)  # timed epochs of this many steps, each twice, after a 1-step warm-up
EVAL_IMAGES = 256  # evaluated once, after 32 images of warm-up


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


_NEEDS = {"resnet": ("setup_s", "epoch_fixed_s", "checkpoint_s", "step_s", "eval_img_s"),
          "svm": ("sizes", "fit_s", "eval_img_s")}


def _check_record(where: str, key: str, rec: Any) -> None:
    try:
        shape = json.loads(key)
        trainer = shape["trainer"]
        needs = _NEEDS[trainer]
    except (ValueError, TypeError, KeyError):
        raise ConfigError(f"{where}: shapes: key {key[:60]!r} is not a trial shape") from None
    label = f"{where}: shapes[{trainer} {shape.get('model') or shape.get('kernel')}]"
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


def calibrate_resnet(point: dict[str, Any], split: Any, threads: int) -> dict[str, Any]:
    """Time setup, training steps (epochs of 1 and 2 steps, twice each, after a warm-up),
    evaluation per image and a checkpoint of one ResNet shape."""
    import torch

    from tune_bench.config import ResNetConfig
    from tune_bench.models import model_cost
    from tune_bench.train.common import resolve_device
    from tune_bench.train.resnet import checkpoint, evaluate, setup, train_epoch

    cfg = ResNetConfig.from_dict(point)
    bs = cfg.batch_size
    with torch_threads(threads):
        dev = resolve_device(cfg.device)
        keep = dev if cfg.loader == "tensor" else torch.device("cpu")
        n = bs * max(RESNET_STEPS)
        x, y = split.train_x[:n].to(keep), split.train_y[:n].to(keep)
        import thop  # noqa: F401  (imports a trial's worker has made before: actor_start_s)
        import torchvision.models  # noqa: F401

        t0 = time.perf_counter()
        t = setup(cfg, dev)
        model_cost(cfg.model)  # the final metrics' MACs (once per trial process)
        setup_s = time.perf_counter() - t0
        train_epoch(t, x[:bs], y[:bs])  # warm-up
        epochs: dict[int, list[float]] = {s: [] for s in RESNET_STEPS}
        for _ in range(2):
            for s in RESNET_STEPS:
                epochs[s].append(train_epoch(t, x[:bs * s], y[:bs * s]).seconds)
        step_s, fixed = _step_times(epochs, cfg.loader == "dataloader")
        ev_x = split.val_x[:EVAL_IMAGES].to(dev)
        ev_y = split.val_y[:EVAL_IMAGES].to(dev)
        evaluate(t.model, ev_x[:32], ev_y[:32], dev, cfg.use_amp)  # warm-up
        t0 = time.perf_counter()
        evaluate(t.model, ev_x, ev_y, dev, cfg.use_amp)
        eval_img_s = [(time.perf_counter() - t0) / len(ev_y)]
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            torch.save(checkpoint(t), Path(d) / "state.pt")
        # saved by the trial, then copied into the trial directory by Tune: twice the write
        checkpoint_s = 2 * (time.perf_counter() - t0)
    return {"setup_s": setup_s, "epoch_fixed_s": fixed, "step_s": step_s,
            "eval_img_s": eval_img_s, "checkpoint_s": checkpoint_s}


def _step_times(epochs: dict[int, list[float]], per_epoch_cost: bool
                ) -> tuple[list[float], float]:
    """Step time samples and the fixed cost per epoch from epochs of 1 and 2 steps.

    The tensor loader has no per-epoch cost: every timed epoch is a sample of its time per
    step (the difference of two short epochs can be near zero under load). A DataLoader starts
    its workers every epoch: the step time is then the difference 2-step minus 1-step epoch
    (floored at a tenth of the plain per-step rate), the fixed cost what the 1-step epoch has
    beyond it."""
    rates = [t / s for s, ts in epochs.items() for t in ts]
    if not per_epoch_cost:
        return rates, 0.0
    lo, hi = sorted(epochs)
    floor = 0.1 * min(rates)
    diffs = [max((b - a) / (hi - lo), floor)
             for a, b in zip(epochs[lo], epochs[hi], strict=True)]
    return diffs, max(0.0, min(epochs[lo]) - min(diffs) * lo)


def svm_sizes(n_train: int) -> list[int]:
    """The 3 training sizes an SVM shape is timed at."""
    top = min(n_train, SVM_TOP)
    return [max(100, top // 4), max(200, top // 2), max(300, top)]


def calibrate_svm(point: dict[str, Any], split: Any, threads: int,
                  n_train: int) -> dict[str, Any]:
    """Fit and predict times of one SVM shape at 3 small sizes (`svm_sizes`)."""
    from tune_bench.config import SVMConfig
    from tune_bench.train.svm import train_svm

    sizes, fit_s, eval_s, other_s = [], [], [], []
    for n in svm_sizes(n_train):
        n_eval = min(SVM_EVAL, n)
        cfg = SVMConfig.from_dict({**point, "n_train": n, "n_test": n_eval,
                                   "n_train_eval": n_eval})
        t0 = time.perf_counter()
        m = train_svm(cfg, split, threads=threads)
        wall = time.perf_counter() - t0
        fit = m["train_time_ms"] / 1000
        per_image = m["predict_time_ms"] / 1000 / m["n_test_used"]
        sizes.append(m["n_train_used"])
        fit_s.append(fit)
        eval_s.append(per_image)
        # the rest: the subset and its scaling, the SVC's set-up (train accuracy's prediction
        # counted at the test prediction's rate)
        other_s.append(max(wall - fit - per_image * (m["n_test_used"]
                                                     + m["n_train_eval_used"]), 0.0))
    return {"sizes": sizes, "fit_s": fit_s, "eval_img_s": eval_s, "other_s": other_s}


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


def time_shapes(todo: dict[str, tuple[dict, dict, int]], data_dir: str | None,
                announce: bool = False) -> dict[str, dict[str, Any]]:
    """Calibration records of the shapes `todo` ({shape key: (point, sizes, threads)}),
    timed in this process at the trial workers' niceness (run it in a child process)."""
    from tune_bench.forecast.model import shape_label
    from tune_bench.sweep.handover import data_key, decode_datasets
    from tune_bench.sweep.options import phase

    _renice()
    splits = decode_datasets([p for p, _, _ in todo.values()], data_dir)
    out = {}
    for key, (point, sizes, threads) in todo.items():
        phase(f"calibrating {shape_label(json.loads(key))}", announce)
        split = splits[data_key(point)]
        if point["trainer"] == "svm":
            out[key] = calibrate_svm(point, split, threads, sizes["n_train"])
        else:
            out[key] = calibrate_resnet(point, split, threads)
    return out


def calibrate_missing(data: dict[str, Any], wanted: dict[str, tuple[dict, dict, int]],
                      data_dir: str | None, announce: bool = False) -> list[str]:
    """Calibrate each shape of `wanted` ({shape key: (point, sizes, threads)}) not in `data`
    yet, on this machine, in a fresh child process at the trial workers' niceness (as a
    trial runs); returns the keys it timed. GPU shapes need a GPU here."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    todo = {k: v for k, v in wanted.items() if k not in data["shapes"]}
    if todo:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            data["shapes"].update(pool.submit(time_shapes, todo, data_dir, announce).result())
    if "actor_start_s" not in data["overheads"]:
        data["overheads"]["actor_start_s"] = actor_start_s()
    return list(todo)
