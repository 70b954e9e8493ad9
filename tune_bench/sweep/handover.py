"""The datasets of a sweep: decoded once by the driver, handed to every trial through Ray's
object store (`tune.with_parameters`)."""

from __future__ import annotations

from typing import Any

import ray

# (Ray session, id(split)) -> (ObjectRef, split): what this driver already put in the store
_PUT_IN_STORE: dict[tuple[str, int], Any] = {}


def data_source(point: dict[str, Any]) -> tuple[str, str]:
    """The (dataset, split) a trial (flat config) trains on ("" when it names no dataset)."""
    return point.get("dataset") or "", point.get("split", "seeds")


def data_key(point: dict[str, Any]) -> str:
    """`<dataset>/<split>`: the key of a trial's decoded split in the datasets handed over
    ("" for a trial whose config names no dataset: a plug-in that loads its own data)."""
    return "/".join(data_source(point)) if point.get("dataset") else ""


def data_names(points: list[dict[str, Any]]) -> str:
    """e.g. 'mnist/seeds, digits/seeds' ('no dataset' when no trial names one)."""
    return ", ".join(sorted({data_key(p) for p in points} - {""})) or "no dataset"


def decode_datasets(points: list[dict[str, Any]], data_dir: str | None,
                    plugin_paths: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Decode each (dataset, split) the trials use, once: {data_key: Split}.

    Runs before Ray starts, so a missing or corrupt dataset file is reported at once, without
    the cost of starting (and stopping) a Ray instance first.
    """
    from tune_bench.data import load_split
    from tune_bench.plugins import search_paths

    sources = {data_key(p): data_source(p) for p in points if data_key(p)}
    with search_paths(plugin_paths):  # a user's loader: from the space file's directory
        return {key: load_split(*sources[key], data_dir) for key in sorted(sources)}


def put_datasets(splits: dict[str, Any]) -> dict[str, Any]:
    """Put decoded splits in Ray's object store once per Ray session; returns ObjectRefs.

    A split already put in this Ray session (an earlier sweep of the same driver) is not put
    again, so repeated sweeps do not grow the object store.
    """
    session = ray.get_runtime_context().get_node_id() + ray.get_runtime_context().gcs_address
    refs = {}
    for key, split in splits.items():
        if (session, id(split)) not in _PUT_IN_STORE:
            # keep the split itself too, so that its id stays unique
            _PUT_IN_STORE[(session, id(split))] = (ray.put(split), split)
        refs[key] = _PUT_IN_STORE[(session, id(split))][0]
    return refs
