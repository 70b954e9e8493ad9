"""Errors that the CLI turns into one line and a documented exit code."""

from __future__ import annotations


class TuneBenchError(Exception):
    """Base class: a user-facing error with a one-line message and an exit code."""

    exit_code = 1


class ConfigError(TuneBenchError, ValueError):
    """Invalid configuration, search-space file or command-line value (exit 2)."""

    exit_code = 2


class DataError(TuneBenchError):
    """A dataset that is missing, truncated or corrupted (exit 3)."""

    exit_code = 3


class ResourceError(TuneBenchError):
    """Resources that cannot be had: GPUs on a cluster without any, unwritable storage (exit 4)."""

    exit_code = 4


class ExperimentError(TuneBenchError):
    """An experiment directory that cannot be resumed, read or analyzed (exit 5)."""

    exit_code = 5


# Exit codes used by the CLI besides the ones above.
EXIT_TRIALS_FAILED = 1  # the sweep ran, but some trials errored
EXIT_INTERRUPTED = 130  # Ctrl+C: state saved, resume possible
