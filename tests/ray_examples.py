"""Run Ray Tune's own example scripts (shipped in the installed wheel) unmodified, in a
subprocess, with their results redirected into a directory of ours.

How the redirection works (Ray 2.60, checked in its source):
- The examples pass no ``storage_path``, so Tune uses ``ray.train.constants.DEFAULT_STORAGE_PATH
  = Path("~/ray_results").expanduser()``, evaluated when Ray is imported. There is no
  environment variable for it (``TUNE_RESULT_DIR`` and ``RAY_AIR_LOCAL_CACHE_DIR`` make
  ``tune.run`` raise a DeprecationWarning). So the child gets ``HOME=storage`` and its
  experiment lands in ``storage/ray_results/<experiment>``.
- The scripts call ``ray.init()`` (or nothing: Tune calls it) without an address. Ray then joins
  an existing instance only when ``RAY_ADDRESS`` is set or when
  ``<ray temp dir>/ray_current_cluster`` exists (written by ``ray start`` only, never by an
  in-process ``ray.init()`` such as tests/conftest.py's ``ray_session``). The child gets no
  ``RAY_ADDRESS`` and its own short ``RAY_TMPDIR`` (Ray's temp dir is ``$RAY_TMPDIR/ray``), so
  it always starts a private local instance, whatever else runs on the machine.
- ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (as tests/conftest.py sets) makes Ray's node IP
  127.0.0.1.
The child runs in a new session; on timeout its process group is killed, and in every case
whatever still names the run's private Ray temp dir on its command line (Ray's workers run in
process groups of their own and can outlive a killed driver) is killed too.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Variables that would point the child's Ray at another cluster or another storage.
_DROPPED_ENV = ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE",
                "TUNE_RESULT_DIR", "RAY_AIR_LOCAL_CACHE_DIR", "RAY_STORAGE", "TMPDIR")
SMOKE_FLAG = "--smoke-test"


class ExampleFailed(RuntimeError):
    """An example script failed, timed out, or produced no single experiment directory."""


def examples_dir() -> Path:
    """Ray Tune's example scripts in the installed wheel (found without importing Ray)."""
    spec = importlib.util.find_spec("ray")
    if spec is None or not spec.submodule_search_locations:
        raise ExampleFailed("ray is not installed")
    return Path(next(iter(spec.submodule_search_locations)), "tune", "examples")


def example_script(name: str) -> Path:
    """The installed script of example `name` (e.g. ``tune_basic_example``)."""
    script = examples_dir() / f"{name.removesuffix('.py')}.py"
    if not script.is_file():
        raise ExampleFailed(f"no Ray Tune example {name!r} in {examples_dir()}")
    return script


def example_env(home: Path, ray_tmpdir: Path) -> dict[str, str]:
    """The child's environment: ours, minus cluster/storage pointers, with HOME and RAY_TMPDIR
    redirected and Ray kept on 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update({
        "HOME": str(home),
        "RAY_TMPDIR": str(ray_tmpdir),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONUNBUFFERED": "1",
    })
    if site.ENABLE_USER_SITE:  # packages in the real ~/.local stay visible under the new HOME
        env.setdefault("PYTHONUSERBASE", site.getuserbase())
    return env


def _kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, the process group we started (its leader is `proc`)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _pids_using(marker: str) -> list[int]:
    """Processes whose command line mentions `marker` (this run's private Ray temp dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def _kill_ray_leftovers(ray_tmpdir: Path, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, what is left of this run's Ray: its workers run in process groups
    of their own (a killed driver's group does not take them along), but every one of them
    names the run's private temp dir on its command line."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _pids_using(str(ray_tmpdir))
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _pids_using(str(ray_tmpdir)):
            time.sleep(0.2)


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _states(results: Path) -> set[Path]:
    """Tune's experiment state files under `results` (one level down)."""
    return set(results.glob("*/experiment_state-*.json"))


def run_example(name: str, storage: Path, smoke: bool = True, timeout: float = 300) -> Path:
    """Run Ray Tune example `name` unmodified (``--smoke-test`` when `smoke`) with
    ``HOME=storage``; return its experiment directory ``storage/ray_results/<experiment>``.

    Raises ExampleFailed (with the tail of the script's stderr) when it exits non-zero, runs
    past `timeout` seconds (its process group is killed) or leaves not exactly one experiment.
    The script's stdout/stderr are kept in ``storage/<name>.stdout`` / ``.stderr``; the wall time
    in ``storage/<name>.wall_s``.
    """
    script = example_script(name)
    storage = Path(storage).absolute()
    storage.mkdir(parents=True, exist_ok=True)
    results = storage / "ray_results"
    before = _states(results)
    # Short and private: Ray's unix socket paths must stay under ~107 characters.
    ray_tmpdir = Path(tempfile.mkdtemp(prefix="rx", dir="/tmp"))
    out_path, err_path = storage / f"{name}.stdout", storage / f"{name}.stderr"
    cmd = [sys.executable, str(script), *([SMOKE_FLAG] if smoke else [])]
    start = time.monotonic()
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, cwd=storage, env=example_env(storage, ray_tmpdir),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise ExampleFailed(f"{name} ran past {timeout:.0f} s and was killed; stderr "
                                    f"tail:\n{_tail(err_path)}") from None
            except BaseException:
                _kill_group(proc)
                raise
            _kill_group(proc, grace=1.0)  # leftovers of the group, if any
    finally:
        _kill_ray_leftovers(ray_tmpdir)
        shutil.rmtree(ray_tmpdir, ignore_errors=True)
    (storage / f"{name}.wall_s").write_text(f"{time.monotonic() - start:.1f}\n")
    if code != 0:
        raise ExampleFailed(f"{name} exited {code}; stderr tail:\n{_tail(err_path)}")
    # Identified by a new experiment_state file: several examples share a name (hyperband_test).
    new = sorted({state.parent for state in _states(results) - before})
    if len(new) != 1:
        raise ExampleFailed(f"{name} left {len(new)} experiment directories in {results} "
                            f"({[p.name for p in new]}); stderr tail:\n{_tail(err_path)}")
    return new[0]
