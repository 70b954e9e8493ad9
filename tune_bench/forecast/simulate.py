"""A pure event simulation of how Tune places a sweep's trials: the wall time of a sweep.

Tune's FIFO scheduler starts, whenever resources free up, the first pending trial (in the
order the grid generates them) whose request fits on some node; `max_concurrent` caps the
trials running at once. A node has CPU slots (fractions allowed) and whole GPUs; a fractional
GPU request must fit on one GPU. Actors are reused (`reuse_actors=True`): a trial that starts
on an idle actor of the same request skips the worker start-up, a new actor pays it.
No Ray, no clock: durations in, times out.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

EPS = 1e-9


@dataclass(frozen=True)
class SimTrial:
    """A trial to place: its request and how long it runs once started (s)."""

    cpu: float
    gpu: float
    duration_s: float


@dataclass
class Node:
    """Free CPUs and the free fraction of each GPU of one node."""

    cpu: float
    gpus: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, cpu: float, gpu: float = 0) -> Node:
        """A node with `cpu` CPUs and `gpu` whole GPUs (a fractional total rounds down)."""
        return cls(float(cpu), [1.0] * int(gpu + EPS))

    def place(self, cpu: float, gpu: float) -> tuple[int, ...] | None:
        """Take `cpu` and `gpu` if they fit; returns the GPU indices used, else None."""
        if cpu > self.cpu + EPS:
            return None
        if gpu <= 0:
            self.cpu -= cpu
            return ()
        if gpu >= 1:  # whole GPUs: that many entirely free
            free = [i for i, f in enumerate(self.gpus) if f >= 1 - EPS]
            need = int(round(gpu))
            if len(free) < need:
                return None
            for i in free[:need]:
                self.gpus[i] = 0.0
            self.cpu -= cpu
            return tuple(free[:need])
        # a fraction: the fullest GPU that still has room (Ray packs fractions)
        fits = [i for i, f in enumerate(self.gpus) if f + EPS >= gpu]
        if not fits:
            return None
        i = min(fits, key=lambda j: self.gpus[j])
        self.gpus[i] -= gpu
        self.cpu -= cpu
        return (i,)

    def release(self, cpu: float, gpu: float, used: tuple[int, ...]) -> None:
        """Give back what `place` took."""
        self.cpu += cpu
        share = 1.0 if gpu >= 1 else gpu
        for i in used:
            self.gpus[i] = min(1.0, self.gpus[i] + share)


@dataclass
class Schedule:
    """When each trial started and ended (s from the start of the trials), and the wall."""

    start: list[float]
    end: list[float]
    wall_s: float
    unplaceable: list[int] = field(default_factory=list)  # trials no node can ever host


def simulate(trials: list[SimTrial], nodes: list[tuple[float, float]],
             max_concurrent: int | None = None, actor_start_s: float = 0.0,
             trial_overhead_s: float = 0.0) -> Schedule:
    """Place `trials` (in Tune's order) on `nodes` ((CPUs, GPUs) each) as Tune's FIFO
    scheduler does; returns when each starts and ends.

    Each trial runs `trial_overhead_s` longer than its duration, plus `actor_start_s` when no
    idle actor with its request is left to reuse. A trial no empty node could host is left out
    (listed in `unplaceable`).
    """
    free = [Node.of(c, g) for c, g in nodes]
    fits_somewhere = [any(Node.of(c, g).place(t.cpu, t.gpu) is not None for c, g in nodes)
                      for t in trials]
    unplaceable = [i for i, ok in enumerate(fits_somewhere) if not ok]
    pending = [i for i, ok in enumerate(fits_somewhere) if ok]
    start = [float("nan")] * len(trials)
    end = [float("nan")] * len(trials)
    idle_actors: dict[tuple[float, float], int] = {}
    running: list[tuple[float, int, int, tuple[int, ...]]] = []  # (end, trial, node, GPUs)
    now = 0.0
    while pending or running:
        started = True
        while started and pending:
            started = False
            if max_concurrent is not None and len(running) >= max_concurrent:
                break
            for k, i in enumerate(pending):
                t = trials[i]
                placed = _place(free, t)
                if placed is None:
                    continue
                n, gi = placed
                key = (t.cpu, t.gpu)
                reuse = idle_actors.get(key, 0) > 0
                if reuse:
                    idle_actors[key] -= 1
                start[i] = now
                end[i] = now + t.duration_s + trial_overhead_s + (0 if reuse else actor_start_s)
                heapq.heappush(running, (end[i], i, n, gi))
                del pending[k]
                started = True
                break
        if not running:
            break
        now, i, n, gi = heapq.heappop(running)
        done = [(i, n, gi)]
        while running and running[0][0] <= now + EPS:
            _, j, m, gj = heapq.heappop(running)
            done.append((j, m, gj))
        for j, m, gj in done:
            t = trials[j]
            free[m].release(t.cpu, t.gpu, gj)
            key = (t.cpu, t.gpu)
            idle_actors[key] = idle_actors.get(key, 0) + 1
    wall = max((e for e in end if e == e), default=0.0)
    return Schedule(start, end, wall, unplaceable)


def _place(free: list[Node], t: SimTrial) -> tuple[int, tuple[int, ...]] | None:
    """The first node with room for `t` (taking it), and the GPUs used."""
    for n, node in enumerate(free):
        gi = node.place(t.cpu, t.gpu)
        if gi is not None:
            return n, gi
    return None
