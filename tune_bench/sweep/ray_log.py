"""Ray's own output in a log file, not on the terminal.

While a sweep's Ray session runs, whatever is written to the process's stderr (file
descriptor 2) goes to a log file: Ray's Python loggers (Tune's "Resume experiment with:
Tuner.restore(...)", "Failed to fetch metrics", snapshot warnings), its C++ core worker and
Python warnings. tune-bench's own lines go to the terminal: the phases and the progress display
on stdout, and, once the session is over, its notes, hints and one-line errors on stderr.

The log starts in a temporary file (nothing is written to the storage path before the pre-flight
checks pass) and moves to the experiment directory (`LOG_FILE`) once that exists, or, when the
experiment lives in object storage, to a local directory (`local_log_dir`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

LOG_FILE = "tune_bench_ray.log"


def local_log_dir() -> Path:
    """Where the Ray log of an experiment in object storage is kept:
    $TUNE_BENCH_LOG_DIR, else ~/.cache/tune-bench/logs."""
    env = os.environ.get("TUNE_BENCH_LOG_DIR")
    return Path(env) if env else Path.home() / ".cache" / "tune-bench" / "logs"


class RayLog:
    """Context manager: file descriptor 2 redirected to a log file while it is open."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self._file = None
        self._saved: int | None = None

    def __enter__(self) -> RayLog:
        fd, name = tempfile.mkstemp(prefix="tune-bench-ray-", suffix=".log")
        self._file = os.fdopen(fd, "ab", buffering=0)
        self.path = Path(name)
        self._temporary = True
        sys.stderr.flush()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def keep_in(self, path: Path) -> Path:
        """Move the log to `path` (appending to an earlier run's log there) and go on writing
        to it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        sys.stderr.flush()
        final = open(path, "ab", buffering=0)  # noqa: SIM115  (closed in __exit__)
        final.write(f"--- tune-bench {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        assert self.path is not None and self._file is not None
        with open(self.path, "rb") as tmp:
            shutil.copyfileobj(tmp, final)
        os.dup2(final.fileno(), 2)
        self._file.close()
        self.path.unlink(missing_ok=True)
        self._file, self.path, self._temporary = final, path, False
        return path

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        sys.stderr.flush()
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None
        if self._file is not None:
            self._file.close()
        if self._temporary and self.path is not None:
            from tune_bench.errors import TuneBenchError

            if kind is None or issubclass(kind, TuneBenchError | KeyboardInterrupt):
                self.path.unlink(missing_ok=True)  # refused or stopped at once: nothing to keep
            else:
                print(f"Ray's log: {self.path}", file=sys.stderr)
