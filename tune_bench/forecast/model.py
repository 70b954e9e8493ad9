"""Trial shapes and the time model: calibration records -> each trial's duration, with bounds.

A *shape* is what a trial's time per step depends on (trainer, model, batch size, optimizer,
device, threads, loader...; for an SVM every hyperparameter, since they set the number of
support vectors); the *sizes* (training images, eval images, epochs) are extrapolated. A
*kind* is what the forecast table groups by: trainer, model or kernel, batch size, device,
data size, epochs.

Extrapolation (the method the forecast states):
- ResNet: epoch = fixed cost per epoch + steps x step time + val images x eval time per
  image; trial = setup + epochs x (epoch + checkpoint) + test images x eval time per image.
  Bounds: the fastest and slowest of the repeated step / eval timings.
- SVM: fit time, prediction time per image and the rest timed at 3 sizes and extrapolated
  from the largest along the last pair's log-log slope; the fit's slope grows with n (the
  kernel cache's working set), by the curvature pooled over the sweep's SVM shapes (median;
  quartiles for the bounds).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

RESNET_SHAPE_KEYS = ("model", "batch_size", "optimizer", "device", "loader", "num_workers",
                     "pin_memory", "amp", "compile")
SVM_SHAPE_KEYS = ("dataset", "split", "kernel", "C", "gamma", "degree", "coef0", "backend",
                  "predict", "device")

METHOD = ("ResNet: timed training steps (epochs of 1 and 2 steps, twice) and evaluation, "
          "extrapolated linearly in steps per epoch, epochs and eval images; SVM: fit and "
          "predict times at 3 small sizes, extrapolated on a power law whose exponent grows "
          "with n as the sweep's SVM shapes show; then Tune's FIFO placement simulated. "
          "Interval: fastest/slowest repeat timings (ResNet), quartiles of the pooled growth "
          "of the exponent (SVM), each simulated.")


def threads_for(resources: dict[str, float]) -> int:
    """The torch / SVM threads a trial with `resources` runs with (as `run_trial` sets them)."""
    return max(1, int(resources.get("cpu", 1)))


def shape_of(point: dict[str, Any], resources: dict[str, float]) -> dict[str, Any]:
    """The calibration shape of a trial (flat config) run with `resources`."""
    keys = SVM_SHAPE_KEYS if point["trainer"] == "svm" else RESNET_SHAPE_KEYS
    shape = {"trainer": point["trainer"], **{k: point.get(k) for k in keys}}
    shape["threads"] = threads_for(resources)
    return shape


def shape_key(shape: dict[str, Any]) -> str:
    """A stable text key of a shape (the calibration cache's key)."""
    return json.dumps(shape, sort_keys=True, default=str)


def shape_label(shape: dict[str, Any]) -> str:
    """e.g. 'resnet18 bs32 sgd cpu, 2 thread(s)', 'svm poly mnist C=1.0 degree 2 cpu, ...'."""
    if shape["trainer"] == "svm":
        extra = f"degree {shape['degree']}" if shape["kernel"] == "poly" else \
            f"gamma {shape['gamma']}"
        what = f"svm {shape['kernel']} {shape['dataset']} C={shape['C']} {extra}"
    else:
        what = f"{shape['model']} bs{shape['batch_size']} {shape['optimizer']}"
    return f"{what} {shape['device']}, {shape['threads']} thread(s)"


def kind_of(point: dict[str, Any], sizes: dict[str, int]) -> str:
    """The kind a trial is shown under, e.g. 'resnet18 bs32 sgd cpu n=600 2 ep'."""
    n = sizes["n_train"]
    if point["trainer"] == "svm":
        ds = {"mnist": "mnist", "fashion_mnist": "fmnist"}.get(point["dataset"], point["dataset"])
        return f"svm {point['kernel']} {ds} {point['device']} n={n}"
    return (f"{point['model']} bs{point['batch_size']} {point['optimizer']} {point['device']} "
            f"n={n} {point['epochs']} ep")


def trial_key(point: dict[str, Any], resources: dict[str, float]) -> str:
    """What a trial's predicted time depends on: its shape and its sizes (seed, lr excluded)."""
    sized = ("n_train", "n_eval", "epochs") if point["trainer"] == "resnet" else (
        "n_train", "n_test", "n_train_eval")
    return shape_key({**shape_of(point, resources), **{k: point.get(k) for k in sized}})


def data_sizes(point: dict[str, Any], split_sizes: dict[str, int]) -> dict[str, int]:
    """Images the trial trains / evaluates on, from its config and its split's sizes
    ({"train": n, "val": n, "test": n})."""
    def cap(limit: int | None, total: int) -> int:
        return total if limit is None else min(int(limit), total)

    n_train = cap(point.get("n_train"), split_sizes["train"])
    if point["trainer"] == "svm":
        return {"n_train": n_train, "n_test": cap(point.get("n_test"), split_sizes["test"]),
                "n_train_eval": cap(point.get("n_train_eval"), n_train)}
    return {"n_train": n_train, "n_val": cap(point.get("n_eval"), split_sizes["val"]),
            "n_test": cap(point.get("n_eval"), split_sizes["test"]),
            "epochs": int(point["epochs"])}


@dataclass(frozen=True)
class Estimate:
    """A predicted duration (s) with its low and high bounds."""

    s: float
    low: float
    high: float


def resnet_time(rec: dict[str, Any], point: dict[str, Any], sizes: dict[str, int]) -> Estimate:
    """A ResNet trial's duration from its calibration record (see the module's method)."""
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


def power_law(sizes: list[float], times: list[float]) -> tuple[float, float, list[float]]:
    """Least-squares a, b of t = a * n^b in log-log, and the consecutive pairs' exponents."""
    xs = [math.log(n) for n in sizes]
    ys = [math.log(max(t, 1e-6)) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 1.0
    pairs = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)
             if xs[i + 1] > xs[i]]
    return math.exp(my - b * mx), b, pairs or [b]


def curvature(sizes: list[float], times: list[float]) -> float | None:
    """How much the log-log slope of `times` grows per unit of ln n, from 3 sizes."""
    if len(sizes) < 3:
        return None
    x = [math.log(n) for n in sizes[-3:]]
    y = [math.log(max(t, 1e-6)) for t in times[-3:]]
    s1, s2 = (y[1] - y[0]) / (x[1] - x[0]), (y[2] - y[1]) / (x[2] - x[1])
    return (s2 - s1) / ((x[2] - x[0]) / 2)


def pooled_curvature(records: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Quartiles (low, median, high) of the SVM fit curvature over `records`, each >= 0: one
    shape's three timings are too noisy to bend its own extrapolation; the sweep's shapes
    together are not."""
    ks = sorted(max(0.0, k) for r in records
                if (k := curvature(r["sizes"], r["fit_s"])) is not None)
    if not ks:
        return 0.0, 0.0, 0.0
    q = [ks[min(len(ks) - 1, int(f * (len(ks) - 1) + 0.5))] for f in (0.25, 0.5, 0.75)]
    return q[0], q[1], q[2]


def grow(sizes: list[float], times: list[float], n: float, k: float = 0.0,
         slope: tuple[float, float] = (0.0, 3.0)) -> float:
    """`times` extrapolated to `n` from the largest size, along the last pair's log-log slope
    (clamped to `slope`) bending by `k` per unit of ln n."""
    x = [math.log(v) for v in sizes]
    y = [math.log(max(t, 1e-6)) for t in times]
    last = (y[-1] - y[-2]) / (x[-1] - x[-2]) if len(x) > 1 and x[-1] > x[-2] else 1.0
    last = min(max(last, slope[0]), slope[1])
    d = math.log(n) - x[-1]
    mid = (x[-1] + x[-2]) / 2 if len(x) > 1 else x[-1]
    return math.exp(y[-1] + last * d + k * (d * (x[-1] - mid) + d * d / 2))


def svm_time(rec: dict[str, Any], sizes: dict[str, int],
             curv: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Estimate:
    """An SVM trial's duration: fit time + predicted images x time per image + the rest
    (subset, scaling, set-up), each extrapolated in n_train from the largest timed size: the
    fit along its last log-log slope (>= 1) bending by the sweep's pooled curvature `curv`
    (its quartiles give the bounds), the others along their last slope (0 to 1)."""
    n, s = sizes["n_train"], rec["sizes"]
    fit = [grow(s, rec["fit_s"], n, k, (1.0, 3.0)) for k in curv]
    per = grow(s, rec["eval_img_s"], n, 0.0, (0.0, 1.0))
    other = grow(s, [max(t, 1e-3) for t in rec["other_s"]], n, 0.0, (0.0, 1.0)) \
        if rec.get("other_s") else 0.0
    rest = per * (sizes["n_test"] + sizes["n_train_eval"]) + other
    return Estimate(fit[1] + rest, fit[0] + rest, fit[2] + rest)


def trial_time(rec: dict[str, Any], point: dict[str, Any], sizes: dict[str, int],
               curv: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Estimate:
    """The predicted duration of one trial from its shape's calibration record."""
    if point["trainer"] == "svm":
        return svm_time(rec, sizes, curv)
    return resnet_time(rec, point, sizes)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
