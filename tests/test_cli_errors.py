"""Bad input refused: the real CLI in a subprocess, for every kind of mistake.

Each case checks the documented exit code (cli.py: 2 invalid input, 3 dataset, 4 resources,
5 experiment directory), that stderr is exactly one line `error: ...` naming the culprit, that
there is no traceback, and that nothing was written: the command runs in an empty working
directory with `--storage-path` (where it takes one) and Ray's temp root (`RAY_TMPDIR`) inside
the test's tmp_path, and both must stay empty or absent. Cases that need Ray running to be
found (GPUs asked of a cluster without any) are marked slow.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.idx_utils import idx_bytes, make_fake_root, write_idx

HERE = Path(__file__).parent
BAD_INPUTS = sorted((HERE / "bad_inputs").glob("*.yaml"))
SPACES = HERE / "spaces"
CLI = [sys.executable, "-m", "tune_bench.cli"]


class Run:
    """Run the CLI in `tmp/cwd` (empty) with a Ray temp root of its own (a short path under
    /tmp: Ray's unix sockets live there and their paths are limited in length)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.cwd = tmp / "cwd"
        self.cwd.mkdir(exist_ok=True)
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="tbcli", dir="/tmp"))
        self.storage = tmp / "storage"

    def __call__(self, *args: str, timeout: float = 120, **env: str
                 ) -> subprocess.CompletedProcess:
        full_env = {k: v for k, v in os.environ.items() if k != "TUNE_BENCH_DATA_DIR"}
        full_env.update(RAY_TMPDIR=str(self.ray_tmp), RAY_USAGE_STATS_ENABLED="0", **env)
        proc = subprocess.Popen(CLI + list(args), cwd=self.cwd, env=full_env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"tune-bench {' '.join(args)} did not end within {timeout} s")
        finally:
            _kill_session(proc.pid)
        return subprocess.CompletedProcess(args, proc.returncode, out, err)

    def ray_started(self) -> bool:
        return (self.ray_tmp / "ray").exists()


def _kill_session(leader: int) -> None:
    """Whatever is left of the CLI's session (a Ray it started and did not stop)."""
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.getsid(int(p)) == leader:
                    os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    r = Run(tmp_path)
    yield r
    shutil.rmtree(r.ray_tmp, ignore_errors=True)


def one_line_error(res: subprocess.CompletedProcess, code: int, *culprits: str) -> str:
    """Exit `code`, stderr exactly one `error: ...` line holding every culprit, no traceback."""
    shown = f"exit {res.returncode}\nstdout:\n{res.stdout[-2000:]}\nstderr:\n{res.stderr[-3000:]}"
    assert res.returncode == code, shown
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    assert "Traceback" not in res.stderr + res.stdout, shown
    for c in culprits:
        assert c in lines[0], f"{c!r} not in {lines[0]!r}"
    return lines[0]


def nothing_written(run: Run, ray_allowed: bool = False) -> None:
    assert not any(run.cwd.iterdir()), sorted(p.name for p in run.cwd.iterdir())
    assert not run.storage.exists() or not any(run.storage.iterdir()), \
        sorted(p.name for p in run.storage.iterdir())
    if not ray_allowed:
        assert not run.ray_started(), "Ray was started"


# --------------------------------------------------------------------------- search-space files


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    m = re.match(r"#\s*expect:\s*(.+?)\s*$", first)
    assert m, f"{path.name}: first line must be '# expect: <substring of the message>'"
    return m.group(1)


def test_enough_bad_input_files():
    assert len(BAD_INPUTS) >= 25


@pytest.mark.parametrize("path", BAD_INPUTS, ids=[p.stem for p in BAD_INPUTS])
def test_bad_search_space_file(run: Run, path: Path):
    """`tune-bench sweep BAD.yaml`: exit 2, one line naming the file and the problem."""
    res = run("sweep", str(path), "--storage-path", str(run.storage), timeout=60)
    one_line_error(res, 2, str(path), _expected(path))
    nothing_written(run)


# --------------------------------------------------------------------------- command lines

SPACE = str(SPACES / "rel_one.yaml")

COMMAND_LINES = [
    # (id, args, exit code, culprits named in the message)
    ("train-unknown-model", ["train", "resnet", "--model", "resnet99"], 2,
     ["--model", "resnet99"]),
    ("train-negative-lr", ["train", "resnet", "--lr", "-0.1"], 2, ["--lr", "-0.1"]),
    ("train-zero-lr", ["train", "resnet", "--lr", "0"], 2, ["--lr", "> 0"]),
    ("train-batch-size-0", ["train", "resnet", "--batch-size", "0"], 2, ["--batch-size"]),
    ("train-epochs-0", ["train", "resnet", "--epochs", "0"], 2, ["--epochs"]),
    ("train-unknown-optimizer", ["train", "resnet", "--optimizer", "rmsprop"], 2,
     ["--optimizer", "rmsprop"]),
    ("train-unknown-dataset", ["train", "svm", "--dataset", "cifar100"], 2,
     ["--dataset", "cifar100"]),
    ("train-unknown-kernel", ["train", "svm", "--kernel", "sigmoid"], 2,
     ["--kernel", "sigmoid"]),
    ("train-C-not-a-number", ["train", "svm", "--C", "abc"], 2, ["--C", "abc"]),
    ("train-unknown-svm-predict", ["train", "svm", "--predict", "fast"], 2,
     ["--predict", "fast"]),
    ("train-unknown-key", ["train", "resnet", "--learning-rate", "0.1"], 2,
     ["learning-rate", "unknown key"]),
    ("train-resnet-key-for-svm", ["train", "svm", "--epochs", "3"], 2, ["epochs"]),
    ("train-unknown-trainer", ["train", "xgboost"], 2, ["xgboost"]),
    ("train-not-an-option", ["train", "resnet", "lr=0.1"], 2, ["lr=0.1"]),
    ("train-misspelled-key", ["train", "resnet", "--optimiser", "sgd"], 2,
     ["--optimiser", "did you mean optimizer?"]),
    ("train-set-lr-0", ["train", "resnet", "--set", "lr=0"], 2, ["--lr", "> 0"]),
    ("sweep-missing-file", ["sweep", "no_such_space.yaml"], 2, ["no_such_space.yaml"]),
    ("sweep-max-concurrent-0", ["sweep", SPACE, "--max-concurrent", "0"], 2,
     ["--max-concurrent"]),
    ("sweep-set-epochs-0", ["sweep", SPACE, "--set", "epochs=0"], 2, ["epochs", ">= 1"]),
    ("sweep-set-without-value", ["sweep", SPACE, "--set", "epochs"], 2, ["--set", "epochs"]),
    ("sweep-set-unknown-key", ["sweep", SPACE, "--set", "depth=3"], 2, ["depth"]),
    ("sweep-set-misspelled-key", ["sweep", SPACE, "--set", "optimiser=sgd"], 2,
     ["--set optimiser", "did you mean optimizer?"]),
    ("sweep-negative-cpus", ["sweep", SPACE, "--cpus-per-trial", "-1"], 2,
     ["--cpus-per-trial"]),
    ("sweep-unknown-option", ["sweep", SPACE, "--epochs", "3"], 2, ["--epochs"]),
    ("unknown-command", ["tune", SPACE], 2, ["tune"]),
    ("analyze-unknown-format", ["analyze", "{exp}", "--format", "pdf"], 2,
     ["--format", "pdf"]),
    ("analyze-unreported-metric", ["analyze", "{exp}", "--metric", "nope"], 2,
     ["--metric", "nope"]),
    ("analyze-bad-mode", ["analyze", "{exp}", "--mode", "sideways"], 2, ["--mode", "sideways"]),
]


@pytest.fixture
def finished_experiment(tmp_path: Path) -> Path:
    """A finished two-trial experiment in Tune's layout (written without Ray) with the
    tune_bench_spec.json that `resume` reads."""
    from tests.tune_layout import write_experiment

    cfgs = [{"trainer": "svm", "dataset": "mnist", "kernel": "rbf", "C": c, "n_train": 100,
             "device": "cpu", "seed": 0} for c in (1.0, 10.0)]
    exp = write_experiment(tmp_path / "done", "finished", [
        {"config": c, "results": [{"test_acc": 0.9, "final": True}]} for c in cfgs])
    text = ("name: finished\nfixed: {trainer: svm, dataset: mnist, kernel: rbf, n_train: 100}\n"
            "axes:\n  C: [1.0, 10.0]\n")
    import yaml

    from tune_bench.space import parse_space

    spec = parse_space(yaml.safe_load(text), "finished.yaml")
    (exp / "tune_bench_spec.json").write_text(json.dumps({
        "spec": spec.to_dict(), "points": spec.points, "source": "finished.yaml",
        "source_text": text, "options": {"storage_path": str(exp.parent), "name": exp.name}}))
    return exp


@pytest.mark.parametrize("case", COMMAND_LINES, ids=[c[0] for c in COMMAND_LINES])
def test_bad_command_line(run: Run, finished_experiment: Path, case):
    _id, args, code, culprits = case
    args = [a.replace("{exp}", str(finished_experiment)) for a in args]
    if args[0] == "sweep":
        args += ["--storage-path", str(run.storage)]
    res = run(*args, timeout=60)
    one_line_error(res, code, *culprits)
    nothing_written(run)


# --------------------------------------------------------------------------- experiment dirs


def test_not_an_experiment_directory(run: Run, tmp_path: Path):
    """resume / status / analyze of a directory that is no experiment: exit 5, names it."""
    d = tmp_path / "holiday_photos"
    d.mkdir()
    (d / "beach.jpg").write_bytes(b"\xff\xd8\xff")
    for cmd in ("resume", "status", "analyze"):
        one_line_error(run(cmd, str(d), timeout=60), 5, str(d))
    nothing_written(run)
    assert sorted(p.name for p in d.iterdir()) == ["beach.jpg"]


def test_missing_experiment_directory(run: Run, tmp_path: Path):
    for cmd in ("resume", "status", "analyze"):
        one_line_error(run(cmd, str(tmp_path / "nope"), timeout=60), 5, str(tmp_path / "nope"))
    nothing_written(run)


def test_analyze_and_status_of_a_storage_root(run: Run, finished_experiment: Path):
    """A storage root holding experiments given for one: exit 5, one line listing them and
    the command for the newest."""
    root = finished_experiment.parent
    other = root / "older"
    shutil.copytree(finished_experiment, other)
    os.utime(other, (1, 1))
    for cmd in ("analyze", "status"):
        line = one_line_error(run(cmd, str(root), timeout=60), 5, str(root),
                              "holds 2 experiment(s)", "finished, older",
                              f"'tune-bench {cmd} {finished_experiment}'")
        assert ("several" in line) == (cmd == "analyze"), line
    nothing_written(run)


def test_analyze_and_status_of_an_empty_directory(run: Run, tmp_path: Path):
    d = tmp_path / "empty"
    d.mkdir()
    one_line_error(run("analyze", str(d), timeout=60), 5, str(d), "empty")
    one_line_error(run("status", str(d), timeout=60), 5, str(d), "empty")
    nothing_written(run)


def test_resume_with_unreadable_spec(run: Run, finished_experiment: Path):
    (finished_experiment / "tune_bench_spec.json").write_text("{not json")
    one_line_error(run("resume", str(finished_experiment), timeout=60), 5,
                   "tune_bench_spec.json", "unreadable")
    nothing_written(run)


def test_resume_of_a_tune_experiment_not_made_by_tune_bench(run: Run, finished_experiment):
    (finished_experiment / "tune_bench_spec.json").unlink()
    one_line_error(run("resume", str(finished_experiment), timeout=60), 5,
                   str(finished_experiment), "not a tune-bench experiment")
    nothing_written(run)


def test_resume_of_a_sweep_killed_before_tune_saved_state(run: Run, finished_experiment):
    """Trial directories but no Tune state (killed between the two): nothing can be resumed
    and a fresh start would mix with those directories: exit 5 saying what to do."""
    for f in finished_experiment.glob("experiment_state-*.json"):
        f.unlink()
    one_line_error(run("resume", str(finished_experiment), timeout=60), 5,
                   str(finished_experiment), "delete it and run the sweep again")
    nothing_written(run)


def test_resume_of_a_finished_sweep(run: Run, finished_experiment: Path):
    """Documented choice: exit 0, 'nothing to resume', without starting Ray or running
    anything; the experiment is left as it was."""
    before = {p: p.stat().st_mtime_ns for p in finished_experiment.rglob("*")}
    res = run("resume", str(finished_experiment), "--no-tables", timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [
        f"warning: nothing to resume: all 2 trials of {finished_experiment} finished"]
    assert ": 2 trials: 2 finished" in res.stdout
    nothing_written(run)
    assert {p: p.stat().st_mtime_ns for p in finished_experiment.rglob("*")} == before


# --------------------------------------------------------------------------- datasets


def _broken_root(tmp: Path, how: str) -> tuple[Path, Path]:
    """A fake MNIST root with one file broken `how`; returns (root, the culprit file)."""
    root = make_fake_root(tmp / how, n_train=100, n_test=40, names=("MNIST",))
    raw = root / "MNIST" / "raw"
    if how == "missing":
        f = raw / "t10k-labels-idx1-ubyte.gz"
        f.unlink()
        return root, raw
    if how == "truncated":
        f = raw / "train-images-idx3-ubyte.gz"
        f.write_bytes(gzip.compress(gzip.decompress(f.read_bytes())[:-100]))
    elif how == "bad-gzip":
        f = raw / "train-labels-idx1-ubyte.gz"
        f.write_bytes(f.read_bytes()[:60])
    elif how == "bad-magic":
        f = raw / "t10k-images-idx3-ubyte.gz"
        data = bytearray(gzip.decompress(f.read_bytes()))
        data[2] = 9
        f.write_bytes(gzip.compress(bytes(data)))
    elif how == "label-out-of-range":
        f = raw / "train-labels-idx1-ubyte.gz"
        data = bytearray(gzip.decompress(f.read_bytes()))
        data[20] = 12
        f.write_bytes(gzip.compress(bytes(data)))
    elif how == "count-mismatch":
        f = write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(39, np.uint8))
    elif how == "checksum":  # the full official count, so the md5 is checked: all black
        (raw / "train-images-idx3-ubyte.gz").unlink()
        f = raw / "train-images-idx3-ubyte"
        f.write_bytes(idx_bytes(np.zeros((60_000, 28, 28), np.uint8)))
    elif how == "empty-file":
        f = raw / "t10k-labels-idx1-ubyte.gz"
        f.unlink()
        f = raw / "t10k-labels-idx1-ubyte"
        f.write_bytes(b"")
    elif how == "no-such-dir":
        return root, root
    else:
        raise ValueError(how)
    return root, f


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


# Through a subprocess (each costs the import of torch and scikit-learn, ~8 s here) ...
@pytest.mark.parametrize("how", ["truncated", "checksum"])
def test_broken_dataset(run: Run, tmp_path: Path, how: str):
    """`tune-bench train` on a dataset with a truncated / not-original file: exit 3, one line
    naming the file."""
    root, culprit = _broken_root(tmp_path, how)
    files = _files(root)
    res = run("train", "resnet", "--dataset", "mnist", "--data-dir", str(root), timeout=90)
    one_line_error(res, 3, str(culprit))
    nothing_written(run)
    assert _files(root) == files


# ... and the other kinds of damage through the same entry point in this process.
@pytest.mark.parametrize("how", ["missing", "bad-gzip", "bad-magic", "label-out-of-range",
                                 "count-mismatch", "empty-file", "no-such-dir"])
def test_broken_dataset_in_process(tmp_path: Path, capsys: pytest.CaptureFixture, how: str,
                                   monkeypatch: pytest.MonkeyPatch):
    from tune_bench.cli import main

    root, culprit = _broken_root(tmp_path, how)
    files = _files(root)
    if how == "no-such-dir":  # an explicit --data-dir that does not exist: the search goes on
        culprit = root = tmp_path / "nodata"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUNE_BENCH_DATA_DIR", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["train", "resnet", "--dataset", "mnist", "--data-dir", str(root)])
    err = capsys.readouterr().err
    res = subprocess.CompletedProcess([], exc.value.code, "", err)
    line = one_line_error(res, 3, str(culprit))
    if how == "missing":
        assert "lacks t10k-labels-idx1-ubyte" in line
    if how == "no-such-dir":
        assert "MNIST not found" in line and "does not exist" in line
    else:
        assert _files(root) == files


@pytest.mark.parametrize("how", ["missing", "label-out-of-range"])
def test_sweep_checks_data_before_starting_ray(tmp_path: Path, capsys: pytest.CaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch, how: str):
    """`tune-bench sweep` on a broken dataset: exit 3 naming the file, decided before Ray is
    started (starting it costs seconds) and before the experiment directory is written."""
    from tune_bench.cli import main
    from tune_bench.sweep import run as sweep

    def no_ray(*_a: object, **_k: object) -> bool:
        raise AssertionError("Ray was started before the datasets were checked")

    root, culprit = _broken_root(tmp_path, how)
    monkeypatch.setattr(sweep, "start_ray", no_ray)
    monkeypatch.chdir(tmp_path)
    storage = tmp_path / "results"
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(SPACES / "rel_one.yaml"), "--data-dir", str(root),
              "--storage-path", str(storage), "--no-progress"])
    res = subprocess.CompletedProcess([], exc.value.code, "", capsys.readouterr().err)
    one_line_error(res, 3, str(culprit))
    assert not (storage / "rel_one").exists()


# --------------------------------------------------------------------------- GPUs


@pytest.mark.timeout(180)
def test_gpu_trials_on_a_cluster_without_gpus(run: Run, data_root_small: Path):
    """A space with GPU trials on a machine without GPUs (CUDA hidden): exit 4, one line
    naming the first GPU trial and --drop-gpu-trials, before anything is written or started:
    no storage directory, no Ray, within seconds (the import of the CLI and torch)."""
    t0 = time.monotonic()
    res = run("sweep", str(SPACES / "rel_error.yaml"), "--data-dir", str(data_root_small),
              "--storage-path", str(run.storage), "--num-cpus", "2",
              timeout=150, CUDA_VISIBLE_DEVICES="")
    took = time.monotonic() - t0
    one_line_error(res, 4, "ask for a GPU", "svm-rbf-mnist-C1.0-gscale-gpu-s0",
                   "--drop-gpu-trials")
    nothing_written(run)
    assert not run.storage.exists()
    assert took < 30, f"took {took:.1f} s"  # Ray's start alone took 19 s here


def test_dry_run_shows_the_gpu_trials_drop_gpu_trials_drops(capsys, monkeypatch):
    from tune_bench.cli import main

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    main(["sweep", str(HERE.parent / "search_spaces" / "smoke.yaml"), "--dry-run",
          "--drop-gpu-trials"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("smoke: 10 trial(s) (4 GPU trial(s) dropped) from"), lines[0]
    dropped = [ln for ln in lines if ln.endswith("dropped: no GPU here (--drop-gpu-trials)")]
    assert len(dropped) == 4 and all("-gpu-" in ln for ln in dropped), lines
    assert not any("-gpu-" in ln for ln in lines[1:] if ln not in dropped)


def test_set_replacing_an_axis_says_so(capsys):
    from tune_bench.cli import main

    main(["sweep", str(HERE.parent / "search_spaces" / "q1a_resnet.yaml"), "--dry-run",
          "--set", "lr=1e-3"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "note: --set lr=0.001 replaces the axis axes.lr: 128 trials become 64"
    assert lines[1].startswith("q1a_resnet: 64 trial(s) from")
    main(["sweep", str(HERE.parent / "search_spaces" / "q1a_resnet.yaml"), "--dry-run",
          "--set", "n_train=500"])  # not an axis: nothing to say
    assert not capsys.readouterr().out.startswith("note:")


@pytest.fixture(scope="module")
def data_root_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_root(tmp_path_factory.mktemp("clidata"), n_train=600, n_test=200)
