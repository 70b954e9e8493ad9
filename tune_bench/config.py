"""Trial configurations: the keys a trainer understands, their types and allowed values.

`ResNetConfig` and `SVMConfig` are pydantic models (strict types, unknown keys refused, frozen):
the one place where a trial value is checked. The search-space files (`tune_bench.space`) and
the command line (`tune-bench train`, `sweep --set`: `check_overrides`) validate through them;
`message` words pydantic's errors as the project's one-line messages ('must be > 0 (got 0)').
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WrapValidator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from typing_extensions import Self

from tune_bench.datasets import NAMES, check_name
from tune_bench.errors import ConfigError
from tune_bench.plugins import BUILTIN

BuiltinModel = Literal["resnet18", "resnet34", "resnet50"]
Optimizer = Literal["sgd", "adam"]
Kernel = Literal["poly", "rbf"]
Device = Literal["cpu", "gpu"]
Split = Literal["seeds", "official"]
Loader = Literal["tensor", "dataloader"]
# torch.compile modes; "reduce-overhead" records CUDA graphs of the step on a GPU (on a CPU it is
# the default mode).
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
SvmBackend = Literal["auto", "sklearn", "onedal", "cuml"]
SvmPredict = Literal["auto", "gemm", "backend"]

DATASETS: tuple[str, ...] = NAMES  # the catalog's (tune_bench.datasets)
MODELS: tuple[str, ...] = get_args(BuiltinModel)
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
KERNELS: tuple[str, ...] = get_args(Kernel)
DEVICES: tuple[str, ...] = get_args(Device)
SPLITS: tuple[str, ...] = get_args(Split)
LOADERS: tuple[str, ...] = get_args(Loader)
COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)
SVM_BACKENDS: tuple[str, ...] = get_args(SvmBackend)
SVM_PREDICT: tuple[str, ...] = get_args(SvmPredict)
TRAINERS: tuple[str, ...] = tuple(BUILTIN)  # the built-in ones; plug-ins: tune_bench.plugins


def says(text: str) -> WrapValidator:
    """Annotate a type so that any error of its value reads `text (got <value>)`."""

    def wrap(value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("value", "{text} (got {got})",
                                      {"text": text, "got": repr(value)}) from None

    return WrapValidator(wrap)




def _model(name: str) -> str:
    """A built-in model, any torchvision classification builder that trains on 3x32x32 input
    (`models.check_torchvision`), or a factory `module:function` (built once here: it must
    return an nn.Module)."""
    if name in MODELS:
        return name
    from tune_bench import models

    try:
        if ":" not in name:
            return models.check_torchvision(name)
        models.build_factory(name)
    except ConfigError as e:
        text = str(e)
        if text.startswith(f"model {name}: "):
            text = text.partition(": ")[2]
        raise PydanticCustomError("value", "{text}", {"text": text}) from None
    return name


# a torchvision builder by name (resnet18, mobilenet_v3_small, ...) or a user's factory
# (`my_module:build`)
Model = Annotated[str, AfterValidator(_model)]
# a catalog name or a user's loader module:function
Dataset = Annotated[str, AfterValidator(check_name), says(
    f"must be one of {', '.join(NAMES)} or a loader module:function")]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Gamma = Annotated[Literal["scale", "auto"] | PositiveFloat,
                  says("must be 'scale', 'auto' or a number > 0")]
Compile = Annotated[bool | CompileMode, says(
    f"must be true, false or a torch.compile mode ({', '.join(COMPILE_MODES)})")]
AtLeast1 = Annotated[int, Field(ge=1)]
AtLeast0 = Annotated[int, Field(ge=0)]
Subset = Annotated[int, Field(ge=10)] | None  # a number of images; None = all


def _quoted(values: str) -> str:
    """pydantic's "'a', 'b' or 'c'" -> 'a, b, c'."""
    return ", ".join(re.findall(r"'([^']*)'", values)) or values


def _bound(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def message(err: ErrorDetails) -> str:
    """One pydantic error in the project's wording: 'must be > 0 (got 0)'."""
    kind, got, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return f"must be an integer (got {got!r})"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number (got {got!r})"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {got!r})"
    if kind == "greater_than":
        return f"must be > {_bound(ctx['gt'])} (got {got})"
    if kind == "greater_than_equal":
        return f"must be >= {_bound(ctx['ge'])} (got {got})"
    if kind == "finite_number":
        return f"must be a finite number (got {got})"
    if kind == "literal_error":
        options = _quoted(str(ctx.get("expected", "")))
        if "," not in options:
            return f"must be {options!r} (got {got!r})"
        return f"must be one of {options} (got {got!r})"
    msg = err["msg"]  # our own PydanticCustomError messages, or pydantic's "Input should ..."
    return msg[:1].lower() + msg[1:] if msg.startswith("Input ") else msg


class TrialValueError(ConfigError):
    """A refused trial value; `key` and `reason` apart, so callers can say where it was written."""

    def __init__(self, key: str, reason: str, unknown_key: bool = False) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason
        self.unknown_key = unknown_key


def unknown_key(key: str, trainers: list[str]) -> TrialValueError:
    """'unknown key for the svm trainer (known: ...); did you mean C?'."""
    known = sorted({k for t in trainers for k in trainer_keys(t) or ()})
    near = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {near[0]}?" if near else ""
    whose = f"the {trainers[0]} trainer" if len(trainers) == 1 else \
        f"the {' and '.join(trainers)} trainers"
    return TrialValueError(key, f"unknown key for {whose} (known: {', '.join(known)}){hint}",
                           unknown_key=True)


class _Trial(BaseModel):
    """Common behaviour of the trial configs: strict, frozen, errors as TrialValueError."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    trainer_name: ClassVar[str]

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise self.config_error(e, list(values)) from None

    @classmethod
    def config_error(cls, e: ValidationError, order: list[str]) -> TrialValueError:
        """The error of the earliest key in `order` (as written) as 'key: message'."""
        return refusal(e, order, cls.trainer_name)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Build from a trial config, ignoring the other trainer's keys and the sweep layer's."""
        other = {k for model in TRIAL_MODELS.values() for k in model.model_fields} | SWEEP_KEYS
        return cls(**{k: v for k, v in d.items() if k in cls.model_fields or k not in other})


class ResNetConfig(_Trial):
    """One ResNet training run (see docs/architecture.md for the keys)."""

    trainer_name: ClassVar[str] = "resnet"

    model: Model = "resnet18"
    dataset: Dataset = "mnist"
    batch_size: AtLeast1 = 32
    optimizer: Optimizer = "adam"
    lr: PositiveFloat = 1e-3
    epochs: AtLeast1 = 2
    pin_memory: bool = False
    num_workers: AtLeast0 = 0
    device: Device = "cpu"
    amp: bool | None = None
    seed: AtLeast0 = 0
    n_train: Subset = None
    n_eval: Subset = None
    split: Split = "seeds"
    loader: Loader = "tensor"
    momentum: float = 0.9
    compile: Compile = False  # or a torch.compile mode, e.g. "reduce-overhead" (CUDA graphs)
    trainer: Literal["resnet"] = "resnet"

    @property
    def use_amp(self) -> bool:
        return self.device == "gpu" if self.amp is None else self.amp


class SVMConfig(_Trial):
    """One SVM run (see docs/architecture.md for the keys)."""

    trainer_name: ClassVar[str] = "svm"

    dataset: Dataset = "fashion_mnist"
    kernel: Kernel = "rbf"
    C: PositiveFloat = 1.0
    gamma: Gamma = "scale"
    degree: AtLeast1 = 3
    coef0: float = 0.0
    n_train: Subset = 10_000
    n_test: Subset = None
    n_train_eval: Subset = 2_000  # train accuracy on this stratified sample; None = all
    seed: AtLeast0 = 0
    split: Split = "seeds"
    device: Device = "cpu"
    backend: SvmBackend = "auto"
    predict: SvmPredict = "auto"  # gemm: one shared kernel matrix product; backend: the SVC's own
    trainer: Literal["svm"] = "svm"


def refusal(e: ValidationError, order: list[str], trainer: str) -> TrialValueError:
    """The error of the earliest key in `order` (as written) as 'key: message'."""
    def position(err: ErrorDetails) -> int:
        key = err["loc"][0] if err["loc"] else "trainer"
        return order.index(key) if key in order else len(order)

    err = min(e.errors(), key=position)
    key = str(err["loc"][0]) if err["loc"] else "trainer"
    if err["type"] == "extra_forbidden":
        return unknown_key(key, [trainer])
    return TrialValueError(key, message(err))


# The built-in trainers' config models (the trainer catalog, `tune_bench.plugins`, names them).
TRIAL_MODELS: dict[str, type[_Trial]] = {"resnet": ResNetConfig, "svm": SVMConfig}
# The keys each trainer understands, in the models' order.
KEYS: dict[str, tuple[str, ...]] = {t: tuple(m.model_fields) for t, m in TRIAL_MODELS.items()}
# Keys that belong to the sweep layer, not to a trainer; from_dict ignores them.
SWEEP_KEYS = frozenset({"resources", "cpus_per_trial", "gpus_per_trial"})


def trainer_model(trainer: str) -> type[BaseModel] | None:
    """The config model of `trainer` (from the trainer catalog; None: it declares none)."""
    if trainer in TRIAL_MODELS:
        return TRIAL_MODELS[trainer]
    from tune_bench.plugins import resolve

    try:
        return resolve(trainer).config
    except ConfigError as e:
        raise TrialValueError("trainer", str(e).partition(": ")[2] or str(e)) from None


def trainer_keys(trainer: str) -> tuple[str, ...] | None:
    """The keys `trainer` understands (`trainer` included); None when it takes any key."""
    if trainer in KEYS:
        return KEYS[trainer]
    model = trainer_model(trainer)
    return None if model is None else ("trainer", *model.model_fields)


def trial_defaults(trainer: str) -> dict[str, Any]:
    """Every key of `trainer`'s config with its default, `trainer` first."""
    model = trainer_model(trainer)
    out: dict[str, Any] = {"trainer": trainer}
    if model is not None:
        out.update({k: f.get_default(call_default_factory=True)
                    for k, f in model.model_fields.items()
                    if k != "trainer" and not f.is_required()})
    return out


def validate_trial(trainer: str, values: dict[str, Any]) -> BaseModel | dict[str, Any]:
    """`trainer`'s config from `values` (unknown keys refused); raises TrialValueError.

    A plug-in trainer without a config model takes any key: its values come back as a dict.
    """
    if trainer in TRIAL_MODELS:
        return TRIAL_MODELS[trainer](**{"trainer": trainer, **values})
    model = trainer_model(trainer)
    values = {k: v for k, v in values.items() if k != "trainer" and k not in SWEEP_KEYS}
    if model is None:
        return {"trainer": trainer, **values}
    known = set(model.model_fields)
    for key in values:
        if key not in known:
            raise unknown_key(key, [trainer])
    try:
        return model(**values)
    except ValidationError as e:
        raise refusal(e, list(values), trainer) from None


def check_overrides(values: dict[str, Any], trainers: Iterable[str]) -> None:
    """Command-line values (`train --lr 0.1`, `sweep --set lr=0.1`): each checked by every
    trainer of `trainers` that has the key; a key none of them has is refused."""
    used = sorted(set(trainers))
    for key, value in values.items():
        if key == "trainer":
            raise TrialValueError(key, "the trainer cannot be overridden")
        knowing = [t for t in used if key in (trainer_keys(t) or (key,))]
        if not knowing:
            raise unknown_key(key, used)
        for trainer in knowing:
            validate_trial(trainer, {key: value})



def _allowed(prop: dict[str, Any]) -> str:
    """A JSON-schema property as the values it allows, e.g. 'sgd|adam', 'int >= 1'."""
    if "anyOf" in prop:
        return " or ".join(_allowed(p) for p in prop["anyOf"])
    if "enum" in prop:
        return ", ".join(map(str, prop["enum"]))
    kind = {"integer": "int", "number": "number", "boolean": "true, false",
            "null": "null"}.get(prop.get("type", ""), prop.get("type", "any"))
    if "minimum" in prop:
        return f"{kind} >= {prop['minimum']}"
    if "exclusiveMinimum" in prop:
        return f"{kind} > {prop['exclusiveMinimum']}"
    return kind


def key_help(trainer: str) -> list[tuple[str, str, str]]:
    """(key, default, allowed values) of every key of `trainer`'s config but `trainer`, from
    the pydantic model: what `train --help` lists."""
    model = trainer_model(trainer)
    props = model.model_json_schema()["properties"] if model is not None else {}
    out = []
    for key, prop in props.items():
        if key == "trainer":
            continue
        default = prop.get("default")
        shown = "null" if default is None else str(default).lower() \
            if isinstance(default, bool) else str(default)
        allowed = _allowed(prop)
        if key in NULL_MEANS:
            allowed = allowed.replace("null", f"null ({NULL_MEANS[key]})")
        out.append((key, shown, allowed))
    return out


# What null means for the keys that take it (in `train --help`).
NULL_MEANS = {"amp": "on for gpu, off for cpu", "n_train": "all", "n_eval": "all",
              "n_test": "all", "n_train_eval": "all"}
