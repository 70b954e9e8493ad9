"""What a person sees on a terminal: the real CLI in a pseudo-terminal 160 columns wide.

A sweep shows its phases as they happen and ends with a summary that fits one screen; Ray's
own log lines never reach the terminal (they are in the experiment's `tune_bench_ray.log`);
after Ctrl+C our resume hint is the only one, `status` says "interrupted" with the command to
continue, and the progress of the resume counts the trials finished before it.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.idx_utils import make_fake_root

SPACES = Path(__file__).parent / "spaces"
CLI = [sys.executable, "-m", "tune_bench.cli"]
COLUMNS = 160
# Lines Ray writes on its own: none may reach the terminal.
RAY_NOISE = ("Tuner.restore", "Resume experiment with", "Failed to fetch metrics",
             "snapshotting has been triggered", "WARNING", " INFO ", "Traceback",
             "ray.tune", "(raylet)", "core_worker")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def plain(text: str) -> str:
    """Terminal output without escape sequences; carriage returns as line ends."""
    return _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


class Terminal:
    """Runs the CLI with stdin/stdout/stderr on a pseudo-terminal of COLUMNS x 50."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="tbpty", dir="/tmp"))
        self.leaders: list[int] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "TUNE_BENCH_DATA_DIR"}
        env.update(COLUMNS=str(COLUMNS), LINES="50", TERM="xterm-256color",
                   RAY_TMPDIR=str(self.ray_tmp), RAY_USAGE_STATS_ENABLED="0",
                   CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")
        return env

    def run(self, *args: str, interrupt_after: str | None = None,
            timeout: float = 240) -> tuple[int, str]:
        """(exit code, everything the terminal showed); SIGINT to the process group once
        `interrupt_after` (a regex) has appeared in the plain output."""
        main, sub = pty.openpty()
        fcntl.ioctl(sub, termios.TIOCSWINSZ, struct.pack("HHHH", 50, COLUMNS, 0, 0))
        proc = subprocess.Popen(CLI + list(args), stdin=sub, stdout=sub, stderr=sub,
                                env=self.env(), cwd=self.tmp, start_new_session=True)
        self.leaders.append(proc.pid)
        os.close(sub)
        buf, sent, deadline = b"", False, time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([main], [], [], 0.2)
                if ready:
                    try:
                        data = os.read(main, 65536)
                    except OSError:  # the other side closed
                        data = b""
                    if not data:
                        break
                    buf += data
                elif proc.poll() is not None:
                    break
                if interrupt_after and not sent and \
                        re.search(interrupt_after, plain(buf.decode(errors="replace"))):
                    os.killpg(proc.pid, signal.SIGINT)
                    sent = True
            else:
                pytest.fail(f"tune-bench {' '.join(args)} did not end within {timeout} s:\n"
                            + plain(buf.decode(errors="replace"))[-3000:])
            return proc.wait(timeout=60), buf.decode(errors="replace")
        finally:
            os.close(main)

    def close(self) -> None:
        """Kill whatever is left in the sessions of the CLIs this test started."""
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    if os.getsid(int(p)) in self.leaders:
                        os.kill(int(p), signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(self.ray_tmp, ignore_errors=True)


@pytest.fixture
def term(tmp_path: Path) -> Iterator[Terminal]:
    t = Terminal(tmp_path)
    yield t
    t.close()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_root(tmp_path_factory.mktemp("ptydata"), n_train=600, n_test=200)


def no_ray_noise(text: str) -> None:
    leaked = [ln for ln in plain(text).splitlines() if any(n in ln for n in RAY_NOISE)]
    assert not leaked, leaked


def progress_counts(text: str) -> list[tuple[int, int]]:
    """(done, total) of every refresh of the progress bar."""
    return [(int(a), int(b)) for a, b in re.findall(r"trials\D*?(\d+)/(\d+) done", plain(text))]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sweep_ctrl_c_status_resume_on_a_terminal(term: Terminal, data: Path, tmp_path: Path):
    storage = tmp_path / "results"
    exp = storage / "rel_one"
    # Ctrl+C once the quick SVM trial finished and the 8-epoch ResNet trial is running
    code, shown = term.run("sweep", str(SPACES / "rel_one.yaml"), "--storage-path",
                           str(storage), "--data-dir", str(data), "--num-cpus", "2",
                           interrupt_after=r"done 1 ")
    text = plain(shown)
    assert code == 130, text[-3000:]
    phases = [ln[2:] for ln in text.splitlines() if ln.startswith("· ")]
    assert [p.split(" ")[0] for p in phases] == ["checking", "decoding", "starting", "running"]
    assert phases[-1].startswith("running 2 trial(s) on 1 node, 2 CPUs"), phases
    no_ray_noise(shown)
    hints = [ln for ln in text.splitlines() if "resume" in ln]
    assert hints == [f"interrupted: state saved; continue with: tune-bench resume {exp}"], hints
    assert "2 trials: 1 finished, 1 not finished (interrupted)" in text, text[-2000:]
    log = (exp / "tune_bench_ray.log").read_text()
    assert "Tuner.restore" in log  # Ray's lines are kept, in the experiment directory

    code, shown = term.run("status", str(exp), timeout=60)
    lines = plain(shown).strip().splitlines()
    assert code == 0 and lines[0] == "rel_one: 2 trials: 1 finished, 1 not finished; interrupted"
    assert lines[1] == f"continue with: tune-bench resume {exp}", lines
    assert "RUNNING" not in shown and "TERMINATED" not in shown

    code, shown = term.run("resume", str(exp), "--num-cpus", "2")
    text = plain(shown)
    assert code == 0, text[-3000:]
    no_ray_noise(shown)
    phases = [ln[2:] for ln in text.splitlines() if ln.startswith("· ")]
    assert [p.split(" ")[0] for p in phases] == ["decoding", "starting", "resuming:"], phases
    assert phases[-1].startswith("resuming: 1 of 2 trial(s) finished before"), phases
    counts = progress_counts(shown)
    # the trial finished before the resume is counted from the first refresh on
    assert counts and counts[0] == (1, 2) and counts[-1] == (2, 2), counts
    assert min(d for d, _ in counts) == 1
    end = text[text.index("experiment: "):].strip().splitlines()
    assert end[0].startswith(f"experiment: {exp}: 2 trials: 2 finished"), end
    assert "Best configuration per dataset" in end[1]
    assert any(ln.startswith("MNIST ") for ln in end), end
    assert end[-2] == f"full report: tune-bench analyze {exp}", end
    assert end[-1] == f"with plots:  tune-bench analyze {exp} --format html --out report", end
    assert len(end) <= 20 and max(map(len, end)) <= COLUMNS, end
    notes = [ln for ln in end if ln.startswith("note:")]
    assert len(notes) == len(set(notes)) and \
        sum("no confidence interval" in ln for ln in end) == 1, end
    assert "|---" not in text  # no raw markdown


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_full_report_option_prints_the_markdown(term: Terminal, data: Path, tmp_path: Path):
    code, shown = term.run("sweep", str(SPACES / "rel_error.yaml"), "--storage-path",
                           str(tmp_path / "r"), "--data-dir", str(data), "--num-cpus", "2",
                           "--drop-gpu-trials", "--max-failures", "0", "--full-report",
                           "--no-progress")
    text = plain(shown)
    assert code == 1, text[-3000:]
    assert "# tune-bench report" in text
    assert not re.search(r"^Best configuration per dataset$", text, re.M)  # not the summary
    no_ray_noise(text[:text.index("# tune-bench report")])
    # the errored trial still reaches the user in one line
    assert re.search(r"^  svm-rbf-mnist-\S+: .*stratified subset of 415", text, re.M), text


def test_best_table_wraps_at_separators_at_80_columns() -> None:
    """The end-of-sweep table on an 80-column terminal (Q1a / Q1b configurations): the header
    and every `key=value` stay whole; 160 columns show each row on one line."""
    from rich.console import Console

    from tune_bench.report.summary import _BestTable

    config = "batch_size=16, optimizer=adam, lr=0.001, epochs=5, pin_memory=True"
    rows = [{"dataset": "MNIST", "method": "ResNet-18", "config": config, "acc": 99.06,
             "ci": float("nan"), "n": 1, "time_s": 123.4, "configs": 64},
            {"dataset": "FashionMNIST", "method": "SVM (poly)",
             "config": "C=10, gamma=scale, degree=4", "acc": 89.06, "ci": 0.5, "n": 3,
             "time_s": 12.4, "configs": 21}]
    narrow = Console(width=80, record=True)
    narrow.print(_BestTable(rows))
    text = narrow.export_text()
    assert max(map(len, text.splitlines())) <= 80
    cells = re.findall(r"[^│┃]+", text)
    words = {w.strip(",") for c in cells for w in c.split()}
    assert "Configuration" in words and "Configs" in words
    for kv in [*config.split(", "), "C=10", "gamma=scale", "degree=4"]:
        assert kv in words, kv
    wide = Console(width=160, record=True)
    wide.print(_BestTable(rows))
    shown = wide.export_text()  # (export_text clears the record)
    assert config in shown and "89.06 ± 0.50 (n=3)" in shown
