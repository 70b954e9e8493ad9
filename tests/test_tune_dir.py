"""tune_dir, the one reader of Tune's on-disk layout: state rules (stopped early included), the
one-line error rule, and a sweep's outcome read from a fake Tune directory (no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tune_layout import write_experiment
from tune_bench import tune_dir
from tune_bench.tune_dir import error_line, is_stopped_early, trial_state


def _epochs(n: int, final_at: int | None = None, acc: float = 0.5) -> list[dict]:
    rows = [{"epoch": e, "val_acc": acc} for e in range(1, n + 1)]
    if final_at is not None:
        rows[final_at - 1].update(final=True, test_acc=acc)
    return rows


def _resnet(lr: float, results: list[dict], state: str = "TERMINATED", **kw) -> dict:
    return {"config": {"variant": {"trainer": "resnet", "model": "resnet18", "dataset": "mnist",
                                   "epochs": 4, "device": "cpu", "seed": 0}, "lr": lr},
            "results": results, "state": state, **kw}


ASHA_SPEC = {"spec": {"scheduler": {"type": "asha", "max_t": 4}}, "options": {}}


def _asha_experiment(root: Path) -> Path:
    """Four ResNet trials of 4 epochs: one finished, two stopped by ASHA after epochs 1 and 2,
    one errored."""
    exp = write_experiment(root, "asha", [
        _resnet(0.1, _epochs(4, final_at=4, acc=0.9)),
        _resnet(0.2, _epochs(1, acc=0.2)),
        _resnet(0.3, _epochs(2, acc=0.3)),
        _resnet(0.4, _epochs(1), state="ERROR", error="ValueError: boom"),
    ])
    (exp / tune_dir.SPEC_FILE).write_text(json.dumps(ASHA_SPEC))
    return exp


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(("status", "results", "error", "expected"), [
    ("TERMINATED", [], None, "TERMINATED"),  # Tune's status wins
    ("RUNNING", [{"final": True}], None, "RUNNING"),
    (None, [{"epoch": 1}], "ValueError: x", "ERROR"),
    (None, [{"epoch": 4, "final": True}], None, "TERMINATED"),
    (None, [{"epoch": 1, "done": True}], None, "TERMINATED"),  # Tune's own end mark
    (None, [{"epoch": 1}], None, "INCOMPLETE"),
    (None, [], None, "PENDING"),
])
def test_trial_state_rule(status, results, error, expected) -> None:
    assert trial_state(status, results, error) == expected


def test_stopped_early_rule() -> None:
    resnet = {"trainer": "resnet"}
    assert is_stopped_early("TERMINATED", resnet, [{"epoch": 1}])
    assert not is_stopped_early("TERMINATED", resnet, [{"epoch": 1}, {"epoch": 2, "final": 1}])
    assert not is_stopped_early("RUNNING", resnet, [{"epoch": 1}])  # interrupted, not stopped
    assert not is_stopped_early("ERROR", resnet, [{"epoch": 1}])
    assert not is_stopped_early("TERMINATED", resnet, [])
    assert not is_stopped_early("TERMINATED", {"trainer": "svm"}, [{"test_acc": 0.9}])


def test_error_line_rule() -> None:
    text = ("Failure # 1 (occurred at 2026-11-24_23-30-46)\n"
            "\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=1, ip=1.2.3.4, repr=trainable)\n"
            '  File "x.py", line 8, in trainable\n    raise ValueError("boom: bad model")\n'
            "ValueError: boom: bad model\n")
    assert error_line(text) == "ValueError: boom: bad model"
    oom = "Failure # 1\nray.exceptions.OutOfMemoryError: Task was killed due to low memory.\n"
    assert error_line(oom).startswith("ray.exceptions.OutOfMemoryError: Task was killed")
    chained = ("tune_bench.errors.DataError: n_train=900: cannot draw a stratified subset\n"
               "\nThe above exception was the direct cause of the following exception:\n\n"
               "Traceback (most recent call last):\n  File \"y.py\", line 2, in f\n"
               "    ^^^^\nRuntimeError: wrapped\n")
    assert error_line(chained) == "RuntimeError: wrapped"
    assert error_line("something odd happened\n  detail\n") == "something odd happened"
    assert error_line("") is None


def test_flatten_config_and_label() -> None:
    config = {"lr": 0.5, "variant": {"lr": 0.1, "trainer": "resnet", "model": "resnet18",
                                     "dataset": "fashion_mnist", "batch_size": 16,
                                     "optimizer": "sgd", "epochs": 2, "device": "cpu",
                                     "seed": 1}}
    flat = tune_dir.flatten_config(config)
    assert flat["lr"] == 0.5 and flat["model"] == "resnet18" and "variant" not in flat
    assert tune_dir.trial_label(config) == "resnet18-fmnist-bs16-sgd-lr0.5-e2-cpu-s1"


def test_stopped_early_text() -> None:
    assert tune_dir.stopped_early_text([]) == ""
    assert tune_dir.stopped_early_text([2, 1, 1], "ASHA") == "3 stopped early (ASHA) at epochs 1-2"
    assert tune_dir.stopped_early_text([1]) == "1 stopped early at epoch 1"


# --------------------------------------------------------------------------- reading


def test_read_experiment_marks_trials_stopped_early(tmp_path: Path) -> None:
    trials, warnings = tune_dir.read_experiment(_asha_experiment(tmp_path))
    assert not warnings
    by_lr = {t.config["lr"]: t for t in trials}
    assert [by_lr[lr].state for lr in (0.1, 0.2, 0.3, 0.4)] == ["TERMINATED"] * 3 + ["ERROR"]
    assert [by_lr[lr].stopped_early for lr in (0.1, 0.2, 0.3, 0.4)] == [False, True, True, False]
    assert by_lr[0.4].error == "ValueError: boom"
    assert tune_dir.scheduler_name(tmp_path / "asha") == "ASHA"


def test_loaded_frame_and_status_show_stopped_early(tmp_path: Path) -> None:
    from tune_bench.analysis import load_experiments
    from tune_bench.report import status_summary

    exp = _asha_experiment(tmp_path)
    df = load_experiments([exp]).set_index("lr")
    assert df["stopped_early"].tolist() == [False, True, True, False]
    assert df.loc[0.2, "state"] == "TERMINATED" and df.loc[0.2, "epoch"] == 1
    assert df.loc[0.3, "epoch"] == 2 and df.loc[0.1, "epoch"] == 4
    first = status_summary(exp).splitlines()[0]
    assert first == "asha: 4 trials: 3 finished, 1 errored; 2 stopped early (ASHA) at epochs 1-2"


def test_sweep_outcome_stopped_early_is_finished_and_unfinished_is_interrupted(
        tmp_path: Path) -> None:
    """The defect of issue 15: trials ASHA stopped made the sweep exit 130 (interrupted)."""
    from tune_bench.sweep import read_outcome

    out = read_outcome(_asha_experiment(tmp_path), 1.0, [])
    assert not out.interrupted and out.n_trials == 4
    assert out.states == {"TERMINATED": 3, "ERROR": 1}
    assert out.stopped_early == "2 stopped early (ASHA) at epochs 1-2"
    assert [msg for _, msg in out.errored] == ["ValueError: boom"]
    killed = write_experiment(tmp_path, "killed", [_resnet(0.1, _epochs(2), state="RUNNING"),
                                                   _resnet(0.2, _epochs(1))])
    out = read_outcome(killed, 1.0, [])
    assert out.interrupted and not out.ok and out.stopped_early == "1 stopped early at epoch 1"


def test_snapshot_unfinished_and_unreadable(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path, "killed", [
        _resnet(0.1, _epochs(2), state="RUNNING"), _resnet(0.2, [], state="PENDING"),
        _resnet(0.3, _epochs(1))])
    snap = tune_dir.read_snapshot(exp)
    assert sorted(snap.statuses()) == ["PENDING", "RUNNING", "TERMINATED"]
    assert len(snap.unfinished()) == 2
    next(exp.glob("experiment_state-*.json")).write_text('{"trial_data": [["{broken')
    snap = tune_dir.read_snapshot(exp)
    assert snap.file is not None and snap.trials is None and "unreadable" in snap.problem
    assert tune_dir.read_snapshot(tmp_path / "nothing_here").file is None


def test_run_state_tells_interrupted_from_running(tmp_path: Path) -> None:
    """`status`'s word for a sweep with unfinished trials, from tune_bench_driver.json."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from tune_bench.tune_dir import DRIVER_FILE, run_state

    f = tmp_path / DRIVER_FILE
    assert run_state(tmp_path, unfinished=False) == "finished"
    assert run_state(tmp_path, unfinished=True) == "not finished"  # no record: unknown
    host = socket.gethostname()
    f.write_text(json.dumps({"host": host, "pid": os.getpid()}))
    assert run_state(tmp_path, unfinished=True) == "running"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    f.write_text(json.dumps({"host": host, "pid": int(dead)}))
    assert run_state(tmp_path, unfinished=True) == "interrupted"  # the driver is gone
    f.write_text(json.dumps({"host": host, "pid": os.getpid(), "ended": "x",
                             "interrupted": True}))
    assert run_state(tmp_path, unfinished=True) == "interrupted"  # Ctrl+C: fit() returned
    f.write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    assert run_state(tmp_path, unfinished=True) == "not finished"
