"""The function trainable every trial runs, and its recovery from checkpoints after a kill.

A trial gets its decoded dataset from the driver (`handover`), reads the resources Tune granted
it from its own context, runs its trainer (`tune_bench.plugins`) and checkpoints what the
trainer reports with a state (every ResNet epoch).
"""

from __future__ import annotations

import os
import posixpath
import socket
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray import tune

from tune_bench import tune_dir
from tune_bench.sweep import ray_internals
from tune_bench.sweep.handover import data_key
from tune_bench.tune_dir import flatten_config, trial_label

STATE_FILE = "state.pt"
DONE_MARKER = "COMPLETE"
# Trainable.restore's error for a checkpoint Tune knows that is gone from the storage path
CHECKPOINT_GONE = "does not exist on storage anymore"


def run_trial(config: dict[str, Any], datasets: dict[str, Any] | None = None,
              plugin_paths: tuple[str, ...] = ()) -> None:
    """Tune function trainable: run the trial's trainer (`tune_bench.plugins`) and report.

    Whatever the trainer reports with a state (`tune_bench.report(metrics, state=...)`) is
    checkpointed; when restarted, the trial continues from the newest complete checkpoint
    (Tune's, or a newer one found in the trial directory), every epoch reported once. A
    trainer that reports nothing has its returned metrics reported as the final row.
    """
    import sys

    from tune_bench import plugins, session

    trial_config = flatten_config(config)
    with plugins.search_paths(plugin_paths):  # the space file's directory
        trainer = plugins.resolve(trial_config["trainer"])
    sys.path[:0] = [p for p in plugin_paths if p not in sys.path]  # its model factory & co.
    ctx = tune.get_context()
    resources = granted_resources(ctx)
    threads = max(1, int(resources.get("cpu", 1)))
    split = _handed_over_split(trial_config, datasets or {})
    provenance = {"node_id": ray.get_runtime_context().get_node_id(),
                  "hostname": socket.gethostname(), "resources": resources,
                  "trial_name": trial_label(config), "data_from": "driver",
                  "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "")}

    trial_dir = ray_internals.storage_trial_dir(ctx)
    saved, restored_from, known = _load_newest_state(tune.get_checkpoint(), trial_dir)
    provenance["restored_from_epoch"] = saved["epoch"] if saved else 0
    provenance["restored_from"] = restored_from
    rows: list[dict[str, Any]] = list(saved["rows"]) if saved else []
    if saved is not None:
        # The trial's result.json holds the epochs of the checkpoint Tune knows (`known`), or
        # one more (Tune logs a result before it registers the result's checkpoint). Epochs of
        # a newer checkpoint found on disk that it lacks are reported again from the
        # checkpoint's rows, so that result.json holds every epoch once.
        done = max(known, _recorded_epochs(ctx), _stored_epochs(trial_dir))
        for row in rows[done:]:
            tune.report({**row, **provenance, "replayed": True})
        if rows and rows[-1].get("final"):
            return  # its final row is recorded: finished, nothing to run again

    def on_report(metrics: dict[str, Any], state: Any) -> None:
        metrics.setdefault("epoch", len(rows) + 1)
        rows.append(metrics)
        if state is None:
            tune.report({**metrics, **provenance})
            return
        _report_with_checkpoint({**metrics, **provenance},
                                {"epoch": metrics["epoch"], "rows": rows, "state": state})

    run = session.Session(split, threads, saved["state"] if saved else None, on_report)
    with session.running(run):
        result = trainer(trial_config)
    if rows:
        return  # it reported (now or before a restart): its return value is not a new row
    if not isinstance(result, dict):
        raise TypeError(f"trainer {trial_config['trainer']} returned "
                        f"{type(result).__name__}, not a dict of metrics, and reported nothing")
    tune.report({"final": True, **result, **provenance})


def _report_with_checkpoint(row: dict[str, Any], saved: dict[str, Any]) -> None:
    """`row` to Tune with a checkpoint holding `saved` and its completion marker."""
    import torch

    with tempfile.TemporaryDirectory() as d:
        torch.save(saved, Path(d) / STATE_FILE)
        (Path(d) / DONE_MARKER).write_text(str(saved["epoch"]))
        tune.report(row, checkpoint=tune.Checkpoint.from_directory(d))


def tolerate_missing_checkpoint(cls: type) -> type:
    """`cls` (a Tune trainable class) restoring a trial whose checkpoint is gone as a fresh
    start, which `run_trial` continues from the newest complete checkpoint it finds in the
    trial directory.

    Tune deletes a trial's previous checkpoint as soon as it registers a new one
    (`num_to_keep=1`), while its experiment snapshot reaches remote storage asynchronously:
    after a kill of the driver the snapshot can name a checkpoint that no longer exists, and
    Tune's restore then fails the trial on every retry (seen on S3 after a driver SIGKILL).
    """

    class Tolerant(cls):  # type: ignore[misc, valid-type]
        def restore(self, checkpoint_path: Any) -> Any:
            try:
                return super().restore(checkpoint_path)
            except ValueError as e:
                if CHECKPOINT_GONE not in str(e):
                    raise
                # Tune's bookkeeping (iteration, total time) is already restored from the
                # checkpoint's metrics; the training state comes from the trial directory.
                return None

    # the same class name (trial workers stay `ray::ImplicitFunc` processes); Tune names the
    # trainable after `_name` (a wrapped function's: `run_trial`)
    Tolerant.__name__ = Tolerant.__qualname__ = cls.__name__
    return Tolerant


def granted_resources(ctx: Any) -> dict[str, float]:
    """The CPUs and GPUs Tune granted this trial, e.g. {"cpu": 1} or {"cpu": 0.5, "gpu": 0.5}."""
    granted = ctx.get_trial_resources().required_resources
    out = {}
    for key in ("CPU", "GPU"):
        amount = float(granted.get(key) or 0)
        if amount > 0:
            out[key.lower()] = int(amount) if amount.is_integer() else amount
    return out


def _handed_over_split(trial_config: dict[str, Any], datasets: dict[str, Any]) -> Any:
    """The decoded split the driver put in the object store for this trial (None when its
    config names no dataset)."""
    key = data_key(trial_config)
    if not key:
        return None
    if key not in datasets:
        raise KeyError(f"no decoded dataset {key} was handed over to the trial "
                       f"(have: {', '.join(sorted(datasets)) or 'none'})")
    split = datasets[key]
    return ray.get(split) if isinstance(split, ray.ObjectRef) else split  # zero-copy


# --------------------------------------------------------------------------- recovery


def _read_state(path: Path) -> dict[str, Any] | None:
    import torch

    if not (path / DONE_MARKER).exists() or not (path / STATE_FILE).exists():
        return None
    try:
        saved = torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
    except Exception:  # a checkpoint cut short by a kill: skip it
        return None
    return saved if isinstance(saved, dict) and "rows" in saved else None


def _recorded_epochs(ctx: Any) -> int:
    """The last epoch in the trial's result.json as the driver is writing it, when the driver
    runs on this node (0 when it cannot be read)."""
    staging = ray_internals.driver_staging_dir(ctx)
    if staging is None:
        return 0
    return _last_epoch(tune_dir.read_results(staging))


def _last_epoch(rows: list[dict[str, Any]]) -> int:
    last = 0
    for row in rows:
        try:
            last = max(last, int(row.get("epoch") or 0))
        except (ValueError, TypeError):
            continue
    return last


def _stored_epochs(trial_dir: tuple[Any, str] | None) -> int:
    """The last epoch in the trial's result.json on the storage path (0 when unreadable).

    On a node other than the driver's, the only copy of result.json a trial can read: Tune
    restores the driver's copy from it when a sweep is resumed, so after a kill of the driver
    it holds what the driver's copy holds."""
    if trial_dir is None:
        return 0
    fs, root = trial_dir
    try:
        with fs.open_input_stream(posixpath.join(root, "result.json")) as f:
            data = f.read()
    except OSError:
        return 0
    return _last_epoch(tune_dir.parse_results(data))


def _marked_epoch(fs: Any, path: str) -> int:
    """The epoch in a checkpoint's completion marker (-1 when it has none)."""
    try:
        with fs.open_input_stream(posixpath.join(path, DONE_MARKER)) as f:
            return int(f.read())
    except (OSError, ValueError):
        return -1


def _checkpoint_dirs(fs: Any, trial_dir: str) -> list[str]:
    import pyarrow.fs

    try:
        infos = fs.get_file_info(pyarrow.fs.FileSelector(trial_dir, allow_not_found=True))
    except OSError:
        return []
    return [i.path for i in infos if i.type == pyarrow.fs.FileType.Directory
            and posixpath.basename(i.path).startswith("checkpoint_")]


def _fetch_state(fs: Any, path: str) -> dict[str, Any] | None:
    """The training state in checkpoint directory `path` on `fs` (downloaded first when it is
    not on a local disk); None when incomplete."""
    import pyarrow.fs

    if isinstance(fs, pyarrow.fs.LocalFileSystem):
        return _read_state(Path(path))
    with tempfile.TemporaryDirectory() as tmp:
        for name in (DONE_MARKER, STATE_FILE):
            try:
                pyarrow.fs.copy_files(posixpath.join(path, name), os.path.join(tmp, name),
                                      source_filesystem=fs,
                                      destination_filesystem=pyarrow.fs.LocalFileSystem())
            except OSError:
                return None
        return _read_state(Path(tmp))


def _load_newest_state(ckpt: Any, trial_dir: tuple[Any, str] | None
                       ) -> tuple[dict[str, Any] | None, str, int]:
    """The newest complete training state: Tune's checkpoint or a newer one in storage.

    `trial_dir`: (filesystem, path) of the trial's directory under the storage path, local or
    in object storage. Returns (state, where it came from, the epoch of Tune's checkpoint or
    0). After a hard kill of the driver, Tune's experiment snapshot can lag behind the
    checkpoints already persisted in the trial directory; those are complete when their marker
    exists. Checkpoint numbers restart when Tune restarts a trial it knew no checkpoint of, so
    the epoch in the marker, not the directory name, says which is newest.
    """
    best, where = None, ""
    if ckpt is not None:
        with ckpt.as_directory() as d:
            best, where = _read_state(Path(d)), "tune"
    known = best["epoch"] if best else 0
    if trial_dir is not None:
        fs, root = trial_dir
        found = sorted(((_marked_epoch(fs, d), d) for d in _checkpoint_dirs(fs, root)),
                       reverse=True)
        for epoch, d in found:
            if epoch <= known:
                break
            st = _fetch_state(fs, d)
            if st is not None:
                best, where = st, f"disk:{posixpath.basename(d)}"
                break
    return best, where, known
