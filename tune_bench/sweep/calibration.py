"""The forecast's calibration on a Ray cluster: the trial shapes timed on the cluster's nodes,
as Ray tasks with the trials' own resource requests (so at the workers' niceness, on a node
that could host the trial), the datasets handed over through the object store as the sweep
does (a node need not see the data directory)."""

from __future__ import annotations

from typing import Any

import ray

from tune_bench.sweep.handover import put_datasets
from tune_bench.sweep.options import SweepOptions
from tune_bench.sweep.run import cluster_view, start_ray


def _time_on_node(todo: dict[str, tuple[dict, dict, int]], refs: dict[str, Any],
                  plugin_paths: list[str], measure_start: bool) -> dict[str, Any]:
    """(In a Ray task) the calibration records of `todo`, this node's machine and (when
    `measure_start`) its worker start-up time."""
    from tune_bench.forecast import calibrate as cal

    splits = {k: ray.get(r) for k, r in refs.items()}
    shapes = cal.time_shapes(todo, None, plugin_paths, splits=splits)
    return {"machine": cal.machine(), "shapes": shapes,
            "actor_start_s": cal.actor_start_s() if measure_start else None}


class Cluster:
    """A joined Ray cluster as the forecast sees it: its nodes' resources, and a place to time
    trial shapes. `close()` leaves it (the sweep joins again)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.started = start_ray(SweepOptions(address=address, progress=False))
        _, nodes = cluster_view()
        self.nodes = [(float(n.get("CPU", 0)), float(n.get("GPU", 0))) for n in nodes]
        self.gpus = int(sum(g for _, g in self.nodes))
        self.hosts = sorted({str(n.get("NodeManagerHostname", "?")) for n in ray.nodes()
                             if n.get("Alive")})
        self.actor_start_s: float | None = None

    def machine(self) -> dict[str, Any]:
        """What this cluster's calibrations are valid for (its calibration cache's key): its
        hosts, CPUs and GPUs, this driver's torch."""
        import torch

        return {"host": "cluster " + "+".join(self.hosts), "cpu": "Ray cluster nodes",
                "cores": int(sum(c for c, _ in self.nodes)), "torch": torch.__version__,
                "gpu": f"{self.gpus} GPU(s)" if self.gpus else None}

    def time_shapes(self, todo: dict[str, tuple[dict, dict, int]], splits: dict[str, Any],
                    plugin_paths: list[str] | tuple[str, ...] = (),
                    max_concurrent: int | None = None) -> dict[str, Any]:
        """Calibration records of `todo`, as Ray tasks with the trials' requests (the threads
        and, for GPU shapes, one GPU), side by side as the sweep will run such trials on the
        cluster's CPUs (`calibrate.side_by_side`), on whichever nodes Ray places them."""
        from tune_bench.forecast.calibrate import side_by_side
        from tune_bench.sweep.handover import data_key

        refs = put_datasets(splits)
        task = ray.remote(_time_on_node)
        out: dict[str, Any] = {}
        for chunks in side_by_side(todo, sum(c for c, _ in self.nodes), max_concurrent):
            calls = []
            for chunk in chunks:
                point, _, threads = next(iter(chunk.values()))
                keys = {data_key(p) for p, _, _ in chunk.values()} & set(refs)
                calls.append(task.options(
                    num_cpus=threads, num_gpus=int(point.get("device") == "gpu")).remote(
                        chunk, {k: refs[k] for k in keys}, list(plugin_paths),
                        self.actor_start_s is None and not calls))
            for got in ray.get(calls):
                for rec in got["shapes"].values():
                    rec["node"] = got["machine"]["host"]  # where it was timed
                out.update(got["shapes"])
                if got["actor_start_s"] is not None:
                    self.actor_start_s = got["actor_start_s"]
        return out

    def worker_start_s(self) -> float:
        """A fresh trial worker's start-up on a node (measured there, once)."""
        if self.actor_start_s is None:
            from tune_bench.forecast.calibrate import actor_start_s

            self.actor_start_s = ray.get(ray.remote(num_cpus=1)(actor_start_s).remote())
        return self.actor_start_s

    def close(self) -> None:
        if self.started:
            ray.shutdown()
