"""Tune callbacks of a sweep: the live progress display and the pruning of finished trials'
checkpoints."""

from __future__ import annotations

import os
import posixpath
import time
from typing import Any

from ray import tune

from tune_bench.sweep import ray_internals
from tune_bench.sweep.options import PROGRESS_ENV


class RichProgress(tune.Callback):
    """A Tune callback showing trials done / running / pending / errored, elapsed and ETA.

    The counts are read from Tune's trial list on every event, so trials finished before a
    resume count as done (Tune restores this callback with the run config, counts and all).
    The rich display is made on first use and left out of pickling.
    """

    def __init__(self, total: int, enabled: bool = True, done: int = 0,
                 forecast: Any = None) -> None:
        self.total, self.enabled, self.done, self.errored = total, enabled, done, 0
        self.running: set[str] = set()
        self._progress: Any = None
        # a forecast.ForecastEta: the ETA from the sweep's forecast, corrected by the trials
        # that finished (else rich's own, from the rate of completion)
        self.forecast = forecast
        self._t0 = time.monotonic()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_progress": None, "running": set(), "_t0": None}

    def _shown(self) -> bool:
        env = os.environ.get(PROGRESS_ENV)
        return self.enabled if env is None else env != "0"

    def _count(self, trials: list[Any]) -> None:
        """done / errored / running from the trials' states (Tune's status names)."""
        states = [getattr(t, "status", None) for t in trials]
        self.done = states.count("TERMINATED")
        self.errored = states.count("ERROR")
        self.running = {t.trial_id for t in trials if getattr(t, "status", None) == "RUNNING"}

    def _refresh(self) -> None:
        if self._t0 is None:  # restored by a resume: the forecast's clock starts again
            self._t0 = time.monotonic()
            if self.forecast is not None:  # from the forecast work still left
                self.forecast.restart()
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            eta = TimeRemainingColumn() if self.forecast is None else _ForecastColumn(self)
            self._progress = Progress(
                TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[states]}"), TimeElapsedColumn(), TextColumn("ETA"),
                eta, disable=not self._shown())
            self._task = self._progress.add_task("trials", total=self.total, states="",
                                                 completed=self.done + self.errored)
            self._progress.start()
        pending = max(self.total - self.done - self.errored - len(self.running), 0)
        states = (f"done {self.done}  running {len(self.running)}  pending {pending}  "
                  f"errored {self.errored}")
        self._progress.update(self._task, completed=self.done + self.errored, states=states)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._count(trials)
        self.running.add(trial.trial_id)
        self._refresh()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._count(trials)
        self.running.discard(trial.trial_id)
        if self.forecast is not None:
            from tune_bench.tune_dir import flatten_config

            self.forecast.observe(flatten_config(trial.config),
                                  (trial.last_result or {}).get("time_total_s"))
        if trial.status != "TERMINATED":  # the callback may come before the status is set
            self.done += 1
        self._refresh()

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._count(trials)
        self.running.discard(trial.trial_id)
        if trial.status != "ERROR":
            self.errored += 1
        self._refresh()

    def on_experiment_end(self, trials, **info) -> None:
        if self._progress is not None:
            self._count(trials)
            self._refresh()
            self._progress.stop()


def _ForecastColumn(progress: RichProgress) -> Any:
    """A rich column: the forecast's remaining time (h:mm:ss), read at every refresh."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Column(ProgressColumn):
        def render(self, task: Any) -> Text:
            left = int(progress.forecast.remaining(time.monotonic() - progress._t0))
            return Text(f"{left // 3600}:{left % 3600 // 60:02d}:{left % 60:02d} (forecast)",
                        style="progress.remaining")

    return Column()


class PruneFinishedCheckpoints(tune.Callback):
    """Delete the checkpoints of finished trials once Tune's snapshot knows they finished.

    A finished trial is never run again, so its checkpoint (model and optimizer state: about
    300 MB for a ResNet-50 with Adam) only costs disk. It is removed `grace_s` after the
    trial completed (several experiment snapshots later), and at the end of the sweep, on
    the storage path's filesystem (a local disk or object storage).
    """

    def __init__(self, grace_s: float = 30.0) -> None:
        self.grace_s = grace_s
        self.pending: dict[str, tuple[float, Any]] = {}  # trial id -> (when, (fs, path))

    def __getstate__(self) -> dict[str, Any]:  # pickled with the run config: no filesystems
        return {**self.__dict__, "pending": {}}

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.pending[trial.trial_id] = (time.monotonic(), ray_internals.trial_storage(trial))

    def on_step_end(self, iteration, trials, **info) -> None:
        self._prune(time.monotonic() - self.grace_s)

    def on_experiment_end(self, trials, **info) -> None:
        self._prune(float("inf"))

    def _prune(self, older_than: float) -> None:
        for tid, (t, where) in list(self.pending.items()):
            if t <= older_than:
                if where is not None:
                    delete_checkpoints(*where)
                del self.pending[tid]


def delete_checkpoints(fs: Any, trial_path: str) -> None:
    """Delete the `checkpoint_*` directories of the trial directory `trial_path` on `fs`."""
    import pyarrow.fs

    try:
        infos = fs.get_file_info(pyarrow.fs.FileSelector(trial_path, allow_not_found=True))
    except OSError:
        return
    for info in infos:
        if info.type == pyarrow.fs.FileType.Directory and \
                posixpath.basename(info.path).startswith("checkpoint_"):
            try:
                fs.delete_dir(info.path)
            except OSError:
                pass
