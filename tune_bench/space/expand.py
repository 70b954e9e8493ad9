"""Blocks x axes -> trial points: the expansion of a validated search-space file.

Plain functions over `schema.SpaceFile`: build every grid point with the place each value was
written (so that a refused value is named `blocks[1].axes.lr.grid[0]`), check each point
against its trainer's config model (`tune_bench.config`), apply the command-line overrides,
expand the repeats and settle the scheduler. The result, `SweepSpec`, holds plain dicts that
`sweep.py` turns into Tune's `param_space`, scheduler and searcher; no Ray here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tune_bench import plugins
from tune_bench.config import (
    TRAINERS,
    TrialValueError,
    check_overrides,
    trainer_keys,
    trial_defaults,
    validate_trial,
)
from tune_bench.errors import ConfigError
from tune_bench.space.schema import Axis, SpaceFile, config_error, value_key, yaml_text_hint


def per_epoch_metrics(trainer: str) -> frozenset[str]:
    """What a trainer reports every epoch (ASHA compares trials on them), plus Tune's own."""
    return plugins.resolve(trainer).per_epoch | plugins.TUNE_METRICS


def reported_metrics(trainer: str) -> frozenset[str] | None:
    """Every metric a trial of `trainer` reports, Tune's own included (None: undeclared)."""
    return plugins.resolve(trainer).reported


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
    notes: list[str] = field(default_factory=list)  # for the user: axes --set replaced
    plugin_paths: list[str] = field(default_factory=list)  # where its plug-ins were imported

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


# --------------------------------------------------------------------------- grid points


@dataclass
class _Point:
    """A grid point as written: its values and where each key / value was written."""

    values: dict[str, Any]
    origin: dict[str, str]  # key -> where its value is, e.g. "axes.C[1]"
    key_origin: dict[str, str]  # key -> where the key is, e.g. "axes.C"
    block: str  # "blocks[i]", or "" in a file without blocks
    shadowed: list[tuple[str, Any, str]]  # (key, value, path) of values a block replaced

    def set(self, key: str, value: Any, path: str, key_path: str) -> None:
        """Set `key` (a later layer wins; the value it replaces is still checked)."""
        if key in self.values:
            self.shadowed.append((key, self.values[key], self.origin[key]))
        self.values[key] = value
        self.origin[key] = path
        self.key_origin[key] = key_path


def grid_points(space: SpaceFile) -> Iterator[_Point]:
    """fixed < block fixed < grid values, for every block and every combination of its axes
    (the top-level grid axes first); random axes are not in the points."""
    blocks = list(enumerate(space.blocks)) if space.blocks is not None else [(None, None)]
    for i, block in blocks:
        prefix = f"blocks[{i}]" if i is not None else ""
        layers = [("fixed", space.fixed)]
        axes = [(f"axes.{k}", k, a) for k, a in space.axes.items() if not a.is_random]
        if block is not None:
            layers.append((f"{prefix}.fixed", block.fixed))
            axes += [(f"{prefix}.axes.{k}", k, a) for k, a in block.axes.items()]
        for combo in itertools.product(*(range(len(a.values)) for _, _, a in axes)):
            p = _Point({}, {}, {}, prefix, [])
            for path, fixed in layers:
                for key, value in fixed.items():
                    p.set(key, value, f"{path}.{key}", f"{path}.{key}")
            for (path, key, axis), j in zip(axes, combo, strict=True):
                p.set(key, axis.values[j], axis.path(path, j), path)
            yield p


def _trainer(p: _Point, source: str) -> str:
    """The point's trainer (set in fixed, a block or a grid axis)."""
    if "trainer" not in p.values:
        where = f"{p.block}.fixed.trainer" if p.block else "fixed.trainer"
        raise config_error(source, where, f"missing: set trainer ({', '.join(TRAINERS)})")
    trainer = p.values["trainer"]
    try:
        plugins.resolve(trainer, what="")
    except ConfigError as e:
        raise config_error(source, p.origin["trainer"], str(e).removeprefix(": ")) from None
    return trainer


def _refused(source: str, e: TrialValueError, values: dict, origin: dict,
             key_origin: dict | None = None) -> ConfigError:
    """A TrialValueError named by where the value (or, for an unknown key, the key) was
    written."""
    where = (key_origin or origin) if e.unknown_key else origin
    hint = "" if e.unknown_key else yaml_text_hint(values.get(e.key))
    return config_error(source, where.get(e.key, e.key), e.reason + hint)


def check_points(points: list[_Point], trainers: list[str], random: dict[str, Axis],
                 source: str) -> None:
    """Every point against its trainer's config, random axes at each option / bound."""
    example = {k: a.values[0] for k, a in random.items()}
    example_origin = {k: a.path(f"axes.{k}", 0) for k, a in random.items()}
    random_keys = {k: f"axes.{k}" for k in random}
    for p, trainer in zip(points, trainers, strict=True):
        for key, value, path in p.shadowed:
            try:
                validate_trial(trainer, {key: value})
            except TrialValueError as e:
                raise _refused(source, e, {key: value}, {key: path}) from None
        values = {**p.values, **example}
        try:
            validate_trial(trainer, values)
        except TrialValueError as e:
            raise _refused(source, e, values, {**p.origin, **example_origin},
                           {**p.key_origin, **random_keys}) from None
    for trainer in sorted(set(trainers)):
        for key, axis in random.items():
            _check_random_axis(trainer, key, axis, source)


def _check_random_axis(trainer: str, key: str, axis: Axis, source: str) -> None:
    """Each option / bound of a random axis, and that a float axis suits the key."""
    for i, value in enumerate(axis.values):
        try:
            validate_trial(trainer, {key: value})
        except TrialValueError as e:
            raise _refused(source, e, {key: value}, {key: axis.path(f"axes.{key}", i)},
                           {key: f"axes.{key}"}) from None
    if axis.kind in ("uniform", "loguniform"):
        try:
            validate_trial(trainer, {key: (axis.values[0] + axis.values[1]) / 2.0})
        except TrialValueError:
            raise config_error(source, f"axes.{key}", f"{axis.kind} samples floats, which {key} "
                               "does not take; use randint or choice") from None


# --------------------------------------------------------------------------- overrides, repeats


def check_space_overrides(overrides: dict[str, Any], trainers: list[str], source: str) -> None:
    """Overrides against the trainers of the space: `trainer` is not one of them."""
    if "trainer" in overrides:
        raise config_error(source, "overrides.trainer",
                           "the trainer cannot be overridden; use another space file")
    try:
        check_overrides(overrides, trainers)
    except TrialValueError as e:
        raise _refused(source, e, overrides, {k: f"overrides.{k}" for k in overrides}) from None


def final_points(points: list[_Point], trainers: list[str], overrides: dict[str, Any],
                 random: set[str]) -> list[dict]:
    """Trainer defaults < point < overrides (those the trainer has), minus the random keys;
    identical points kept once."""
    out: list[dict] = []
    seen: set[str] = set()
    for p, trainer in zip(points, trainers, strict=True):
        point = trial_defaults(trainer)
        point.update(p.values)
        keys = trainer_keys(trainer)
        point.update({k: v for k, v in overrides.items() if keys is None or k in keys})
        for k in random:
            point.pop(k, None)
        k = value_key(point)
        if k not in seen:
            seen.add(k)
            out.append(point)
    return out


def repeat(points: list[dict], n: int, source: str) -> list[dict]:
    """`n` repeats of each grid point with seeds seed, seed+1, ..."""
    if n == 1:
        return points
    out = [{**p, "seed": p.get("seed", 0) + r} for p in points for r in range(n)]
    if len({value_key(p) for p in out}) != len(out):
        raise config_error(source, "num_samples",
                           "repeats give identical trials: the seeds of some points overlap")
    return out


# --------------------------------------------------------------------------- scheduler


def scheduler(space: SpaceFile, points: list[dict], random: dict[str, RandomAxis],
              trainers: set[str], source: str) -> dict:
    """The scheduler settings; ASHA's max_t defaults to the most epochs of any trial."""
    sched = space.scheduler
    if sched.type == "fifo":
        return sched.to_dict()
    max_t = sched.max_t if sched.max_t is not None else _max_epochs(points, random)
    if sched.grace_period > max_t:
        raise config_error(source, "scheduler.grace_period",
                           f"must be <= max_t ({max_t}) (got {sched.grace_period})")
    for trainer in sorted(trainers):
        per_epoch = per_epoch_metrics(trainer)
        if per_epoch - plugins.TUNE_METRICS and space.metric not in per_epoch:
            raise config_error(
                source, "metric",
                f"the asha scheduler compares trials every epoch, but {space.metric} is not "
                f"reported every epoch by {trainer} trials: use one of "
                f"{', '.join(sorted(per_epoch - plugins.TUNE_METRICS))}")
    # time_attr is always training_iteration (one ResNet epoch); the sweep layer sets it.
    return {**sched.to_dict(), "max_t": max_t}


def check_metric(metric: str, trainers: set[str], source: str) -> None:
    """The metric the sweep ranks by must be one some trainer of the space reports."""
    declared = [reported_metrics(t) for t in trainers]
    if any(r is None for r in declared):
        return  # a plug-in that does not say what it reports: Tune checks at the first result
    reported: set[str] = set().union(*(r or () for r in declared))
    if metric in reported:
        return
    import difflib

    close = difflib.get_close_matches(metric, sorted(reported), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise config_error(source, "metric",
                       f"{metric} is not reported by {' or '.join(sorted(trainers))} trials "
                       f"(they report {', '.join(sorted(reported - _TUNE_KEYS))}){hint}")


_TUNE_KEYS = {"training_iteration", "time_total_s", "time_this_iter_s"}


def replaced_axes(space: SpaceFile, overrides: dict[str, Any]) -> dict[str, list[str]]:
    """Override key -> the axes written for it (`axes.lr`, `blocks[1].axes.lr`)."""
    out: dict[str, list[str]] = {}
    for key in overrides:
        paths = [f"axes.{key}"] if key in space.axes else []
        paths += [f"blocks[{i}].axes.{key}" for i, b in enumerate(space.blocks or [])
                  if key in b.axes]
        if paths:
            out[key] = paths
    return out


def _override_note(space: SpaceFile, source: str, overrides: dict[str, Any],
                   n_trials: int) -> list[str]:
    """e.g. "--set lr=0.001 replaces the axis axes.lr: 128 trials become 64"."""
    replaced = replaced_axes(space, overrides)
    if not replaced:
        return []
    before = expand(space, source, {}).n_trials
    what = "; ".join(f"--set {k}={overrides[k]} replaces the axis {', '.join(v)}"
                     for k, v in replaced.items())
    return [f"{what}: {before} trials become {n_trials}"]


def _max_epochs(points: list[dict], random_axes: dict[str, RandomAxis]) -> int:
    """Default ASHA max_t: the most epochs any trial can run (1 for SVM-only spaces)."""
    axis = random_axes.get("epochs")
    if axis is not None:
        return int(max(axis.args) - (1 if axis.kind == "randint" else 0))
    return max([int(p["epochs"]) for p in points if "epochs" in p] or [1])


# --------------------------------------------------------------------------- all together


def space_dir(source: str) -> Path | None:
    """The directory of the space file `source` (where its plug-ins are imported from)."""
    path = Path(source)
    return path.parent if path.suffix in (".yaml", ".yml", ".json") else None


def expand(space: SpaceFile, source: str, overrides: dict[str, Any]) -> SweepSpec:
    """The trials of a validated file, with the command-line `overrides` applied last; the
    trainers it names are imported (from the file's directory, too) and their configs checked."""
    with plugins.search_path(space_dir(source)):
        return _expand(space, source, overrides)


def _expand(space: SpaceFile, source: str, overrides: dict[str, Any]) -> SweepSpec:
    points = list(grid_points(space))
    trainers = [_trainer(p, source) for p in points]
    random_written = {k: a for k, a in space.axes.items() if a.is_random}
    check_points(points, trainers, random_written, source)
    check_space_overrides(overrides, trainers, source)
    random = {k: RandomAxis(a.kind, a.values) for k, a in random_written.items()
              if k not in overrides}
    trials = final_points(points, trainers, overrides, set(random))
    tune_samples = space.num_samples
    if not random:
        trials, tune_samples = repeat(trials, space.num_samples, source), 1
    check_metric(space.metric, set(trainers), source)
    spec = SweepSpec(
        name=space.name,
        description=space.description,
        source=source,
        metric=space.metric,
        mode=space.mode,
        num_samples=space.num_samples,
        points=trials,
        random_axes=random,
        tune_num_samples=tune_samples,
        resources=space.resources.by_device(),
        scheduler=scheduler(space, trials, random, set(trainers), source),
        search=space.search.model_dump(),
        max_concurrent=space.max_concurrent,
    )
    spec.notes = _override_note(space, source, overrides, spec.n_trials) if overrides else []
    paths = {plugins.resolve(t).path for t in trainers}
    here = space_dir(source)
    if here is not None and any(plugins.is_import_path(p.get(k)) for p in trials
                                for k in ("dataset", "model")):
        paths.add(str(here.resolve()))  # a loader or a model factory of the user's
    spec.plugin_paths = sorted(paths - {""})
    return spec
