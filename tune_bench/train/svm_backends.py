"""SVC backends: stock scikit-learn, oneDAL (scikit-learn-intelex) and RAPIDS cuML.

All three get the same arrays and the same hyperparameters. `auto` picks the fastest one that is
installed for the trial's device. The backend that actually ran is reported, including
scikit-learn-intelex's own fallback to stock scikit-learn when it cannot accelerate a setting.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from tune_bench.errors import ConfigError, ResourceError


def available_backends() -> list[str]:
    """Installed SVC backends, fastest first for each device (cuml only with a GPU)."""
    found = []
    if importlib.util.find_spec("cuml") is not None and _cuda_available():
        found.append("cuml")
    if importlib.util.find_spec("sklearnex") is not None:
        found.append("onedal")
    found.append("sklearn")
    return found


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        return False


def resolve_backend(backend: str, device: str) -> str:
    """The concrete backend for `backend` (auto|sklearn|onedal|cuml) on `device` (cpu|gpu)."""
    have = available_backends()
    if backend == "auto":
        if device == "gpu":
            if "cuml" not in have:
                raise ResourceError(
                    "svm backend auto on device gpu: cuML is not installed or no GPU is visible; "
                    "use device cpu or install cuml-cu12/cuml-cu13"
                )
            return "cuml"
        return "onedal" if "onedal" in have else "sklearn"
    if backend == "cuml" and device != "gpu":
        raise ConfigError("backend: cuml runs on the GPU only; set device: gpu")
    if backend in ("sklearn", "onedal") and device == "gpu":
        raise ConfigError(f"backend: {backend} runs on the CPU only; set device: cpu")
    if backend not in have:
        extra = {"onedal": "pip install 'tune-bench[onedal]'", "cuml": "pip install cuml-cu12"}
        raise ConfigError(f"backend: {backend} is not available here ({extra.get(backend, '')})")
    return backend


def resolve_predict(predict: str, backend: str) -> str:
    """The prediction path for `predict` (auto|gemm|backend) with the concrete `backend`.

    auto = gemm for oneDAL, whose own predict is the slow half of its trials; the stock backend
    keeps libsvm's predict (it is the reference), cuML its own (its model lives on the GPU).
    """
    if predict == "auto":
        return "gemm" if backend == "onedal" else "backend"
    if predict == "gemm" and backend not in ("sklearn", "onedal"):
        raise ConfigError(f"predict: gemm needs backend sklearn or onedal (got {backend})")
    return predict


class SharedKernelPredictor:
    """One-vs-one prediction for a fitted SVC with one kernel matrix shared by all class pairs.

    The kernel between a chunk of images and every support vector is one float32 matrix
    product; a (n_sv, n_pairs) matrix of dual coefficients then gives every pair's decision
    value, and libsvm's vote picks the label. Same model, same formula as libsvm: decision
    values agree with `decision_function(shape='ovo')` to float32 rounding. What depends only
    on the model (float32 support vectors, their norms, the pair weights) is built once here.
    """

    def __init__(self, svc: Any, chunk: int = 4096) -> None:
        if svc.kernel not in ("poly", "rbf"):
            raise ConfigError(f"predict: gemm supports kernels poly and rbf (got {svc.kernel!r})")
        self.kernel, self.degree, self.chunk = svc.kernel, int(svc.degree), chunk
        self.gamma = np.float32(svc._gamma)  # the fitted value ('scale' and 'auto' resolved)
        self.coef0 = np.float32(svc.coef0)
        self.classes = np.asarray(svc.classes_)
        self.sv = np.ascontiguousarray(svc.support_vectors_, dtype=np.float32)
        self.sv_sq = (self.sv * self.sv).sum(1)
        starts = np.concatenate([[0], np.cumsum(np.asarray(svc.n_support_))])
        coef = np.asarray(svc.dual_coef_, dtype=np.float32)
        # libsvm's pair order: (0, 1), (0, 2), ..., (k-2, k-1)
        self.pairs = list(combinations(range(len(self.classes)), 2))
        self.weights = np.zeros((len(self.sv), len(self.pairs)), np.float32)
        for p, (i, j) in enumerate(self.pairs):
            self.weights[starts[i]:starts[i + 1], p] = coef[j - 1, starts[i]:starts[i + 1]]
            self.weights[starts[j]:starts[j + 1], p] = coef[i, starts[j]:starts[j + 1]]
        self.intercept = np.asarray(svc.intercept_, dtype=np.float32)
        if len(self.classes) == 2:  # scikit-learn flips a binary model's public signs
            self.weights, self.intercept = -self.weights, -self.intercept

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Decision values of `x`, (n_samples, n_pairs) in libsvm's pair order."""
        out = np.empty((len(x), len(self.pairs)), np.float32)
        for lo in range(0, len(x), self.chunk):
            xc = np.asarray(x[lo:lo + self.chunk], dtype=np.float32)
            kern = xc @ self.sv.T
            if self.kernel == "rbf":  # exp(-gamma |x - sv|^2), |x - sv|^2 = |x|^2 + |sv|^2 - 2 x.sv
                kern *= 2 * self.gamma
                kern -= self.gamma * (xc * xc).sum(1, keepdims=True)
                kern -= self.gamma * self.sv_sq
                np.minimum(kern, 0, out=kern)
                np.exp(kern, out=kern)
            else:  # poly
                kern *= self.gamma
                kern += self.coef0
                kern = _power(kern, self.degree)
            out[lo:lo + self.chunk] = kern @ self.weights + self.intercept
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Labels of `x` by libsvm's vote over the pairs' decisions (ties: lowest class)."""
        dec = self.decision(x)
        votes = np.zeros((len(x), len(self.classes)), np.int32)
        for p, (i, j) in enumerate(self.pairs):
            win = dec[:, p] > 0
            votes[:, i] += win
            votes[:, j] += ~win
        return self.classes[votes.argmax(1)]


def _power(a: np.ndarray, n: int) -> np.ndarray:
    """a ** n for an integer n >= 1 by repeated squaring (numpy's float power is several times
    slower)."""
    result = None
    while True:
        if n & 1:
            result = a.copy() if result is None else np.multiply(result, a, out=result)
        n >>= 1
        if not n:
            return result
        a = a * a


@dataclass
class _FallbackWatcher(logging.Handler):
    """Collects scikit-learn-intelex's log lines saying whether oneDAL or stock code ran."""

    def __post_init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def fell_back(self) -> bool:
        return any("fallback to original" in line.lower() for line in self.lines)

    __hash__ = logging.Handler.__hash__


def make_svc(backend: str, params: dict[str, Any], threads: int | None = None) -> Any:
    """An unfitted SVC of the concrete `backend` with SVC `params` (kernel, C, gamma, ...).

    oneDAL takes its thread count as `n_jobs`; the other backends are limited by BackendRun.
    """
    if backend == "sklearn":
        from sklearn.svm import SVC
    elif backend == "onedal":
        from sklearnex.svm import SVC

        return SVC(**params, n_jobs=threads)
    elif backend == "cuml":  # pragma: no cover - needs a GPU
        from cuml.svm import SVC

        # One-vs-one, as libsvm and oneDAL do (also cuML's documented default; said explicitly).
        return SVC(**params, multiclass_strategy="ovo")
    else:
        raise ConfigError(f"backend: unknown concrete backend {backend!r}")
    return SVC(**params)


class BackendRun:
    """Context manager: limit thread pools to `threads` and watch for oneDAL fallbacks."""

    def __init__(self, backend: str, threads: int | None) -> None:
        self.backend = backend
        self.threads = threads
        self._watch = _FallbackWatcher()
        self._limits = None
        self._logger = logging.getLogger("sklearnex")
        self._old_level = self._logger.level
        self._old_propagate = self._logger.propagate
        self._quieted: list[tuple[logging.Handler, int]] = []

    def __enter__(self) -> BackendRun:
        from threadpoolctl import threadpool_limits

        if self.threads:
            self._limits = threadpool_limits(limits=self.threads)
            if self.backend == "onedal":
                import daal4py

                daal4py.daalinit(self.threads)
        if self.backend == "onedal":
            self._logger.addHandler(self._watch)
            self._logger.setLevel(logging.INFO)
            self._logger.propagate = False  # watched, not printed
            for h in self._logger.handlers:  # scikit-learn-intelex's own stderr handler
                if h is not self._watch and h.level < logging.WARNING:
                    self._quieted.append((h, h.level))
                    h.setLevel(logging.WARNING)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._limits is not None:
            self._limits.restore_original_limits()
        if self.backend == "onedal":
            self._logger.removeHandler(self._watch)
            self._logger.setLevel(self._old_level)
            self._logger.propagate = self._old_propagate
            for h, level in self._quieted:
                h.setLevel(level)
            self._quieted.clear()

    @property
    def ran(self) -> str:
        """What actually ran: the backend, or 'onedal->sklearn' when oneDAL fell back."""
        if self.backend == "onedal" and self._watch.fell_back:
            return "onedal->sklearn"
        return self.backend

    def effective_threads(self) -> int:
        """Threads the backend used: oneDAL's own pool, else the largest native pool."""
        if self.backend == "onedal":
            import daal4py

            return int(daal4py.num_threads())
        from threadpoolctl import threadpool_info

        info = threadpool_info()
        return max((int(i["num_threads"]) for i in info), default=1)
