"""What a trainer sees of the run it is in: `report`, `restored_state`, `dataset`, `threads`.

A trainer (built-in or a plug-in) calls these; whoever runs it (the sweep's trainable, or
`tune-bench train` without Ray) installs a `Session` with `running`. Outside a run, `report`
only records and `restored_state` is None, so a trainer is also a plain function.
No Ray here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Session:
    """One trial's run: its data (the decoded split, or None), threads, the state to resume
    from, and what to do with each report (`on_report(metrics, state)`)."""

    data: Any = None
    n_threads: int | None = None
    state: Any = None
    on_report: Callable[[dict[str, Any], Any], None] | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)


_CURRENT: list[Session] = []


@contextlib.contextmanager
def running(session: Session) -> Iterator[Session]:
    """Make `session` the one `report` & co. talk to while the trainer runs."""
    _CURRENT.append(session)
    try:
        yield session
    finally:
        _CURRENT.pop()


def _current() -> Session:
    if not _CURRENT:
        _CURRENT.append(Session())  # a trainer called as a plain function
    return _CURRENT[-1]


def report(metrics: dict[str, Any], state: Any = None) -> None:
    """Report one epoch's `metrics` (numbers); with `state` (anything torch.save can write:
    model and optimizer state dicts, the epoch...) also a checkpoint, which
    `restored_state()` returns after a restart. Each epoch then lands in the results once."""
    s = _current()
    s.reports.append(dict(metrics))
    if s.on_report is not None:
        s.on_report(dict(metrics), state)


def restored_state() -> Any:
    """The `state` of the last checkpointed `report` when the trial was restarted, else None."""
    return _current().state


def dataset() -> Any:
    """The trial's decoded dataset (`tune_bench.data.Split`: train/val/test arrays) when its
    config names a `dataset`, else None."""
    return _current().data


def threads() -> int | None:
    """The CPUs granted to the trial (None outside a sweep)."""
    return _current().n_threads
