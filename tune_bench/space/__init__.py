"""Search-space YAML files: read, validate (schema.py) and expand (expand.py) into a SweepSpec.

No Ray here: `SweepSpec` holds plain dicts (grid points, random axes, resources, scheduler and
search settings) that `sweep.py` turns into Tune's `param_space`, schedulers and searchers.
Every problem raises `ConfigError` with one line: ``FILE: key.path: message``.
See docs/search_spaces.md for the format.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tune_bench.errors import ConfigError
from tune_bench.space.expand import RandomAxis, SweepSpec, describe_trials, expand
from tune_bench.space.schema import OVERRIDE_RESOURCE_KEYS, one_line, read_space

__all__ = ["RandomAxis", "SweepSpec", "describe_trials", "load_space", "names_plugin",
           "parse_space"]


def names_plugin(space: str | Path | dict[str, Any]) -> bool:
    """Whether a space (a file or its content as a dict) names a trainer by import path
    (`trainer: module:function`), whose own config model then checks `--set` values."""
    try:
        text = yaml.safe_dump(space) if isinstance(space, dict) else Path(space).read_text()
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return re.search(r"trainer:\s*['\"]?[\w.]+:\w", text) is not None


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
        raise ConfigError(one_line(f"{src}: cannot read the file: {e}")) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_message(src, e)) from None
    return parse_space(data, src, overrides)


def parse_space(data: Any, source: str, overrides: dict | None = None) -> SweepSpec:
    """Validate and expand already-loaded YAML data.

    `overrides` are command-line fixed values applied last to every trial whose trainer has
    the key (an axis on an overridden key collapses); ``cpus_per_trial`` / ``gpus_per_trial``
    override the resources instead, and ``num_samples`` (`sweep --repeats N`) the file's.
    """
    trial_values = dict(overrides or {})
    resources = {k: trial_values.pop(k) for k in OVERRIDE_RESOURCE_KEYS if k in trial_values}
    if "num_samples" in trial_values and isinstance(data, dict):
        data = {**data, "num_samples": trial_values.pop("num_samples")}
    return expand(read_space(data, source, resources), source, trial_values)


def _yaml_message(src: str, e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "YAML"
    return one_line(f"{src}: {where}: YAML syntax error: {problem}")
