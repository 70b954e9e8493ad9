"""The SVM trainer's timing: fit and prediction timed for real (`train.svm.train_svm`) at 3
training sizes up to half the trial's (at most `TOP`), extrapolated in n.

A shape is the dataset, kernel (and degree), backend and device, not C or gamma: timed at a
few thousand images, every C and gamma of a kernel fits in the same time (0.23-0.33 s at
2,000 MNIST images for the 42 shapes of q1b), while the growth from there to 10,000 images,
which the small sizes cannot see, is what decides the trial's time. So the sweep's time goes
to fewer shapes timed at larger sizes (BENCHMARKS.md, section 10).

Fit time, prediction time per image and the rest (subset, scaling, set-up) are extrapolated
from the largest timed size along the last pair's log-log slope; the fit's slope grows with n
(the kernel cache's working set), by the curvature pooled over the sweep's SVM shapes (median;
quartiles for the bounds): one shape's three timings are too noisy to bend its own.
"""

from __future__ import annotations

import math
import time
from typing import Any

from tune_bench.forecast.timing import Estimate, Timing, cap

SHAPE_KEYS = ("dataset", "split", "kernel", "degree", "coef0", "backend", "predict", "device")
SIZE_KEYS = ("n_train", "n_test", "n_train_eval")
SMALL = 2000  # a trial of at most this many images is timed at its own size
TOP = 5000  # ... else at half its size, at most this many (and at 1/4, 1/8 of that)
EVAL = 500  # ... predicting this many test images
METHOD = ("SVM: fit and predict times of each dataset and kernel (any C, gamma) at 3 sizes up "
          "to half the trial's, extrapolated on a power law whose exponent grows with n as "
          "the sweep's SVM shapes show; interval: quartiles of that growth")


def sizes(point: dict[str, Any], split: dict[str, int]) -> dict[str, int]:
    """Images fitted on, predicted in the test and in the train accuracy."""
    n_train = cap(point.get("n_train"), split["train"])
    return {"n_train": n_train, "n_test": cap(point.get("n_test"), split["test"]),
            "n_train_eval": cap(point.get("n_train_eval"), n_train)}


def kind(point: dict[str, Any], sizes: dict[str, int]) -> str:
    """e.g. 'svm rbf fmnist cpu n=10000'."""
    ds = {"mnist": "mnist", "fashion_mnist": "fmnist"}.get(point["dataset"], point["dataset"])
    return f"svm {point['kernel']} {ds} {point['device']} n={sizes['n_train']}"


def label(shape: dict[str, Any]) -> str:
    """e.g. 'svm poly degree 2 mnist cpu, 1 thread(s)'."""
    extra = f" degree {shape['degree']}" if shape["kernel"] == "poly" else ""
    return (f"svm {shape['kernel']}{extra} {shape['dataset']} {shape['device']}, "
            f"{shape['threads']} thread(s)")


def train_sizes(n_train: int) -> list[int]:
    """The 3 training sizes a shape is timed at: its own size and 1/2, 1/4 of it up to
    `SMALL` images, else half of it (at most `TOP`) and 1/2, 1/4 of that."""
    top = n_train if n_train <= SMALL else min(n_train // 2, TOP)
    return [max(100, top // 4), max(200, top // 2), max(300, top)]


def calibrate(point: dict[str, Any], split: Any, threads: int,
              sizes: dict[str, int]) -> dict[str, Any]:
    """Fit and predict times of one SVM shape at 3 small sizes (`train_sizes`)."""
    from tune_bench.config import SVMConfig
    from tune_bench.train.svm import train_svm

    ns, fit_s, eval_s, other_s = [], [], [], []
    for n in train_sizes(sizes["n_train"]):
        n_eval = min(EVAL, n)
        cfg = SVMConfig.from_dict({**point, "n_train": n, "n_test": n_eval,
                                   "n_train_eval": n_eval})
        t0 = time.perf_counter()
        m = train_svm(cfg, split, threads=threads)
        wall = time.perf_counter() - t0
        fit = m["train_time_ms"] / 1000
        per_image = m["predict_time_ms"] / 1000 / m["n_test_used"]
        ns.append(m["n_train_used"])
        fit_s.append(fit)
        eval_s.append(per_image)
        # the rest: the subset and its scaling, the SVC's set-up (train accuracy's prediction
        # counted at the test prediction's rate)
        other_s.append(max(wall - fit - per_image * (m["n_test_used"]
                                                     + m["n_train_eval_used"]), 0.0))
    return {"sizes": ns, "fit_s": fit_s, "eval_img_s": eval_s, "other_s": other_s}


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
    """Quartiles (low, median, high) of the fit curvature over the sweep's SVM `records`,
    each >= 0."""
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


def predict(rec: dict[str, Any], point: dict[str, Any], sizes: dict[str, int],
            curv: tuple[float, float, float] | None = None) -> Estimate:
    """An SVM trial's duration: fit time + predicted images x time per image + the rest,
    each extrapolated in n_train from the largest timed size: the fit along its last log-log
    slope (>= 1) bending by the pooled curvature `curv` (its quartiles give the bounds), the
    others along their last slope (0 to 1)."""
    n, s = sizes["n_train"], rec["sizes"]
    fit = [grow(s, rec["fit_s"], n, k, (1.0, 3.0)) for k in (curv or (0.0, 0.0, 0.0))]
    per = grow(s, rec["eval_img_s"], n, 0.0, (0.0, 1.0))
    other = grow(s, [max(t, 1e-3) for t in rec["other_s"]], n, 0.0, (0.0, 1.0)) \
        if rec.get("other_s") else 0.0
    rest = per * (sizes["n_test"] + sizes["n_train_eval"]) + other
    return Estimate(fit[1] + rest, fit[0] + rest, fit[2] + rest)


TIMING = Timing(SHAPE_KEYS, SIZE_KEYS, sizes, kind, label, calibrate, predict,
                needs=("sizes", "fit_s", "eval_img_s"), method=METHOD, pool=pooled_curvature)
