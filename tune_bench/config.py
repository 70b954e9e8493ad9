"""Trial configurations: the keys a trainer understands, their types and allowed values.

`validate_value` is the single place where a value is checked; the trainers' dataclasses, the
search-space files and the command line all go through it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tune_bench.errors import ConfigError

DATASETS = ("mnist", "fashion_mnist")
MODELS = ("resnet18", "resnet34", "resnet50")
OPTIMIZERS = ("sgd", "adam")
KERNELS = ("poly", "rbf")
DEVICES = ("cpu", "gpu")
SPLITS = ("seeds", "official")
LOADERS = ("tensor", "dataloader")
# torch.compile modes; "reduce-overhead" records CUDA graphs of the step on a GPU (on a CPU it is
# the default mode).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
SVM_BACKENDS = ("auto", "sklearn", "onedal", "cuml")
SVM_PREDICT = ("auto", "gemm", "backend")
TRAINERS = ("resnet", "svm")


def _choice(options: tuple[str, ...]):
    def check(v: Any) -> str | None:
        if isinstance(v, str) and v in options:
            return None
        return f"must be one of {', '.join(options)} (got {v!r})"

    return check


def _int(lo: int, allow_none: bool = False):
    def check(v: Any) -> str | None:
        if v is None and allow_none:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            return f"must be an integer (got {v!r})"
        if v < lo:
            return f"must be >= {lo} (got {v})"
        return None

    return check


def _positive_float(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"must be a number (got {v!r})"
    if not v > 0 or v != v or v == float("inf"):
        return f"must be > 0 (got {v})"
    return None


def _float(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"must be a number (got {v!r})"
    return None


def _bool(allow_none: bool = False):
    def check(v: Any) -> str | None:
        if v is None and allow_none:
            return None
        if not isinstance(v, bool):
            return f"must be true or false (got {v!r})"
        return None

    return check


def _compile(v: Any) -> str | None:
    if isinstance(v, bool) or v in COMPILE_MODES:
        return None
    return f"must be true, false or a torch.compile mode ({', '.join(COMPILE_MODES)}) (got {v!r})"


def _gamma(v: Any) -> str | None:
    if v == "scale" or v == "auto":
        return None
    err = _positive_float(v)
    return None if err is None else f"must be 'scale', 'auto' or a number > 0 (got {v!r})"


# key -> (validator, trainers that accept it)
_COMMON = {
    "trainer": _choice(TRAINERS),
    "dataset": _choice(DATASETS),
    "seed": _int(0),
    "split": _choice(SPLITS),
    "n_train": _int(10, allow_none=True),
    "device": _choice(DEVICES),
}
_RESNET = {
    "model": _choice(MODELS),
    "batch_size": _int(1),
    "optimizer": _choice(OPTIMIZERS),
    "lr": _positive_float,
    "epochs": _int(1),
    "pin_memory": _bool(),
    "num_workers": _int(0),
    "amp": _bool(allow_none=True),
    "loader": _choice(LOADERS),
    "n_eval": _int(10, allow_none=True),
    "momentum": _float,
    "compile": _compile,
}
_SVM = {
    "kernel": _choice(KERNELS),
    "C": _positive_float,
    "gamma": _gamma,
    "degree": _int(1),
    "coef0": _float,
    "backend": _choice(SVM_BACKENDS),
    "predict": _choice(SVM_PREDICT),
    "n_test": _int(10, allow_none=True),
    "n_train_eval": _int(10, allow_none=True),
}
KEYS: dict[str, dict[str, Any]] = {
    "resnet": {**_COMMON, **_RESNET},
    "svm": {**_COMMON, **_SVM},
}


def validate_value(trainer: str, key: str, value: Any, where: str = "") -> None:
    """Raise ConfigError naming `where`/`key` if `value` is not valid for `trainer`."""
    prefix = f"{where}: " if where else ""
    if trainer not in KEYS:
        allowed = ", ".join(TRAINERS)
        raise ConfigError(f"{prefix}trainer: must be one of {allowed} (got {trainer!r})")
    checks = KEYS[trainer]
    if key not in checks:
        raise ConfigError(
            f"{prefix}{key}: unknown key for the {trainer} trainer "
            f"(known: {', '.join(sorted(checks))})"
        )
    err = checks[key](value)
    if err:
        raise ConfigError(f"{prefix}{key}: {err}")


@dataclass(frozen=True)
class ResNetConfig:
    """One ResNet training run (see docs/architecture.md for the keys)."""

    model: str = "resnet18"
    dataset: str = "mnist"
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    epochs: int = 2
    pin_memory: bool = False
    num_workers: int = 0
    device: str = "cpu"
    amp: bool | None = None
    seed: int = 0
    n_train: int | None = None
    n_eval: int | None = None
    split: str = "seeds"
    loader: str = "tensor"
    momentum: float = 0.9
    compile: bool | str = False  # or a torch.compile mode, e.g. "reduce-overhead" (CUDA graphs)
    trainer: str = "resnet"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            validate_value("resnet", f.name, getattr(self, f.name))
        if self.trainer != "resnet":
            raise ConfigError(f"trainer: must be 'resnet' for a ResNet run (got {self.trainer!r})")

    @property
    def use_amp(self) -> bool:
        return self.device == "gpu" if self.amp is None else self.amp

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "") -> ResNetConfig:
        """Build from a trial config, ignoring keys of the other trainer; errors name the key."""
        return cls(**_known(cls, "resnet", d, where))


@dataclass(frozen=True)
class SVMConfig:
    """One SVM run (see docs/architecture.md for the keys)."""

    dataset: str = "fashion_mnist"
    kernel: str = "rbf"
    C: float = 1.0
    gamma: str | float = "scale"
    degree: int = 3
    coef0: float = 0.0
    n_train: int | None = 10_000
    n_test: int | None = None
    n_train_eval: int | None = 2_000  # train accuracy on this stratified sample; None = all
    seed: int = 0
    split: str = "seeds"
    device: str = "cpu"
    backend: str = "auto"
    predict: str = "auto"  # gemm: one shared kernel matrix product; backend: the SVC's own
    trainer: str = "svm"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            validate_value("svm", f.name, getattr(self, f.name))
        if self.trainer != "svm":
            raise ConfigError(f"trainer: must be 'svm' for an SVM run (got {self.trainer!r})")

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "") -> SVMConfig:
        """Build from a trial config, ignoring keys of the other trainer; errors name the key."""
        return cls(**_known(cls, "svm", d, where))


# Keys that belong to the sweep layer, not to a trainer; from_dict ignores them.
SWEEP_KEYS = frozenset({"resources", "cpus", "gpus", "cpus_per_trial", "gpus_per_trial"})


def _known(cls: type, trainer: str, d: dict[str, Any], where: str) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    other = set().union(*KEYS.values()) | SWEEP_KEYS
    out = {}
    for k, v in d.items():
        if k in names:
            validate_value(trainer, k, v, where)
            out[k] = v
        elif k not in other:
            validate_value(trainer, k, v, where)  # raises: unknown key
    return out
