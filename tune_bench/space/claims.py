"""The claims of a space file or a claims file checked against the space: every factor and
level a claim names must be a key and a value of the space (`check_claims_in_space`, run when
the space file is validated); `read_claims` reads a claims file given to `analyze`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tune_bench.space.schema import (
    DERIVED,
    Claim,
    Loc,
    config_error,
    fail,
    is_number,
    message,
    value_key,
    where,
)

if TYPE_CHECKING:
    from tune_bench.space.schema import SpaceFile


def same_value(a: Any, b: Any) -> bool:
    """Whether two YAML values name the same level (numbers by value, 1 == 1.0)."""
    if is_number(a) and is_number(b):
        return float(a) == float(b)
    return value_key(a) == value_key(b)


def _space_values(space: SpaceFile) -> dict[str, list]:
    """Every key the space sets, with the values it takes (random axes: their options or
    bounds)."""
    out: dict[str, list] = {}
    sections = [(space.fixed, space.axes)] + [(b.fixed, b.axes) for b in space.blocks or []]
    for fixed, axes in sections:
        for k, v in fixed.items():
            out.setdefault(k, []).append(v)
        for k, a in axes.items():
            out.setdefault(k, []).extend(a.values)
    return out


def check_claims_in_space(space: SpaceFile) -> None:
    """Each claim's factors and levels must be keys and values of the space."""
    values = _space_values(space)
    for i, c in enumerate(space.claims or []):
        t, kind = c.test, c.test.kind
        loc: Loc = ("claims", i, kind)
        for k, v in c.where.items():
            _check_level(values, ("claims", i, "where", k), k, v)
        if kind in ("better", "robust"):
            _check_level(values, (*loc, t.factor), t.factor, t.a)
            _check_level(values, (*loc, "than"), t.factor, t.b)
        names = {"same": [("factor", t.factor)], "robust": [("across", t.across)],
                 "increases": [("with", t.x)]}.get(kind, [])
        for key, name in names:
            if name not in values and not (kind == "increases" and name in DERIVED):
                raise fail((*loc, key), f"{name!r} is not a key of the space "
                           f"(keys: {', '.join(sorted(values))})", name)
        if kind == "increases" and t.y == "speedup" and not {"cpu", "gpu"} <= {
                str(v) for v in values.get("device", [])}:
            raise fail((*loc, "y"), "speedup needs trials on both devices (device: [cpu, gpu])")


def _check_level(values: dict[str, list], loc: Loc, key: str, v: Any) -> None:
    if key not in values:
        raise fail(loc, f"{key!r} is not a key of the space (keys: {', '.join(sorted(values))})",
                   key)
    if not any(same_value(v, w) for w in values[key]):
        shown = ", ".join(str(w) for w in values[key])
        raise fail(loc, f"{key} has no level {v!r} in the space (levels: {shown})", v)


def read_claims(data: Any, source: str) -> list[Claim]:
    """The claims of a claims file (a mapping with a `claims` list, or the list itself); the
    one-line ConfigError for its first problem."""
    items = data.get("claims") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise config_error(source, "claims", "must be a non-empty list of claims "
                           "(claims: [{claim: ..., better: {...}}, ...])")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(Claim.model_validate(item))
        except ValidationError as e:
            err = e.errors()[0]
            raise config_error(source, where(("claims", i, *err["loc"])),
                               message(err)) from None
    return out
