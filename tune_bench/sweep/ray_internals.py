"""The Ray internals tune-bench relies on, in one place. Checked against Ray 2.60.0.

pyproject.toml pins Ray to the versions these were checked against (`ray[tune]>=2.60,<2.61`);
before widening the pin, check each one below against the new Ray's source. Every use that can
fail degrades gracefully: the resume path then falls back to Tune's own checkpoint.

- `tune.get_context().get_storage()` (developer API; a `ray.train._internal.storage.
  StorageContext`) and, on the driver, `Trial.storage` (the same class): `storage_filesystem`
  (a pyarrow filesystem: local, S3, GCS...), `trial_fs_path` (the trial's directory on it,
  where its checkpoints persist) and `trial_driver_staging_path` (the directory
  where the driver writes the trial's result.json before syncing it to the storage path).
- `ray._private.ray_constants.ENABLE_RAY_CLUSTER` and the `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`
  variable: with cluster mode off, a local Ray uses the loopback address only.
- the logger `ray._private.authentication.authentication_token_setup`: warns on stderr that a
  new local cluster uses token authentication.
"""

from __future__ import annotations

import logging
import os
from typing import Any


def storage_trial_dir(ctx: Any) -> tuple[Any, str] | None:
    """(filesystem, path) of the trial's directory under the storage path, where its
    checkpoints persist: a local directory or a prefix in object storage.

    `ctx.get_trial_dir()` is the worker's working directory under /tmp/ray, which holds none.
    """
    try:
        storage = ctx.get_storage()
        return storage.storage_filesystem, storage.trial_fs_path
    except Exception:  # not in a Tune session, or a Ray without this (developer) API
        return None


def trial_storage(trial: Any) -> tuple[Any, str] | None:
    """(filesystem, path) of a `Trial`'s directory under the storage path, on the driver
    (`Trial.storage`, a StorageContext)."""
    try:
        return trial.storage.storage_filesystem, trial.storage.trial_fs_path
    except Exception:  # a Ray without these attributes
        return None


def driver_staging_dir(ctx: Any) -> str | None:
    """The directory where the driver writes this trial's result.json (readable when the
    driver runs on this node); None without the (developer) API."""
    try:
        return str(ctx.get_storage().trial_driver_staging_path)
    except Exception:  # not in a Tune session, or a Ray without this (developer) API
        return None


def loopback_only() -> None:
    """Keep a local Ray on 127.0.0.1.

    Ray resolves "127.0.0.1" to the machine's outward address on Linux unless its cluster mode
    is off; off, every node address is the loopback one. The variable is inherited by the Ray
    processes this driver starts.
    """
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def quiet_token_warning() -> None:
    """Ray 2.60 turns token authentication on for a new local cluster and says so with a
    warning on stderr, which was a second line before every one-line error: keep it quiet."""
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR)
