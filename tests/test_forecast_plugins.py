"""The forecast of a user's own trainer and model (the trainer catalog's `timing`): a plug-in
that declares a Timing is calibrated by it (in the calibration's child process, imported from
the space file's directory); one that declares none is "not forecast", never a crash; the
built-in ResNet trainer with a user's model factory is timed with that model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tune_bench.forecast import calibrate as cal

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
import time

import tune_bench
from tune_bench.forecast.timing import Estimate, Timing

CALLS = []


def _calibrate(point, split, threads, sizes):
    t0 = time.perf_counter()
    time.sleep(0.05 * point["width"])  # "one step" of this shape
    return {"step_s": [time.perf_counter() - t0], "pid": __import__("os").getpid()}


def _predict(rec, point, sizes, pooled):
    step = rec["step_s"][0]
    return Estimate(step * sizes["steps"], 0.9 * step * sizes["steps"],
                    1.1 * step * sizes["steps"])


TIMING = Timing(
    shape_keys=("width",), size_keys=("steps",),
    sizes=lambda point, split: {"steps": int(point["steps"])},
    kind=lambda point, sizes: f"toy width {point['width']} x{sizes['steps']}",
    label=lambda shape: f"toy width {shape['width']}",
    calibrate=_calibrate, predict=_predict, needs=("step_s",),
    method="toy: one step timed, times the steps")


@tune_bench.trainer(metrics=["score"], timing="toy_trainer:TIMING")
def train(config):
    time.sleep(0.05 * config["width"] * config["steps"])
    return {"score": float(config["width"])}


def untimed(config):
    return {"score": 1.0}
'''

SPACE = """
name: toy
metric: score
fixed: {trainer: "toy_trainer:train", steps: 4}
axes:
  width: [1, 2]
  seed: [0, 1]
"""


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tune_bench.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    cache = tmp_path / "cache"
    monkeypatch.setenv("TUNE_BENCH_CALIBRATION_DIR", str(cache))
    data = cal.empty(cal.machine())
    data["overheads"] = {"actor_start_s": 1.0}  # (a subprocess import of torch costs seconds)
    cal.save_cache(data)
    return {**os.environ, "TUNE_BENCH_CALIBRATION_DIR": str(cache), "PYTHONPATH": str(ROOT),
            "COLUMNS": "200", "TERM": "dumb"}


def _space(tmp_path: Path, text: str = SPACE) -> Path:
    (tmp_path / "toy_trainer.py").write_text(PLUGIN)
    space = tmp_path / "toy.yaml"
    space.write_text(text)
    return space


def test_a_plugin_trainer_with_a_timing_is_forecast_by_it(tmp_path: Path, env) -> None:
    res = _cli("sweep", str(_space(tmp_path)), "--forecast", "--max-concurrent", "1",
               env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    # 2 shapes (width 1, 2; the seed is no shape key), each timed once in a child process
    assert "calibrating toy width 1" in out and "calibrating toy width 2" in out, out
    assert "calibration: 2 shape(s) timed now" in out, out
    assert "toy width 1 x4" in out and "toy width 2 x4" in out
    assert "method: toy: one step timed, times the steps" in out
    saved = json.loads(next(Path(env["TUNE_BENCH_CALIBRATION_DIR"]).glob("*.json"))
                       .read_text())
    recs = {json.loads(k)["width"]: v for k, v in saved["shapes"].items()}
    assert set(recs) == {1, 2} and {r["pid"] for r in recs.values()} != {os.getpid()}
    # the predicted wall: 4 trials one at a time, 4 steps each, + overheads, from the records
    from tune_bench.forecast.plan import FIT_FIXED_S, TRIAL_OVERHEAD_S

    step = {w: r["step_s"][0] for w, r in recs.items()}
    want = 2 * 4 * (step[1] + step[2]) + 4 * TRIAL_OVERHEAD_S + 1.0 + FIT_FIXED_S
    line = next(x for x in out.splitlines() if x.startswith("forecast: 4 trial(s) in "))
    got = line.split(" in ")[1].split(" (")[0]
    assert got == f"{want:.1f} s" or got == f"{want:.0f} s", (line, want)


def test_a_plugin_trainer_without_a_timing_is_not_forecast(tmp_path: Path, env) -> None:
    space = _space(tmp_path, SPACE.replace("toy_trainer:train", "toy_trainer:untimed"))
    res = _cli("sweep", str(space), "--forecast", env=env)
    assert res.returncode == 0, res.stderr
    assert "none of the 4 trial(s) could be forecast" in res.stdout, res.stdout
    assert "trainer toy_trainer:untimed declares no timing" in res.stdout
    assert "@tune_bench.trainer(timing=" in res.stdout  # how to give it one


def test_a_users_model_factory_is_calibrated_with_the_resnet_timing(
        tmp_path: Path, env, tiny_root: Path) -> None:
    (tmp_path / "my_models.py").write_text(textwrap.dedent('''
        import torch.nn as nn

        def build(num_classes: int, in_channels: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))
        '''))
    space = tmp_path / "cnn.yaml"
    space.write_text(textwrap.dedent("""
        name: cnn
        metric: val_acc
        fixed: {trainer: resnet, dataset: mnist, epochs: 1, n_train: 64, n_eval: 32,
                batch_size: 16, optimizer: sgd, lr: 0.01, device: cpu}
        axes:
          model: ["my_models:build"]
        """))
    res = _cli("sweep", str(space), "--forecast", "--data-dir", str(tiny_root), env=env)
    assert res.returncode == 0, res.stderr
    assert "calibrating my_models:build bs16 sgd cpu" in res.stdout, res.stdout
    assert "my_models:build bs16 sgd cpu n=64 1 ep" in res.stdout
