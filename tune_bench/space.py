"""Search-space YAML files: parse, validate and expand into a neutral sweep description.

No Ray here: `SweepSpec` holds plain dicts (grid points, random axes, resources, scheduler and
search settings) that `sweep.py` turns into Tune's `param_space`, schedulers and searchers.
Every problem raises `ConfigError` with one line: ``FILE: key.path: message``.
See docs/search_spaces.md for the format.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tune_bench.config import KEYS, TRAINERS, ResNetConfig, SVMConfig
from tune_bench.config import validate_value as _validate_value
from tune_bench.errors import ConfigError

TOP_KEYS = (
    "name", "description", "metric", "mode", "num_samples", "fixed", "axes", "blocks",
    "resources", "scheduler", "search", "max_concurrent",
)  # fmt: skip
BLOCK_KEYS = ("fixed", "axes")
GRID_KINDS = ("grid",)
RANDOM_KINDS = ("choice", "uniform", "loguniform", "randint")
AXIS_KINDS = GRID_KINDS + RANDOM_KINDS
DEVICE_RESOURCES = ("cpu", "gpu")
RESOURCE_KEYS = ("cpu", "gpu")
DEFAULT_RESOURCES: dict[str, dict[str, float]] = {"cpu": {"cpu": 1}, "gpu": {"cpu": 1, "gpu": 0.25}}
SCHEDULERS = ("fifo", "asha")
ASHA_KEYS = ("max_t", "grace_period", "reduction_factor")
SEARCHERS = ("basic", "optuna")
OVERRIDE_RESOURCE_KEYS = ("cpus_per_trial", "gpus_per_trial")
# Keys that cannot be random axes: they pick the trainer and the resources of a trial.
NOT_RANDOM = ("trainer", "device")
# Metrics a ResNet trial reports every epoch (ASHA compares trials on them), plus Tune's own.
PER_EPOCH_METRICS = frozenset({
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s", "images_per_s",
    "train_time_ms", "training_iteration", "time_total_s", "time_this_iter_s",
})  # fmt: skip
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_NUMBER_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_TRAINER_CLASSES: dict[str, type] = {"resnet": ResNetConfig, "svm": SVMConfig}


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class RandomAxis:
    """A sampled axis: `kind` is choice|uniform|loguniform|randint.

    `args` holds the options for choice (call ``tune.choice(list(args))``), else ``(lo, hi)``
    (call ``getattr(tune, kind)(*args)``; randint's hi is exclusive, as in Tune).
    """

    kind: str
    args: tuple

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(repr(a) for a in self.args)})"

    def example(self) -> Any:
        """A value this axis can produce (the first option or the lower bound)."""
        return self.args[0] if self.kind != "uniform" else float(self.args[0])


@dataclass
class SweepSpec:
    """A validated, expanded search space (see docs/search_spaces.md)."""

    name: str
    description: str
    source: str
    metric: str
    mode: str
    num_samples: int
    points: list[dict] = field(default_factory=list)
    random_axes: dict[str, RandomAxis] = field(default_factory=dict)
    tune_num_samples: int = 1
    resources: dict[str, dict[str, float]] = field(default_factory=dict)
    scheduler: dict = field(default_factory=lambda: {"type": "fifo"})
    search: dict = field(default_factory=lambda: {"type": "basic"})
    max_concurrent: int | None = None

    @property
    def n_trials(self) -> int:
        """How many trials Tune will run."""
        return len(self.points) * self.tune_num_samples

    def resources_for(self, config: dict) -> dict[str, float]:
        """The per-trial resources for a trial config, by its `device`."""
        device = config.get("device", "cpu")
        if device not in self.resources:
            raise ConfigError(f"{self.source}: device: no resources for device {device!r}")
        return dict(self.resources[device])

    def to_dict(self) -> dict:
        """A JSON-serialisable copy, for recording with the experiment."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "metric": self.metric,
            "mode": self.mode,
            "num_samples": self.num_samples,
            "tune_num_samples": self.tune_num_samples,
            "n_trials": self.n_trials,
            "points": [dict(p) for p in self.points],
            "random_axes": {
                k: {"kind": a.kind, "args": list(a.args)} for k, a in self.random_axes.items()
            },
            "resources": {d: dict(r) for d, r in self.resources.items()},
            "scheduler": dict(self.scheduler),
            "search": dict(self.search),
            "max_concurrent": self.max_concurrent,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SweepSpec:
        """Inverse of `to_dict` (e.g. when resuming from a recorded spec)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs["random_axes"] = {
            k: RandomAxis(a["kind"], tuple(a["args"])) for k, a in d.get("random_axes", {}).items()
        }
        return cls(**kwargs)


def load_space(path: str | Path, overrides: dict | None = None) -> SweepSpec:
    """Read, validate and expand a search-space file; `overrides` as in `parse_space`."""
    src = str(path)
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{src}: no such search-space file")
    if p.is_dir():
        raise ConfigError(f"{src}: is a directory, not a search-space file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(_one_line(f"{src}: cannot read the file: {e}")) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_message(src, e)) from None
    return parse_space(data, src, overrides)


def parse_space(data: Any, source: str, overrides: dict | None = None) -> SweepSpec:
    """Validate and expand already-loaded YAML data.

    `overrides` are command-line fixed values applied last to every trial whose trainer has
    the key (an axis on an overridden key collapses); ``cpus_per_trial`` / ``gpus_per_trial``
    override the resources instead.
    """
    return _Parser(source).parse(data, dict(overrides or {}))


def describe_trials(spec: SweepSpec) -> list[dict]:
    """One row per grid point with its resources; random axes shown as e.g. 'choice(16, 32)'."""
    rows = []
    for point in spec.points:
        row = dict(point)
        row.update({k: str(a) for k, a in spec.random_axes.items()})
        row["resources"] = spec.resources_for(point)
        row["samples"] = spec.tune_num_samples
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- internals


@dataclass
class _Val:
    """A value from the file and where it was written."""

    value: Any
    path: str


@dataclass
class _Grid:
    """A grid axis: its key, the path of the axis and its values."""

    key: str
    path: str
    values: list[_Val]


@dataclass
class _Random:
    """A random axis, with the values to validate (options or bounds)."""

    key: str
    path: str
    axis: RandomAxis
    checks: list[_Val]


@dataclass
class _Block:
    """One sub-grid: its own fixed values and grid axes."""

    path: str
    fixed: dict[str, _Val]
    grid: list[_Grid]


def _one_line(msg: str) -> str:
    return " ".join(msg.split("\n")).replace("\r", " ")


def _yaml_message(src: str, e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "YAML"
    return _one_line(f"{src}: {where}: YAML syntax error: {problem}")


def _type_name(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), "null" if v is None else type(v).__name__
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _key(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=repr)


class _Parser:
    """Parses one search space; `fail` raises the one-line ConfigError."""

    def __init__(self, source: str) -> None:
        self.src = source

    def fail(self, path: str, msg: str) -> ConfigError:
        prefix = f"{self.src}: {path}: " if path else f"{self.src}: "
        return ConfigError(_one_line(prefix + msg))

    # ---------------------------------------------------------------- top level

    def parse(self, data: Any, overrides: dict[str, Any]) -> SweepSpec:
        if not isinstance(data, dict):
            got = "an empty file" if data is None else _type_name(data)
            raise self.fail("", f"the top level must be a mapping of keys (got {got})")
        self.check_keys(data, TOP_KEYS, "", "top-level key")
        name = self.parse_name(data.get("name"))
        description = self.parse_description(data.get("description"))
        metric, mode = self.parse_metric(data.get("metric", "test_acc"), data.get("mode", "max"))
        num_samples = self.parse_num_samples(data.get("num_samples", 1))
        max_concurrent = self.parse_max_concurrent(data.get("max_concurrent"))
        search = self.parse_search(data.get("search"))
        fixed = self.parse_fixed(data.get("fixed"), "fixed")
        grid, random = self.parse_axes(data.get("axes"), "axes", allow_random=True)
        self.check_same_level(fixed, grid, random)
        blocks = self.parse_blocks(data.get("blocks"), grid, random)
        if search["type"] == "optuna":
            self.check_optuna(data, grid, random)
        resource_over = {k: overrides.pop(k) for k in OVERRIDE_RESOURCE_KEYS if k in overrides}
        resources = self.parse_resources(data.get("resources"), resource_over)
        trainers = self.block_trainers(blocks, fixed, grid)
        self.validate_values(blocks, fixed, grid, random, trainers)
        self.validate_overrides(overrides, trainers)
        points = self.expand(blocks, fixed, grid, random, overrides)
        random_axes = {r.key: r.axis for r in random if r.key not in overrides}
        self.check_points(points, random_axes)
        tune_samples = num_samples
        if not random_axes:
            points, tune_samples = self.repeat(points, num_samples), 1
        scheduler = self.parse_scheduler(data.get("scheduler"), points, random_axes)
        self.check_asha_metric(scheduler, metric, trainers)
        return SweepSpec(
            name=name,
            description=description,
            source=self.src,
            metric=metric,
            mode=mode,
            num_samples=num_samples,
            points=points,
            random_axes=random_axes,
            tune_num_samples=tune_samples,
            resources=resources,
            scheduler=scheduler,
            search=search,
            max_concurrent=max_concurrent,
        )

    def check_keys(self, d: dict, allowed: tuple[str, ...], path: str, what: str) -> None:
        for k in d:
            if k not in allowed:
                where = f"{path}.{k}" if path else str(k)
                raise self.fail(where, f"unknown {what} (allowed: {', '.join(allowed)})")

    def mapping(self, v: Any, path: str) -> dict:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise self.fail(path, f"must be a mapping (got {_type_name(v)})")
        for k in v:
            if not isinstance(k, str):
                raise self.fail(path, f"keys must be strings (got {k!r})")
        return v

    def parse_name(self, v: Any) -> str:
        if v is None:
            raise self.fail("name", "required: the default experiment name ([A-Za-z0-9_.-]+)")
        if not isinstance(v, str) or not _NAME_RE.fullmatch(v) or set(v) == {"."}:
            raise self.fail(
                "name", f"must be letters, digits, '_', '.' or '-' only, not all dots (got {v!r})"
            )
        return v

    def parse_description(self, v: Any) -> str:
        if v is None:
            return ""
        if not isinstance(v, str):
            raise self.fail("description", f"must be text (got {_type_name(v)})")
        return v.strip()

    def parse_metric(self, metric: Any, mode: Any) -> tuple[str, str]:
        if not isinstance(metric, str) or not metric.strip():
            raise self.fail("metric", f"must be a non-empty metric name (got {metric!r})")
        if mode not in ("max", "min"):
            raise self.fail("mode", f"must be max or min (got {mode!r})")
        return metric.strip(), mode

    def parse_num_samples(self, v: Any) -> int:
        if not _is_int(v) or v < 1:
            raise self.fail("num_samples", f"must be an integer >= 1 (got {v!r})")
        return v

    def parse_max_concurrent(self, v: Any) -> int | None:
        if v is not None and (not _is_int(v) or v < 1):
            raise self.fail("max_concurrent", f"must be null or an integer >= 1 (got {v!r})")
        return v

    # ---------------------------------------------------------------- fixed, axes, blocks

    def parse_fixed(self, v: Any, path: str) -> dict[str, _Val]:
        return {k: _Val(x, f"{path}.{k}") for k, x in self.mapping(v, path).items()}

    def parse_axes(self, v: Any, path: str, allow_random: bool) -> tuple[list[_Grid], list]:
        grid: list[_Grid] = []
        random: list[_Random] = []
        for key, spec in self.mapping(v, path).items():
            axis_path = f"{path}.{key}"
            kind, values, vpath = self.axis_form(spec, axis_path)
            if kind == "grid":
                grid.append(_Grid(key, axis_path, self.grid_values(values, vpath)))
            elif not allow_random:
                raise self.fail(
                    axis_path, f"random axes ({kind}) are allowed only in the top-level axes"
                )
            else:
                random.append(self.random_axis(key, kind, values, axis_path))
        return grid, random

    def axis_form(self, spec: Any, path: str) -> tuple[str, Any, str]:
        if isinstance(spec, list):
            return "grid", spec, path
        forms = ", ".join(f"{{{k}: [...]}}" for k in AXIS_KINDS)
        if not isinstance(spec, dict):
            raise self.fail(
                path, f"must be a list or one of {forms} (got {spec!r}); put single values in fixed"
            )
        if len(spec) != 1 or next(iter(spec)) not in AXIS_KINDS:
            got = ", ".join(str(k) for k in spec) or "an empty mapping"
            raise self.fail(path, f"must have exactly one of {', '.join(AXIS_KINDS)} (got {got})")
        kind, values = next(iter(spec.items()))
        return kind, values, f"{path}.{kind}"

    def grid_values(self, values: Any, path: str) -> list[_Val]:
        if not isinstance(values, list):
            raise self.fail(path, f"must be a list of values (got {_type_name(values)})")
        if not values:
            raise self.fail(path, "empty list: give at least one value")
        seen: set[str] = set()
        out = []
        for i, v in enumerate(values):
            k = _key([type(v).__name__, v])
            if k in seen:
                raise self.fail(f"{path}[{i}]", f"duplicate value {v!r}")
            seen.add(k)
            out.append(_Val(v, f"{path}[{i}]"))
        return out

    def random_axis(self, key: str, kind: str, values: Any, path: str) -> _Random:
        vpath = f"{path}.{kind}"
        if key in NOT_RANDOM:
            raise self.fail(path, f"{key} cannot be a random axis: use a grid or a fixed value")
        if kind == "choice":
            checks = self.grid_values(values, vpath)
            return _Random(key, path, RandomAxis(kind, tuple(c.value for c in checks)), checks)
        lo, hi = self.bounds(kind, values, vpath)
        checks = [_Val(lo, f"{vpath}[0]"), _Val(hi, f"{vpath}[1]")]
        return _Random(key, path, RandomAxis(kind, (lo, hi)), checks)

    def bounds(self, kind: str, values: Any, path: str) -> tuple[Any, Any]:
        if not isinstance(values, list) or len(values) != 2:
            raise self.fail(path, f"must be a list [lo, hi] (got {values!r})")
        number = _is_int if kind == "randint" else _is_number
        what = "an integer" if kind == "randint" else "a number"
        for i, v in enumerate(values):
            if not number(v):
                raise self.fail(f"{path}[{i}]", f"must be {what} (got {v!r}){_hint(v)}")
        lo, hi = values
        if kind == "loguniform" and lo <= 0:
            raise self.fail(f"{path}[0]", f"must be > 0 for loguniform (got {lo})")
        if not lo < hi:
            raise self.fail(path, f"lo must be < hi (got [{lo}, {hi}])")
        return lo, hi

    def parse_blocks(self, v: Any, grid: list, random: list) -> list[_Block]:
        if v is None:
            return [_Block("", {}, [])]
        if not isinstance(v, list):
            raise self.fail("blocks", f"must be a list of blocks (got {_type_name(v)})")
        if not v:
            raise self.fail("blocks", "empty list: give at least one block or leave blocks out")
        blocks = []
        for i, b in enumerate(v):
            path = f"blocks[{i}]"
            b = self.mapping(b, path)
            self.check_keys(b, BLOCK_KEYS, path, "block key")
            bfixed = self.parse_fixed(b.get("fixed"), f"{path}.fixed")
            bgrid, _ = self.parse_axes(b.get("axes"), f"{path}.axes", allow_random=False)
            self.check_same_level(bfixed, bgrid, [])
            self.check_against_top(bfixed, bgrid, grid, random)
            blocks.append(_Block(path, bfixed, bgrid))
        return blocks

    def check_same_level(self, fixed: dict, grid: list, random: list) -> None:
        for a in [*grid, *random]:
            if a.key in fixed:
                raise self.fail(a.path, f"{a.key} is also in {fixed[a.key].path}; set it once")

    def check_against_top(self, bfixed: dict, bgrid: list, grid: list, random: list) -> None:
        top = {a.key: a.path for a in [*grid, *random]}
        items = [(k, v.path) for k, v in bfixed.items()] + [(a.key, a.path) for a in bgrid]
        for key, path in items:
            if key in top:
                raise self.fail(path, f"{key} is already an axis in {top[key]}; set it once")

    def check_optuna(self, data: dict, grid: list, random: list) -> None:
        if data.get("blocks") is not None:
            raise self.fail("blocks", "not allowed with search type optuna (one space only)")
        if grid:
            raise self.fail(
                grid[0].path,
                "grid axes are not allowed with search type optuna: "
                "use choice, uniform, loguniform or randint (or search type basic)",
            )
        if not random:
            raise self.fail("axes", "search type optuna needs at least one random axis")

    # ---------------------------------------------------------------- validation

    def block_trainers(self, blocks: list[_Block], fixed: dict, grid: list) -> list[list[str]]:
        """The trainers each block's trials use (validated)."""
        out = []
        for b in blocks:
            source = self.trainer_source(b, fixed, grid)
            if source is None:
                where = f"{b.path}.fixed.trainer" if b.path else "fixed.trainer"
                raise self.fail(where, f"missing: set trainer ({', '.join(TRAINERS)})")
            for v in source:
                if v.value not in TRAINERS:
                    raise self.fail(
                        v.path, f"must be one of {', '.join(TRAINERS)} (got {v.value!r})"
                    )
            out.append([v.value for v in source])
        return out

    @staticmethod
    def trainer_source(b: _Block, fixed: dict, grid: list) -> list[_Val] | None:
        for axes, fx in ((b.grid, b.fixed), (grid, fixed)):
            for a in axes:
                if a.key == "trainer":
                    return a.values
            if "trainer" in fx:
                return [fx["trainer"]]
        return None

    def validate_values(self, blocks, fixed, grid, random, trainers) -> None:
        done: set[tuple[str, str]] = set()
        for b, ts in zip(blocks, trainers, strict=True):
            for t in ts:
                for key, path, vals in self.block_items(b, fixed, grid, random):
                    if (t, path) in done:
                        continue
                    done.add((t, path))
                    self.check_key(t, key, path)
                    for v in vals:
                        self.check_value(t, key, v)
        for r in random:
            self.check_float_sampling(r, {t for ts in trainers for t in ts})

    @staticmethod
    def block_items(b: _Block, fixed: dict, grid: list, random: list):
        """(key, path, values) for every value that reaches the trials of block `b`."""
        for fx in (fixed, b.fixed):
            for k, v in fx.items():
                yield k, v.path, [v]
        for a in [*grid, *b.grid]:
            yield a.key, a.path, a.values
        for r in random:
            yield r.key, r.path, r.checks

    def check_key(self, trainer: str, key: str, path: str) -> None:
        if key not in KEYS[trainer]:
            known = ", ".join(sorted(KEYS[trainer]))
            raise self.fail(path, f"unknown key for the {trainer} trainer (known: {known})")

    def check_value(self, trainer: str, key: str, v: _Val) -> None:
        try:
            _validate_value(trainer, key, v.value)
        except ConfigError as e:
            msg = str(e)
            if msg.startswith(f"{key}: "):
                msg = msg[len(key) + 2 :]
            raise self.fail(v.path, msg + _hint(v.value)) from None

    def check_float_sampling(self, r: _Random, trainers: set[str]) -> None:
        if r.axis.kind not in ("uniform", "loguniform"):
            return
        sample = (r.axis.args[0] + r.axis.args[1]) / 2.0
        for t in sorted(trainers):
            try:
                _validate_value(t, r.key, sample)
            except ConfigError:
                raise self.fail(
                    r.path,
                    f"{r.axis.kind} samples floats, which {r.key} does not take; "
                    "use randint or choice",
                ) from None

    def validate_overrides(self, overrides: dict, trainers: list[list[str]]) -> None:
        used = sorted({t for ts in trainers for t in ts})
        for key, value in overrides.items():
            path = f"overrides.{key}"
            if key == "trainer":
                raise self.fail(path, "the trainer cannot be overridden; use another space file")
            knowing = [t for t in used if key in KEYS[t]]
            if not knowing:
                self.check_key(used[0], key, path)
            for t in knowing:
                self.check_value(t, key, _Val(value, path))

    # ---------------------------------------------------------------- expansion

    def expand(self, blocks, fixed, grid, random, overrides) -> list[dict]:
        points: list[dict] = []
        seen: set[str] = set()
        random_keys = {r.key for r in random if r.key not in overrides}
        for b in blocks:
            axes = [a for a in [*grid, *b.grid] if a.key not in overrides]
            for combo in itertools.product(*(a.values for a in axes)):
                values = {a.key: v.value for a, v in zip(axes, combo, strict=True)}
                point = self.point(fixed, b.fixed, values, overrides, random_keys)
                k = _key(point)
                if k not in seen:
                    seen.add(k)
                    points.append(point)
        if not points:
            raise self.fail("", "the space expands to zero trials")
        return points

    @staticmethod
    def point(fixed: dict, bfixed: dict, values: dict, overrides: dict, random_keys: set) -> dict:
        """Trainer defaults < fixed < block fixed < grid values < overrides (minus random keys)."""
        merged = {k: v.value for k, v in fixed.items()}
        merged.update({k: v.value for k, v in bfixed.items()})
        merged.update(values)
        trainer = merged["trainer"]
        cls = _TRAINER_CLASSES[trainer]
        point: dict[str, Any] = {"trainer": trainer}
        point.update({f.name: f.default for f in dataclasses.fields(cls) if f.name != "trainer"})
        point.update(merged)
        point.update({k: v for k, v in overrides.items() if k in KEYS[trainer]})
        for k in random_keys:
            point.pop(k, None)
        return point

    def check_points(self, points: list[dict], random_axes: dict[str, RandomAxis]) -> None:
        """Build every trial's config (random axes at an example value): cross-field checks."""
        example = {k: a.example() for k, a in random_axes.items()}
        for i, p in enumerate(points):
            try:
                _TRAINER_CLASSES[p["trainer"]].from_dict({**p, **example})
            except ConfigError as e:
                raise self.fail(f"trial {i} ({_describe(p)})", str(e)) from None

    def repeat(self, points: list[dict], n: int) -> list[dict]:
        """Expand `n` repeats of each grid point with seeds seed, seed+1, ..."""
        if n == 1:
            return points
        out = [{**p, "seed": p["seed"] + r} for p in points for r in range(n)]
        if len({_key(p) for p in out}) != len(out):
            raise self.fail(
                "num_samples", "repeats give identical trials: the seeds of some points overlap"
            )
        return out

    # ---------------------------------------------------------------- resources, scheduler, search

    def parse_resources(self, v: Any, over: dict[str, Any]) -> dict[str, dict[str, float]]:
        given = self.mapping(v, "resources")
        self.check_keys(given, DEVICE_RESOURCES, "resources", "device")
        out = {}
        for dev in DEVICE_RESOURCES:
            path = f"resources.{dev}"
            res = self.mapping(given.get(dev), path)
            self.check_keys(res, RESOURCE_KEYS, path, "resource")
            out[dev] = {**DEFAULT_RESOURCES[dev], **res}
        if over.get("cpus_per_trial") is not None:
            for dev in DEVICE_RESOURCES:
                out[dev]["cpu"] = over["cpus_per_trial"]
        if over.get("gpus_per_trial") is not None:
            out["gpu"]["gpu"] = over["gpus_per_trial"]
        for dev, res in out.items():
            for k, amount in res.items():
                path = self.resource_path(dev, k, over)
                self.check_amount(k, amount, path)
            self.check_device_gpu(dev, res.get("gpu", 0), self.resource_path(dev, "gpu", over))
        return out

    @staticmethod
    def resource_path(dev: str, k: str, over: dict) -> str:
        special = {"cpu": "cpus_per_trial", "gpu": "gpus_per_trial"}[k]
        if over.get(special) is not None and (k == "cpu" or dev == "gpu"):
            return f"overrides.{special}"
        return f"resources.{dev}.{k}"

    def check_amount(self, k: str, amount: Any, path: str) -> None:
        if not _is_number(amount) or amount < 0:
            raise self.fail(path, f"must be a number >= 0 (got {amount!r})")
        if k == "cpu" and amount <= 0:
            raise self.fail(path, f"must be > 0 (got {amount})")
        if k == "gpu" and amount > 1 and amount != int(amount):
            raise self.fail(path, f"must be a fraction <= 1 or a whole number (got {amount})")

    def check_device_gpu(self, dev: str, gpus: float, path: str) -> None:
        if dev == "gpu" and gpus <= 0:
            raise self.fail(path, "gpu trials need gpu > 0")
        if dev == "cpu" and gpus > 0:
            raise self.fail(path, f"cpu trials must not reserve GPUs (got {gpus})")

    def parse_scheduler(self, v: Any, points: list[dict], random_axes: dict) -> dict:
        sched = self.mapping(v, "scheduler")
        kind = sched.get("type", "fifo")
        if kind not in SCHEDULERS:
            raise self.fail(
                "scheduler.type", f"must be one of {', '.join(SCHEDULERS)} (got {kind!r})"
            )
        if kind == "fifo":
            self.check_keys(sched, ("type",), "scheduler", "key for the fifo scheduler")
            return {"type": "fifo"}
        self.check_keys(sched, ("type", *ASHA_KEYS), "scheduler", "key for the asha scheduler")
        max_t = sched.get("max_t", _max_epochs(points, random_axes))
        grace = sched.get("grace_period", 1)
        factor = sched.get("reduction_factor", 4)
        for key, val in (("max_t", max_t), ("grace_period", grace)):
            if not _is_int(val) or val < 1:
                raise self.fail(f"scheduler.{key}", f"must be an integer >= 1 (got {val!r})")
        if not _is_number(factor) or factor <= 1:
            raise self.fail("scheduler.reduction_factor", f"must be a number > 1 (got {factor!r})")
        if grace > max_t:
            raise self.fail("scheduler.grace_period", f"must be <= max_t ({max_t}) (got {grace})")
        # time_attr is always training_iteration (one ResNet epoch); the sweep layer sets it.
        return {"type": "asha", "max_t": max_t, "grace_period": grace, "reduction_factor": factor}

    def check_asha_metric(self, scheduler: dict, metric: str, trainers: list[list[str]]) -> None:
        uses_resnet = any("resnet" in ts for ts in trainers)
        if scheduler["type"] == "asha" and uses_resnet and metric not in PER_EPOCH_METRICS:
            raise self.fail(
                "metric",
                f"the asha scheduler compares trials every epoch, but {metric} is not reported "
                "every epoch by resnet trials: use val_acc (mode max) or val_loss (mode min)",
            )

    def parse_search(self, v: Any) -> dict:
        search = self.mapping(v, "search")
        kind = search.get("type", "basic")
        if kind not in SEARCHERS:
            raise self.fail("search.type", f"must be one of {', '.join(SEARCHERS)} (got {kind!r})")
        self.check_keys(search, ("type",), "search", "search key")
        return {"type": kind}


def _hint(v: Any) -> str:
    if isinstance(v, str) and _NUMBER_RE.fullmatch(v.strip()):
        return f" (YAML reads {v} as text: write it with a dot, e.g. 1.0e-3, or as 0.001)"
    return ""


def _describe(p: dict) -> str:
    return ", ".join(f"{k}={p[k]}" for k in ("trainer", "model", "kernel", "dataset") if k in p)


def _max_epochs(points: list[dict], random_axes: dict[str, RandomAxis]) -> int:
    """Default ASHA max_t: the most epochs any trial can run (1 for SVM-only spaces)."""
    axis = random_axes.get("epochs")
    if axis is not None:
        return int(max(axis.args) - (1 if axis.kind == "randint" else 0))
    return max([int(p["epochs"]) for p in points if "epochs" in p] or [1])
