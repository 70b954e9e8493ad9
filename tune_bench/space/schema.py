"""The search-space file as pydantic models: its keys, their types and the rules between them.

`read_space` validates loaded YAML against `SpaceFile` and raises the project's one-line
`ConfigError` (``FILE: blocks[1].axes.C[0]: message``) for the first problem. Trial values
(`fixed`, the axes' values) are kept as written here: `expand.py` checks them against the
trial schema of `tune_bench.config` once it knows each trial's trainer.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tune_bench.config import message, says
from tune_bench.errors import ConfigError

GRID_KINDS = ("grid",)
RANDOM_KINDS = ("choice", "uniform", "loguniform", "randint")
AXIS_KINDS = GRID_KINDS + RANDOM_KINDS
DEVICE_RESOURCES = ("cpu", "gpu")
DEFAULT_RESOURCES: dict[str, dict[str, float]] = {"cpu": {"cpu": 1}, "gpu": {"cpu": 1, "gpu": 0.25}}
OVERRIDE_RESOURCE_KEYS = ("cpus_per_trial", "gpus_per_trial")
# Keys that cannot be random axes: they pick the trainer and the resources of a trial.
NOT_RANDOM = ("trainer", "device")
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_NUMBER_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
Loc = tuple[str | int, ...]


# --------------------------------------------------------------------------- errors


def fail(loc: Loc, text: str, value: Any = None) -> ValidationError:
    """An error at `loc` (relative to the value being validated) reading `text`."""
    error = PydanticCustomError("space", "{text}", {"text": text})
    return ValidationError.from_exception_data("space", [{"type": error, "loc": loc,
                                                          "input": value}])


def where(loc: Loc) -> str:
    """('blocks', 1, 'axes', 'C', 0) -> 'blocks[1].axes.C[0]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def one_line(msg: str) -> str:
    return " ".join(msg.split("\n")).replace("\r", " ")


def config_error(source: str, path: str, text: str) -> ConfigError:
    """The one-line ``FILE: path: text`` error."""
    return ConfigError(one_line(f"{source}: {path}: {text}" if path else f"{source}: {text}"))


def yaml_text_hint(v: Any) -> str:
    """A note for a number that YAML 1.1 read as text (`1e-3`)."""
    if isinstance(v, str) and _NUMBER_RE.fullmatch(v.strip()):
        return f" (YAML reads {v} as text: write it with a dot, e.g. 1.0e-3, or as 0.001)"
    return ""


def type_name(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), "null" if v is None else type(v).__name__
    )


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def value_key(v: Any) -> str:
    """A hashable identity of a YAML value (for duplicates)."""
    return json.dumps(v, sort_keys=True, default=repr)


def mapping(v: Any) -> dict:
    """A YAML mapping with text keys; null reads as an empty one."""
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise fail((), f"must be a mapping (got {type_name(v)})", v)
    for k in v:
        if not isinstance(k, str):
            raise fail((), f"keys must be strings (got {k!r})", v)
    return v


# --------------------------------------------------------------------------- axes


@dataclass(frozen=True)
class Axis:
    """One axis as written: `kind` (grid|choice|uniform|loguniform|randint) and its values
    (grid/choice options, or the bounds [lo, hi]); `form` is '' for a plain list, else the
    kind written as a key (`{grid: [...]}`), so the path of value i is `axis[i]` or
    `axis.grid[i]`."""

    kind: str
    values: tuple
    form: str

    @property
    def is_random(self) -> bool:
        return self.kind in RANDOM_KINDS

    def path(self, axis_path: str, i: int | None = None) -> str:
        """The file location of the axis values (or of value `i`)."""
        base = f"{axis_path}.{self.form}" if self.form else axis_path
        return base if i is None else f"{base}[{i}]"


def _values(v: Any, loc: Loc) -> tuple:
    """Grid or choice values: a non-empty list without repeats."""
    if not isinstance(v, list):
        raise fail(loc, f"must be a list of values (got {type_name(v)})", v)
    if not v:
        raise fail(loc, "empty list: give at least one value", v)
    seen: set[str] = set()
    for i, x in enumerate(v):
        k = value_key([type(x).__name__, x])
        if k in seen:
            raise fail((*loc, i), f"duplicate value {x!r}", x)
        seen.add(k)
    return tuple(v)


def _bounds(kind: str, v: Any, loc: Loc) -> tuple:
    """[lo, hi] of a uniform, loguniform or randint axis."""
    if not isinstance(v, list) or len(v) != 2:
        raise fail(loc, f"must be a list [lo, hi] (got {v!r})", v)
    number, what = (is_int, "an integer") if kind == "randint" else (is_number, "a number")
    for i, x in enumerate(v):
        if not number(x):
            raise fail((*loc, i), f"must be {what} (got {x!r}){yaml_text_hint(x)}", x)
    lo, hi = v
    if kind == "loguniform" and lo <= 0:
        raise fail((*loc, 0), f"must be > 0 for loguniform (got {lo})", lo)
    if not lo < hi:
        raise fail(loc, f"lo must be < hi (got [{lo}, {hi}])", v)
    return lo, hi


def _axis(key: str, spec: Any, top: bool) -> Axis:
    if isinstance(spec, list):
        return Axis("grid", _values(spec, (key,)), "")
    forms = ", ".join(f"{{{k}: [...]}}" for k in AXIS_KINDS)
    if not isinstance(spec, dict):
        raise fail((key,), f"must be a list or one of {forms} (got {spec!r}); "
                   "put single values in fixed", spec)
    if len(spec) != 1 or next(iter(spec)) not in AXIS_KINDS:
        got = ", ".join(str(k) for k in spec) or "an empty mapping"
        raise fail((key,), f"must have exactly one of {', '.join(AXIS_KINDS)} (got {got})", spec)
    kind, values = next(iter(spec.items()))
    if kind in RANDOM_KINDS and not top:
        raise fail((key,), f"random axes ({kind}) are allowed only in the top-level axes", spec)
    if kind in RANDOM_KINDS and key in NOT_RANDOM:
        raise fail((key,), f"{key} cannot be a random axis: use a grid or a fixed value", spec)
    if kind in ("grid", "choice"):
        return Axis(kind, _values(values, (key, kind)), kind)
    return Axis(kind, _bounds(kind, values, (key, kind)), kind)


def _axes(v: Any) -> dict[str, Axis]:
    return {key: _axis(key, spec, top=True) for key, spec in mapping(v).items()}


def _block_axes(v: Any) -> dict[str, Axis]:
    return {key: _axis(key, spec, top=False) for key, spec in mapping(v).items()}


Axes = Annotated[dict[str, Axis], PlainValidator(_axes)]
GridAxes = Annotated[dict[str, Axis], PlainValidator(_block_axes)]  # no random axes
Fixed = Annotated[dict[str, Any], PlainValidator(mapping)]


# --------------------------------------------------------------------------- sections


class _Section(BaseModel):
    """A mapping of the file: strict types, and unknown keys named with `unknown` (e.g.
    'unknown block key (allowed: fixed, axes)')."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    unknown: ClassVar[str] = "key"

    @classmethod
    def allowed(cls, data: dict) -> tuple[str, ...]:
        """The keys `data` may have."""
        return tuple(cls.model_fields)

    @classmethod
    def what(cls, data: dict) -> str:
        """What a key of `data` is, for 'unknown ...'."""
        return cls.unknown

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> dict:
        data = mapping(data)
        allowed = cls.allowed(data)
        for k, v in data.items():
            if k not in allowed:
                raise fail((k,), f"unknown {cls.what(data)} (allowed: {', '.join(allowed)})", v)
        return data


def _amount(k: str) -> PlainValidator:
    """A resource amount: a number >= 0; cpu > 0; gpu a fraction <= 1 or whole GPUs."""

    def check(amount: Any) -> float:
        if not is_number(amount) or amount < 0:
            raise fail((), f"must be a number >= 0 (got {amount!r})", amount)
        if k == "cpu" and amount <= 0:
            raise fail((), f"must be > 0 (got {amount})", amount)
        if k == "gpu" and amount > 1 and amount != int(amount):
            raise fail((), f"must be a fraction <= 1 or a whole number (got {amount})", amount)
        return amount

    return PlainValidator(check)


class DeviceResources(_Section):
    """What one trial of a device reserves; keys left out keep their defaults."""

    unknown: ClassVar[str] = "resource"
    cpu: Annotated[float, _amount("cpu")] = 1
    gpu: Annotated[float, _amount("gpu")] = 0


class Resources(_Section):
    """Per-trial resources by the trial's `device`."""

    unknown: ClassVar[str] = "device"
    cpu: DeviceResources = DeviceResources()
    gpu: DeviceResources = DeviceResources()

    def by_device(self) -> dict[str, dict[str, float]]:
        """{device: {resource: amount}}: the defaults, updated with the keys given."""
        return {dev: {**DEFAULT_RESOURCES[dev], **getattr(self, dev).model_dump(exclude_unset=True)}
                for dev in DEVICE_RESOURCES}

    @model_validator(mode="after")
    def _gpus_match_device(self) -> Resources:
        res = self.by_device()
        if res["gpu"].get("gpu", 0) <= 0:
            raise fail(("gpu", "gpu"), "gpu trials need gpu > 0")
        if res["cpu"].get("gpu", 0) > 0:
            gpus = res["cpu"]["gpu"]
            raise fail(("cpu", "gpu"), f"cpu trials must not reserve GPUs (got {gpus})")
        return self


Count = Annotated[int, Field(ge=1), says("must be an integer >= 1")]


def _factor(v: Any) -> float:
    if not is_number(v) or v <= 1:
        raise fail((), f"must be a number > 1 (got {v!r})", v)
    return v


class Scheduler(_Section):
    """fifo (no other keys) or asha; asha's max_t defaults to the most epochs of the space."""

    type: Annotated[Literal["fifo", "asha"], says("must be one of fifo, asha")] = "fifo"
    max_t: Count = None  # type: ignore[assignment]  # None: decided by expand
    grace_period: Count = 1
    reduction_factor: Annotated[float, PlainValidator(_factor)] = 4

    @classmethod
    def allowed(cls, data: dict) -> tuple[str, ...]:
        kind = data.get("type", "fifo")
        if kind not in ("fifo", "asha"):
            return tuple(data)  # the type is the error to report
        return ("type",) if kind == "fifo" else tuple(cls.model_fields)

    @classmethod
    def what(cls, data: dict) -> str:
        return f"key for the {data.get('type', 'fifo')} scheduler"

    def to_dict(self) -> dict[str, Any]:
        if self.type == "fifo":
            return {"type": "fifo"}
        return {"type": "asha", "max_t": self.max_t, "grace_period": self.grace_period,
                "reduction_factor": self.reduction_factor}


class Search(_Section):
    """basic (Tune's variant generator) or optuna."""

    unknown: ClassVar[str] = "search key"
    type: Annotated[Literal["basic", "optuna"], says("must be one of basic, optuna")] = "basic"

    @classmethod
    def allowed(cls, data: dict) -> tuple[str, ...]:
        if data.get("type", "basic") not in ("basic", "optuna"):
            return tuple(data)  # the type is the error to report
        return tuple(cls.model_fields)


class Block(_Section):
    """One sub-grid: its own fixed values and grid axes."""

    unknown: ClassVar[str] = "block key"
    fixed: Fixed = {}
    axes: GridAxes = {}


def _name(v: Any) -> str:
    if v is None:
        raise fail((), "required: the default experiment name ([A-Za-z0-9_.-]+)")
    if not isinstance(v, str) or not _NAME_RE.fullmatch(v) or set(v) == {"."}:
        raise fail((), f"must be letters, digits, '_', '.' or '-' only, not all dots (got {v!r})")
    return v


def _description(v: Any) -> str:
    if v is None:
        return ""
    if not isinstance(v, str):
        raise fail((), f"must be text (got {type_name(v)})", v)
    return v.strip()


def _metric(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise fail((), f"must be a non-empty metric name (got {v!r})", v)
    return v.strip()


def _blocks(v: Any) -> list | None:
    if v is None:
        return None
    if not isinstance(v, list):
        raise fail((), f"must be a list of blocks (got {type_name(v)})", v)
    if not v:
        raise fail((), "empty list: give at least one block or leave blocks out", v)
    return v


# --------------------------------------------------------------------------- claims

CLAIM_KINDS = ("better", "same", "robust", "increases")
DERIVED = ("macs", "flops", "params")  # per-model quantities a trend may be over


@dataclass(frozen=True)
class ClaimTest:
    """What a claim asserts: `better` (level `a` of `factor` beats `b`), `same` (no level of
    `factor` differs by more than `margin`), `robust` (the metric moves less across the
    levels of `across` at `a` than at `b`), `increases` (`y` rises with `x`)."""

    kind: str
    factor: str = ""
    a: Any = None
    b: Any = None
    across: str = ""
    margin: float = math.nan
    y: str = ""
    x: str = ""


def _one_factor(v: Any, extra: tuple[str, ...]) -> tuple[str, Any]:
    """`{factor: level, than: other, ...}` -> (factor, level); `than` and `extra` required."""
    v = mapping(v)
    for k in ("than", *extra):
        if k not in v:
            raise fail((), f"needs '{k}' (e.g. {{model: resnet18, than: resnet50}})", v)
    rest = [k for k in v if k not in ("than", *extra)]
    if len(rest) != 1:
        besides = ", ".join(("than", *extra))
        raise fail((), f"must name exactly one factor and its level besides {besides} "
                   f"(got {', '.join(rest) or 'none'})", v)
    return rest[0], v[rest[0]]


def _better(v: Any) -> ClaimTest:
    f, a = _one_factor(v, ())
    return ClaimTest("better", f, a, v["than"])


def _robust(v: Any) -> ClaimTest:
    f, a = _one_factor(v, ("across",))
    if not isinstance(v["across"], str):
        raise fail(("across",), f"must be a factor name (got {v['across']!r})", v["across"])
    return ClaimTest("robust", f, a, v["than"], across=v["across"])


def _same(v: Any) -> ClaimTest:
    v = mapping(v)
    unknown = [k for k in v if k not in ("factor", "within")]
    if unknown:
        raise fail((unknown[0],), "unknown key (allowed: factor, within)", v)
    if not isinstance(v.get("factor"), str):
        raise fail(("factor",), f"must be a factor name (got {v.get('factor')!r})", v)
    m = v.get("within")
    if not is_number(m) or m <= 0:
        raise fail(("within",), f"must be a margin > 0 in the metric's units (got {m!r})"
                   f"{yaml_text_hint(m)}", m)
    return ClaimTest("same", v["factor"], margin=float(m))


def _increases(v: Any) -> ClaimTest:
    v = mapping(v)
    for k in v:
        if k not in ("y", "with"):
            raise fail((k,), "unknown key (allowed: y, with)", v)
    for k in ("y", "with"):
        if not isinstance(v.get(k), str) or not v[k].strip():
            raise fail((k,), f"must be a name (got {v.get(k)!r})", v)
    return ClaimTest("increases", y=v["y"], x=v["with"])


def _text_of(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise fail((), f"must be non-empty text (got {v!r})", v)
    return v.strip()


class Claim(_Section):
    """One claim of the study: its words, where it comes from, what it asserts (exactly one of
    better, same, robust, increases) and the slice it is about (`where`)."""

    unknown: ClassVar[str] = "claim key"
    claim: Annotated[str, PlainValidator(_text_of)] = Field(None, validate_default=True)
    source: Annotated[str, PlainValidator(_description)] = ""
    where: Fixed = {}
    better: Annotated[ClaimTest, PlainValidator(_better)] | None = None
    same: Annotated[ClaimTest, PlainValidator(_same)] | None = None
    robust: Annotated[ClaimTest, PlainValidator(_robust)] | None = None
    increases: Annotated[ClaimTest, PlainValidator(_increases)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Claim:
        given = [k for k in CLAIM_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise fail((), f"must have exactly one of {', '.join(CLAIM_KINDS)} "
                       f"(got {', '.join(given) or 'none'})")
        return self

    @property
    def test(self) -> ClaimTest:
        """The assertion (the one kind given)."""
        return next(getattr(self, k) for k in CLAIM_KINDS if getattr(self, k) is not None)


class SpaceFile(_Section):
    """A whole search-space file (see docs/search_spaces.md)."""

    unknown: ClassVar[str] = "top-level key"
    name: Annotated[str, PlainValidator(_name)] = Field(None, validate_default=True)
    description: Annotated[str, PlainValidator(_description)] = ""
    metric: Annotated[str, PlainValidator(_metric)] = "test_acc"
    mode: Annotated[Literal["max", "min"], says("must be max or min")] = "max"
    num_samples: Count = 1
    fixed: Fixed = {}
    axes: Axes = {}
    blocks: list[Block] | None = None
    resources: Resources = Resources()
    scheduler: Scheduler = Scheduler()
    search: Search = Search()
    max_concurrent: Annotated[int, Field(ge=1), says("must be null or an integer >= 1")] | None \
        = None
    claims: list[Claim] | None = None

    @model_validator(mode="after")
    def _claims_in_space(self) -> SpaceFile:
        from tune_bench.space.claims import check_claims_in_space

        check_claims_in_space(self)
        return self

    @field_validator("blocks", mode="before")
    @classmethod
    def _block_list(cls, v: Any) -> list | None:
        return _blocks(v)

    @model_validator(mode="after")
    def _each_key_once(self) -> SpaceFile:
        self._not_also_fixed((), self.fixed, self.axes)
        top = {key: where(("axes", key)) for key in self.axes}
        for i, block in enumerate(self.blocks or []):
            self._not_also_fixed(("blocks", i), block.fixed, block.axes)
            for part, keys in (("fixed", block.fixed), ("axes", block.axes)):
                for key in keys:
                    if key in top:
                        raise fail(("blocks", i, part, key),
                                   f"{key} is already an axis in {top[key]}; set it once")
        return self

    @staticmethod
    def _not_also_fixed(loc: Loc, fixed: dict, axes: dict) -> None:
        for key in axes:
            if key in fixed:
                raise fail((*loc, "axes", key),
                           f"{key} is also in {where((*loc, 'fixed', key))}; set it once")

    @model_validator(mode="after")
    def _optuna_rules(self) -> SpaceFile:
        if self.search.type != "optuna":
            return self
        if self.blocks is not None:
            raise fail(("blocks",), "not allowed with search type optuna (one space only)")
        for key, axis in self.axes.items():
            if not axis.is_random:
                raise fail(("axes", key), "grid axes are not allowed with search type optuna: "
                           "use choice, uniform, loguniform or randint (or search type basic)")
        if not self.axes:
            raise fail(("axes",), "search type optuna needs at least one random axis")
        return self


# --------------------------------------------------------------------------- entry point


def _with_resource_overrides(data: dict, over: dict[str, Any]) -> tuple[dict, dict[Loc, str]]:
    """`data` with ``cpus_per_trial`` / ``gpus_per_trial`` written into its resources, and the
    locations that now hold an override (errors there name the override)."""
    cpus, gpus = over.get("cpus_per_trial"), over.get("gpus_per_trial")
    resources = data.get("resources", {}) if data.get("resources") is not None else {}
    if (cpus is None and gpus is None) or not isinstance(resources, dict):
        return data, {}
    resources, renamed = dict(resources), {}
    for dev in DEVICE_RESOURCES:
        res = resources.get(dev) if resources.get(dev) is not None else {}
        if not isinstance(res, dict):
            continue
        res = dict(res)
        if cpus is not None:
            res["cpu"], renamed[("resources", dev, "cpu")] = cpus, "overrides.cpus_per_trial"
        if gpus is not None and dev == "gpu":
            res["gpu"], renamed[("resources", dev, "gpu")] = gpus, "overrides.gpus_per_trial"
        resources[dev] = res
    return {**data, "resources": resources}, renamed


def read_space(data: Any, source: str, resource_overrides: dict[str, Any]) -> SpaceFile:
    """Validate loaded YAML; raise the one-line ConfigError for its first problem."""
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type_name(data)
        raise config_error(source, "", f"the top level must be a mapping of keys (got {got})")
    data, renamed = _with_resource_overrides(data, resource_overrides)
    try:
        return SpaceFile.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        raise config_error(source, renamed.get(loc) or where(loc), message(err)) from None
