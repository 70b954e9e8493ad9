"""Faults that tune-bench survives, shown with the real CLI in subprocesses on tiny data.

Every test starts `python -m tune_bench.cli ...` in a new session (`start_new_session=True`)
with its own Ray temp root (`RAY_TMPDIR`), so the Ray session directories under it are this
test's alone. Afterwards it kills exactly what it started: the CLI's process group, then any
process of that Ray session that is left (processes whose session id is the CLI's pid, e.g.
Ray workers in their own process groups, and processes whose command line names the session
directory, e.g. raylet and the agents after a SIGKILL). Other tests and developers run Ray on
the same machine at the same time; nothing else is touched.

The sweeps are small: `tests/spaces/rel_*.yaml`, 1 CPU per trial, `--num-cpus 2`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.idx_utils import make_fake_root

SPACES = Path(__file__).parent / "spaces"
CLI = [sys.executable, "-m", "tune_bench.cli"]
QUIET = ["--no-progress", "--no-tables"]
RUN_TIMEOUT = 240  # seconds a whole sweep or resume may take here (2 shared cores)
# An environment variable no result file may contain (results hold no environment dumps).
SENTINEL = "tune-bench-test-sentinel-4f1d0c"


# --------------------------------------------------------------------------- processes


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


class Processes:
    """The CLI processes one test starts and the Ray sessions they bring up."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        # A short root: Ray's unix sockets live under it and their paths are limited in length.
        self.ray_root = Path(tempfile.mkdtemp(prefix="tbrel", dir="/tmp"))
        self.leaders: list[int] = []
        self.runs: list[Cli] = []

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "TUNE_BENCH_DATA_DIR"}
        # CUDA hidden: these sweeps are CPU-only, and GPU trials must meet a GPU-less Ray
        env.update(RAY_TMPDIR=str(self.ray_root), RAY_USAGE_STATS_ENABLED="0",
                   PYTHONUNBUFFERED="1", CUDA_VISIBLE_DEVICES="", TUNE_BENCH_SENTINEL=SENTINEL)
        return env

    def sessions(self) -> list[str]:
        """Names of the Ray session directories this test's runs created."""
        d = self.ray_root / "ray"
        return sorted(p.name for p in d.glob("session_2*")) if d.is_dir() else []

    def leftovers(self) -> list[int]:
        """Live processes of this test's CLIs or their Ray sessions (never anyone else's)."""
        names = self.sessions()
        me = os.getpid()
        found = []
        for pid in _all_pids():
            if pid == me or not _alive(pid):
                continue
            cmd = _cmdline(pid)
            try:
                sid = os.getsid(pid)
            except OSError:
                continue
            mine = sid in self.leaders and ("ray" in cmd or "tune_bench" in cmd)
            if mine or (cmd and any(n in cmd for n in names)):
                found.append(pid)
        return found

    def kill_leftovers(self, wait_s: float = 20.0) -> list[int]:
        """SIGKILL what `leftovers` finds until nothing is left; returns what survived."""
        deadline = time.monotonic() + wait_s
        while True:
            pids = self.leftovers()
            if not pids or time.monotonic() > deadline:
                return pids
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)

    def cli(self, *args: str, name: str | None = None, command: list[str] | None = None
            ) -> Cli:
        """Start `python -m tune_bench.cli ARGS` (or `command` + ARGS)."""
        run = Cli(list(args), self, name or f"run{len(self.runs)}", command)
        self.runs.append(run)
        self.leaders.append(run.proc.pid)
        return run

    def close(self) -> list[int]:
        for run in self.runs:
            run.killpg(signal.SIGKILL)
            run.reap()
        survivors = self.kill_leftovers()
        if not survivors:
            shutil.rmtree(self.ray_root, ignore_errors=True)
        return survivors

    def listening(self, leader: int) -> list[tuple[int, str, int]]:
        """(pid, address, port) of the TCP sockets listening in the session of CLI `leader`."""
        addr = _listening_sockets()
        out = []
        for pid in _all_pids():
            try:
                if os.getsid(pid) != leader:
                    continue
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:[") and int(link[8:-1]) in addr:
                        out.append((pid, *addr[int(link[8:-1])]))
            except OSError:
                continue
        return out


def _listening_sockets() -> dict[int, tuple[str, int]]:
    """socket inode -> (address, port) of every listening TCP socket (/proc/net/tcp{,6})."""
    out = {}
    for path, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = Path(path).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A":  # LISTEN
                continue
            hexaddr, port = f[1].split(":")
            raw = bytes.fromhex(hexaddr)  # 32-bit words in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            out[int(f[9])] = (socket.inet_ntop(family, raw), int(port, 16))
    return out


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "::ffff:127.0.0.1") or \
        address.startswith("::ffff:127.")


class Cli:
    """One `python -m tune_bench.cli` in its own session; output to files (no pipe stalls)."""

    def __init__(self, args: list[str], procs: Processes, name: str,
                 command: list[str] | None = None) -> None:
        self.args = args
        self.out_path = procs.tmp / f"{name}.stdout"
        self.err_path = procs.tmp / f"{name}.stderr"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen((command or CLI) + args, stdout=out, stderr=err,
                                         cwd=procs.tmp, env=procs.env, start_new_session=True)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.killpg(signal.SIGKILL)
            self.reap()
            pytest.fail(f"tune-bench {' '.join(self.args)} did not end within {timeout} s\n"
                        f"stderr tail:\n{self.stderr[-3000:]}")

    def killpg(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def reap(self) -> None:
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def describe(self) -> str:
        return (f"tune-bench {' '.join(self.args)} -> {self.proc.returncode}\n"
                f"--- stdout tail\n{self.stdout[-2000:]}\n--- stderr tail\n{self.stderr[-4000:]}")


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Starts CLIs for a test; afterwards kills what they left and checks nothing survives."""
    p = Processes(tmp_path)
    try:
        yield p
    finally:
        survivors = p.close()
    assert not survivors, f"processes of this test's Ray sessions survived: {survivors}"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_root(tmp_path_factory.mktemp("reldata"), n_train=600, n_test=200)


def wait_for(cond: Callable[[], Any], timeout: float, what: str, run: Cli | None = None,
             every: float = 0.2) -> Any:
    """Poll `cond` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        if run is not None and not run.running():
            pytest.fail(f"the CLI ended before {what}\n{run.describe()}")
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what}"
                + (f"\n{run.describe()}" if run else ""))


def assert_clean_exit(procs: Processes, run: Cli, grace_s: float = 20.0) -> None:
    """After a normal exit, Ray's shutdown must have stopped every process of its session."""
    deadline = time.monotonic() + grace_s
    while procs.leftovers() and time.monotonic() < deadline:
        time.sleep(0.5)
    left = procs.leftovers()
    assert not left, (f"after '{' '.join(run.args)}' exited, processes of its Ray session "
                      f"were still running: {[(p, _cmdline(p)[:80]) for p in left]}")


# --------------------------------------------------------------------------- experiment files


def snapshot_status(exp: Path) -> dict[str, str]:
    """trial dir name -> status, from Tune's newest experiment snapshot (JSON, no unpickling)."""
    files = sorted(exp.glob("experiment_state-*.json"))
    if not files:
        return {}
    try:
        data = json.loads(files[-1].read_text())
        out = {}
        for info, _runtime in data["trial_data"]:
            info = json.loads(info) if isinstance(info, str) else info
            out[info["relative_logdir"]] = info["status"]
        return out
    except (OSError, ValueError, KeyError, TypeError):  # being rewritten right now
        return {}


def snapshot_runtime(exp: Path) -> dict[str, dict[str, Any]]:
    """trial dir name -> Tune's runtime metadata (num_failures, ...) from the snapshot."""
    data = json.loads(sorted(exp.glob("experiment_state-*.json"))[-1].read_text())
    out = {}
    for info, runtime in data["trial_data"]:
        info = json.loads(info) if isinstance(info, str) else info
        out[info["relative_logdir"]] = json.loads(runtime) if isinstance(runtime, str) else runtime
    return out


def results(trial_dir: Path) -> list[dict[str, Any]]:
    f = trial_dir / "result.json"
    if not f.exists():
        return []
    return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]


def complete_checkpoints(trial_dir: Path) -> list[int]:
    """Epochs of the trial's checkpoints that are fully persisted: the COMPLETE marker (see
    sweep.py) and a whole state.pt. Tune copies a checkpoint's files into the trial directory
    in no particular order, so the marker can be there before state.pt is written out; a
    torch.save file is a zip whose central directory comes last."""
    epochs = []
    for d in trial_dir.glob("checkpoint_*"):
        try:
            epoch = int((d / "COMPLETE").read_text())
            with zipfile.ZipFile(d / "state.pt"):
                pass
        except (OSError, ValueError, zipfile.BadZipFile):
            continue
        epochs.append(epoch)
    return sorted(epochs)


def no_environment_in(exp: Path) -> None:
    """No file of the experiment (results, checkpoints, Tune's state) holds the value of an
    environment variable of the CLI: nothing dumps the environment."""
    for f in exp.rglob("*"):
        if f.is_file():
            assert SENTINEL.encode() not in f.read_bytes(), f"{f} holds the environment"


def trial_dirs(exp: Path, prefix: str = "") -> list[Path]:
    return sorted(d for d in exp.iterdir() if d.is_dir() and d.name.startswith(prefix))


def file_state(trial_dir: Path) -> dict[str, Any]:
    """What a finished trial left: its files' sizes and mtimes (a re-run would change them)."""
    out = {}
    for f in ("result.json", "progress.csv", "params.json"):
        p = trial_dir / f
        if p.exists():
            st = p.stat()
            out[f] = (st.st_size, st.st_mtime_ns)
    return out


# --------------------------------------------------------------------------- helpers


def sweep_args(space: str, storage: Path, data: Path, *extra: str) -> list[str]:
    return ["sweep", str(SPACES / space), "--storage-path", str(storage), "--data-dir", str(data),
            "--num-cpus", "2", *QUIET, *extra]


def resume_args(exp: Path, *extra: str) -> list[str]:
    return ["resume", str(exp), "--num-cpus", "2", *QUIET, *extra]


def kill_hard(procs: Processes, run: Cli) -> None:
    """SIGKILL the CLI's process group, then what its Ray session left behind."""
    run.killpg(signal.SIGKILL)
    run.reap()
    assert run.proc.returncode == -signal.SIGKILL, run.describe()
    survivors = procs.kill_leftovers()
    assert not survivors, f"could not stop the killed sweep's Ray processes: {survivors}"


def finished(exp: Path) -> list[str]:
    return [k for k, v in snapshot_status(exp).items() if v == "TERMINATED"]


def epochs_of(trial_dir: Path) -> int:
    params = json.loads((trial_dir / "params.json").read_text())
    return params.get("epochs") or params["variant"]["epochs"]


def checkpointed_resnets(exp: Path) -> dict[str, int]:
    """Unfinished ResNet trials (per Tune's snapshot) with a persisted checkpoint before their
    last epoch: trial dir -> newest checkpointed epoch."""
    status = snapshot_status(exp) if exp.is_dir() else {}
    out = {}
    for d in trial_dirs(exp, "resnet") if exp.is_dir() else []:
        try:
            # at least two epochs to go: the trial cannot finish between this look and the kill
            done = [e for e in complete_checkpoints(d) if e < epochs_of(d) - 1]
        except (OSError, ValueError, KeyError):
            continue
        if status.get(d.name) not in (None, "TERMINATED") and done:
            out[d.name] = done[-1]
    return out


def ordered_epochs_once(trial_dir: Path, epochs: int) -> None:
    """result.json holds every epoch exactly once, in order: none lost, none duplicated."""
    got = [r["epoch"] for r in results(trial_dir)]
    assert got == list(range(1, epochs + 1)), f"{trial_dir.name}: epochs in result.json: {got}"


def continued_from(trial_dir: Path, epoch: int, epochs: int) -> None:
    """After a restart, training went on from a checkpoint of `epoch` or later: the rows
    trained after it record `restored_from_epoch` >= epoch and no earlier epoch was re-run.
    (Rows marked `replayed` were reported again from the checkpoint's history, not trained.)"""
    rows = results(trial_dir)
    trained = [r for r in rows if not r.get("replayed")]
    after = [r for r in trained if r.get("restored_from_epoch", 0) >= epoch]
    assert after, (trial_dir.name, epoch, [(r.get("epoch"), r.get("restored_from_epoch"),
                                            r.get("restored_from")) for r in rows])
    start = after[0]["restored_from_epoch"]
    assert [r["epoch"] for r in after] == list(range(start + 1, epochs + 1)), after


# --------------------------------------------------------------------------- SIGKILL + resume


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_driver_twice_then_resume(procs: Processes, data_root: Path, tmp_path: Path):
    """The driver SIGKILLed at three points, each followed by `tune-bench resume`:
    (0) at start-up, after tune-bench saved the search space but before Tune saved any state:
        resume runs the sweep from the start;
    (1) during the first trials;
    (2) right after a checkpoint of an unfinished ResNet trial, once another trial finished.
    The last resume completes (exit 0); finished trials are not run again; the interrupted
    ResNet trial continues from its checkpointed epoch; no epoch is lost or reported twice.
    One more resume says there is nothing to resume."""
    storage = tmp_path / "results"
    exp = storage / "rel_kill"
    spec = exp / "tune_bench_spec.json"

    # kill 0: at start-up. Tune may write its first files a moment after the space is saved;
    # what a kill in between leaves is the space alone, so anything else is removed.
    run = procs.cli(*sweep_args("rel_kill.yaml", storage, data_root), name="sweep")
    wait_for(spec.exists, 150, "the saved search space", run, every=0.05)
    kill_hard(procs, run)
    for f in exp.iterdir():
        if f != spec:
            shutil.rmtree(f) if f.is_dir() else f.unlink()

    # kill 1: in the resumed run (a fresh start), during the first trials (Tune's snapshot
    # shows a trial running)
    run = procs.cli(*resume_args(exp), name="resume0")
    wait_for(lambda: "RUNNING" in snapshot_status(exp).values(), 150, "a running trial", run,
             every=0.1)
    kill_hard(procs, run)
    done_1 = {d: file_state(exp / d) for d in finished(exp)}

    # kill 2: in the resumed run, right after a checkpoint of an unfinished ResNet trial,
    # once a trial has finished
    run = procs.cli(*resume_args(exp), name="resume1")

    def point_2():
        return finished(exp) and checkpointed_resnets(exp)

    wait_for(point_2, 200, "a finished trial and a checkpointed unfinished ResNet trial", run,
             every=0.1)
    kill_hard(procs, run)
    done_2 = {d: file_state(exp / d) for d in finished(exp)}
    ckpt_2 = checkpointed_resnets(exp)
    assert done_2 and ckpt_2

    # the final resume completes every trial
    run = procs.cli(*resume_args(exp), name="resume2")
    assert run.wait() == 0, run.describe()
    assert_clean_exit(procs, run)
    status = snapshot_status(exp)
    assert sorted(status.values()) == ["TERMINATED"] * 3, status
    for d in trial_dirs(exp):
        rows = results(d)
        assert rows and rows[-1].get("final"), (d.name, rows[-1:])
    for d, before in {**done_1, **done_2}.items():
        assert file_state(exp / d) == before, f"{d} finished before a kill but ran again"
    for d, epoch in ckpt_2.items():
        continued_from(exp / d, epoch, epochs_of(exp / d))
    for d in trial_dirs(exp, "resnet"):
        ordered_epochs_once(d, epochs_of(d))
    no_environment_in(exp)

    # and once more: nothing to resume (no Ray started)
    sessions = procs.sessions()
    run = procs.cli(*resume_args(exp), name="resume3")
    assert run.wait(timeout=60) == 0, run.describe()
    assert "nothing to resume" in run.stderr and procs.sessions() == sessions


# --------------------------------------------------------------------------- other faults


def _worker_of(leader: int, trial_dir_name: str) -> int | None:
    """The Ray worker running trial `trial_dir_name` in the session of CLI `leader`: a
    `ray::ImplicitFunc` process whose working directory is that trial's (Tune changes into
    the trial's working directory)."""
    for pid in _all_pids():
        try:
            if os.getsid(pid) != leader or not _cmdline(pid).startswith("ray::ImplicitFunc"):
                continue
            if os.readlink(f"/proc/{pid}/cwd").endswith(trial_dir_name):
                return pid
        except OSError:
            continue
    return None


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_killed_worker_retried_then_ctrl_c_then_resume(procs: Processes, data_root: Path,
                                                       tmp_path: Path):
    """(1) SIGKILL of the Ray worker running a ResNet trial, once, after its first checkpoint:
    the trial is retried (--max-failures 1) from that checkpoint. (2) Ctrl+C (SIGINT to the
    CLI's process group) after a later checkpoint: exit 130, state saved, the message names
    `tune-bench resume <dir>`, Ray shut down. (3) resume: exit 0, the ResNet trial goes on
    from its checkpoint, the finished SVM trial is kept, every epoch is in result.json once."""
    storage = tmp_path / "results"
    exp = storage / "rel_one"
    run = procs.cli(*sweep_args("rel_one.yaml", storage, data_root, "--max-failures", "1"),
                    name="sweep")

    # (1) the worker of the ResNet trial, killed right after its first checkpoint
    def target() -> tuple[int, int, str] | None:
        ck = checkpointed_resnets(exp)
        for d, epoch in ck.items():
            pid = _worker_of(run.proc.pid, d)
            if pid and epoch <= 2:
                return pid, epoch, d
        return None

    pid, epoch_1, name = wait_for(target, 150, "a checkpointed ResNet trial and its worker",
                                  run, every=0.1)
    # (security) the local Ray this sweep started listens on the loopback interface only
    sockets = procs.listening(run.proc.pid)
    assert sockets and all(_loopback(a) for _, a, _ in sockets), sockets
    os.kill(pid, signal.SIGKILL)

    # (2) Ctrl+C once the retried trial has checkpointed a later epoch
    wait_for(lambda: checkpointed_resnets(exp).get(name, 0) > epoch_1, 150,
             "a checkpoint of the retried trial", run, every=0.1)
    epoch_2 = checkpointed_resnets(exp)[name]
    run.killpg(signal.SIGINT)
    assert run.wait(timeout=120) == 130, run.describe()
    hint = [ln for ln in run.stderr.splitlines() if "tune-bench resume" in ln]
    assert hint and hint[-1].endswith(f"tune-bench resume {exp}"), run.describe()
    assert_clean_exit(procs, run)
    assert int(snapshot_runtime(exp)[name]["num_failures"]) == 1
    done = {d: file_state(exp / d) for d in finished(exp)}
    assert any(d.startswith("svm") for d in done), snapshot_status(exp)

    # (3) resume
    run = procs.cli(*resume_args(exp), name="resume")
    assert run.wait() == 0, run.describe()
    assert_clean_exit(procs, run)
    assert sorted(snapshot_status(exp).values()) == ["TERMINATED"] * 2
    for d, before in done.items():
        assert file_state(exp / d) == before, f"{d} finished before Ctrl+C but ran again"
    rows = results(exp / name)
    retried = [r for r in rows if r["epoch"] == epoch_1 + 1 and not r.get("replayed")]
    assert retried and retried[0]["restored_from_epoch"] >= epoch_1, rows
    continued_from(exp / name, epoch_2, epochs_of(exp / name))
    ordered_epochs_once(exp / name, epochs_of(exp / name))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_trial_raising_at_run_time(procs: Processes, data_root: Path, tmp_path: Path):
    """A trial that raises (n_train too large for a stratified subset of the generated data):
    it is ERROR with its message, the other trials finish, exit 1 with the errored trial listed
    on stderr; `status` shows the error too. (The space's GPU trial is dropped with a one-line
    warning: --drop-gpu-trials on a Ray without GPUs.)"""
    storage = tmp_path / "results"
    exp = storage / "rel_error"
    run = procs.cli(*sweep_args("rel_error.yaml", storage, data_root, "--max-failures", "1",
                                "--drop-gpu-trials"), name="sweep")
    assert run.wait() == 1, run.describe()
    assert_clean_exit(procs, run)
    err = run.stderr.splitlines()
    assert err.count("warning: dropped 1 GPU trial(s): the Ray cluster has no GPU") == 1, err
    i = next(i for i, ln in enumerate(err) if "1 trial(s) errored:" in ln)
    assert "cannot draw a stratified subset of 415" in err[i + 1], err[i:]
    assert len(err) == i + 2 and "Traceback" not in run.stderr[run.stderr.index(err[i]):]
    assert ": 3 trials: 2 finished, 1 errored" in run.stdout, run.stdout
    status = snapshot_status(exp)
    assert sorted(status.values()) == ["ERROR", "TERMINATED", "TERMINATED"], status
    for d in trial_dirs(exp):
        if status[d.name] == "ERROR":
            assert err[i + 1].strip().startswith(d.name + ":")
            assert "stratified subset of 415" in (d / "error.txt").read_text()
        else:
            rows = results(d)
            assert rows[-1]["final"] and rows[-1]["n_train_used"] in (100, 200)

    no_environment_in(exp)

    st = procs.cli("status", str(exp), name="status")
    assert st.wait(timeout=60) == 0, st.describe()
    assert "stratified subset of 415" in st.stdout, st.describe()
    an = procs.cli("analyze", str(exp), name="analyze")
    assert an.wait(timeout=60) == 0, an.describe()
    assert "ERROR" in an.stdout, an.describe()  # counted in the trials-per-state table


# --------------------------------------------------------------------------- storage


def _no_ray_started(procs: Processes) -> None:
    assert not procs.sessions(), f"Ray was started: {procs.sessions()}"


def _one_error_line(run: Cli) -> str:
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.describe()
    assert "Traceback" not in run.stderr
    return lines[0]


def test_storage_path_not_a_directory(procs: Processes, data_root: Path, tmp_path: Path):
    """A storage path below a regular file (unwritable, even for root): exit 4, one line
    naming the path, no Ray started, nothing written."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    run = procs.cli(*sweep_args("rel_one.yaml", blocker / "results", data_root))
    assert run.wait(timeout=120) == 4, run.describe()
    line = _one_error_line(run)
    assert str(blocker / "results") in line and "not writable" in line, line
    _no_ray_started(procs)
    after = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("run"))
    assert after == before and blocker.read_text() == "a file, not a directory\n"


def test_storage_path_nearly_full(procs: Processes, data_root: Path, tmp_path: Path):
    """Less free space than tune-bench needs (a disk 1 KiB short of full, faked by replacing
    shutil.disk_usage in the CLI's process): exit 4, one line, no Ray started, no experiment."""
    storage = tmp_path / "results"
    fake = ("import shutil, sys; from tune_bench.cli import main; "
            "shutil.disk_usage = lambda p: shutil._ntuple_diskusage(2**40, 2**40 - 1024, 1024); "
            "sys.argv[0] = 'tune-bench'; main()")
    run = procs.cli(*sweep_args("rel_one.yaml", storage, data_root),
                    command=[sys.executable, "-c", fake])
    assert run.wait(timeout=120) == 4, run.describe()
    line = _one_error_line(run)
    assert str(storage) in line and "MiB free" in line, line
    _no_ray_started(procs)
    assert not (storage / "rel_one").exists()
