"""The ResNet trainer's timing: a few training steps and an evaluation, timed for real with
the trainer's own functions (`train.resnet.setup`, `train_epoch`, `evaluate`, `checkpoint`),
extrapolated linearly.

epoch = fixed cost per epoch + steps x step time + val images x eval time per image;
trial = setup + epochs x (epoch + checkpoint) + test images x eval time per image.
Bounds: the fastest and slowest of the repeated step timings.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from tune_bench.forecast.timing import Estimate, Timing, cap

SHAPE_KEYS = ("model", "batch_size", "optimizer", "device", "loader", "num_workers",
              "pin_memory", "amp", "compile")
SIZE_KEYS = ("n_train", "n_eval", "epochs")
STEPS = (1, 2)  # timed epochs of this many steps, each twice, after a 1-step warm-up
EVAL_IMAGES = 256  # evaluated once, after 32 images of warm-up
METHOD = ("ResNet: timed training steps (epochs of 1 and 2 steps, twice) and evaluation, "
          "extrapolated linearly in steps per epoch, epochs and eval images; interval: the "
          "fastest/slowest repeat timings")


def sizes(point: dict[str, Any], split: dict[str, int]) -> dict[str, int]:
    """Images trained on, evaluated on every epoch (val) and once (test); epochs."""
    return {"n_train": cap(point.get("n_train"), split["train"]),
            "n_val": cap(point.get("n_eval"), split["val"]),
            "n_test": cap(point.get("n_eval"), split["test"]), "epochs": int(point["epochs"])}


def kind(point: dict[str, Any], sizes: dict[str, int]) -> str:
    """e.g. 'resnet18 bs32 sgd cpu n=600 2 ep'."""
    return (f"{point['model']} bs{point['batch_size']} {point['optimizer']} {point['device']} "
            f"n={sizes['n_train']} {point['epochs']} ep")


def label(shape: dict[str, Any]) -> str:
    """e.g. 'resnet18 bs32 sgd cpu, 2 thread(s)'."""
    return (f"{shape['model']} bs{shape['batch_size']} {shape['optimizer']} {shape['device']}, "
            f"{shape['threads']} thread(s)")


def calibrate(point: dict[str, Any], split: Any, threads: int,
              sizes: dict[str, int]) -> dict[str, Any]:
    """Time setup, training steps (epochs of 1 and 2 steps, twice each, after a warm-up),
    evaluation per image and a checkpoint of one ResNet shape (torch threads set by the
    caller)."""
    import torch

    from tune_bench.config import ResNetConfig
    from tune_bench.models import model_cost
    from tune_bench.train.common import resolve_device
    from tune_bench.train.resnet import checkpoint, evaluate, setup, train_epoch

    cfg = ResNetConfig.from_dict(point)
    bs = cfg.batch_size
    dev = resolve_device(cfg.device)
    keep = dev if cfg.loader == "tensor" else torch.device("cpu")
    n = bs * max(STEPS)
    x, y = split.train_x[:n].to(keep), split.train_y[:n].to(keep)
    import thop  # noqa: F401  (imports a trial's worker has made before: actor_start_s)
    import torchvision.models  # noqa: F401

    t0 = time.perf_counter()
    t = setup(cfg, dev)
    model_cost(cfg.model)  # the final metrics' MACs (once per trial process)
    setup_s = time.perf_counter() - t0
    train_epoch(t, x[:bs], y[:bs])  # warm-up
    epochs: dict[int, list[float]] = {s: [] for s in STEPS}
    for _ in range(2):
        for s in STEPS:
            epochs[s].append(train_epoch(t, x[:bs * s], y[:bs * s]).seconds)
    step_s, fixed = step_times(epochs, cfg.loader == "dataloader")
    ev_x = split.val_x[:EVAL_IMAGES].to(dev)
    ev_y = split.val_y[:EVAL_IMAGES].to(dev)
    evaluate(t.model, ev_x[:32], ev_y[:32], dev, cfg.use_amp)  # warm-up
    t0 = time.perf_counter()
    evaluate(t.model, ev_x, ev_y, dev, cfg.use_amp)
    eval_img_s = [(time.perf_counter() - t0) / len(ev_y)]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        torch.save(checkpoint(t), Path(d) / "state.pt")
        checkpoint_mb = (Path(d) / "state.pt").stat().st_size / 2**20
    # saved by the trial, then copied into the trial directory by Tune: twice the write
    checkpoint_s = 2 * (time.perf_counter() - t0)
    return {"setup_s": setup_s, "epoch_fixed_s": fixed, "step_s": step_s,
            "eval_img_s": eval_img_s, "checkpoint_s": checkpoint_s,
            "checkpoint_mb": checkpoint_mb}


def step_times(epochs: dict[int, list[float]], per_epoch_cost: bool
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


def predict(rec: dict[str, Any], point: dict[str, Any], sizes: dict[str, int],
            pooled: Any = None) -> Estimate:
    """A ResNet trial's duration from its calibration record (the module's method)."""
    bs = int(point["batch_size"])
    n = sizes["n_train"]
    steps = n // bs + (1 if n % bs > 1 else 0)  # a last batch of one image is dropped

    def total(step_s: float, eval_s: float) -> float:
        epoch = rec["epoch_fixed_s"] + steps * step_s + sizes["n_val"] * eval_s
        return (rec["setup_s"] + sizes["epochs"] * (epoch + rec["checkpoint_s"])
                + sizes["n_test"] * eval_s)

    step, ev = rec["step_s"], rec["eval_img_s"]
    return Estimate(total(_median(step), _median(ev)), total(min(step), min(ev)),
                    total(max(step), max(ev)))


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


TIMING = Timing(SHAPE_KEYS, SIZE_KEYS, sizes, kind, label, calibrate, predict,
                needs=("setup_s", "epoch_fixed_s", "checkpoint_s", "step_s", "eval_img_s"),
                method=METHOD, checkpoints=lambda point, sizes: sizes["epochs"])
