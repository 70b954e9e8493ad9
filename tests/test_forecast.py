"""The sweep forecast: Tune's placement simulated on known answers, the time model, a real
calibration of tiny trial shapes, a bad calibration file, `sweep --forecast` end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tune_bench.forecast import calibrate as cal
from tune_bench.forecast.compare import ForecastEta, compare_rows
from tune_bench.forecast.simulate import SimTrial, simulate
from tune_bench.forecast.svm import SHAPE_KEYS, SIZE_KEYS, power_law
from tune_bench.forecast.svm import predict as svm_time
from tune_bench.forecast.timing import trial_key

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the simulator


def _walls(trials, nodes, **kw) -> float:
    return simulate(trials, nodes, **kw).wall_s


def test_cpu_slots_and_max_concurrent():
    four = [SimTrial(1, 0, 10)] * 4
    assert _walls(four, [(2, 0)]) == pytest.approx(20)
    assert _walls(four, [(2, 0)], max_concurrent=1) == pytest.approx(40)
    assert _walls(four, [(4, 0)], max_concurrent=3) == pytest.approx(20)
    assert _walls(four, [(2, 0), (2, 0)]) == pytest.approx(10)  # two such nodes


def test_fractional_gpus_pack_on_one_gpu():
    quarter = [SimTrial(1, 0.25, 10)] * 8
    assert _walls(quarter, [(8, 1)]) == pytest.approx(20)  # 4 at a time on one GPU
    assert _walls(quarter, [(8, 2)]) == pytest.approx(10)
    assert _walls(quarter, [(2, 1)]) == pytest.approx(40)  # the CPUs limit it
    # 0.6 + 0.6 do not fit on one GPU: one at a time
    assert _walls([SimTrial(1, 0.6, 10)] * 2, [(4, 1)]) == pytest.approx(20)
    whole = [SimTrial(1, 1, 10)] * 3
    assert _walls(whole, [(4, 2)]) == pytest.approx(20)


def test_cpu_and_gpu_trials_in_one_sweep_and_backfill():
    # the GPU trials take both CPUs first; the CPU trials start when they end
    mixed = [SimTrial(1, 0.5, 10), SimTrial(1, 0.5, 10), SimTrial(1, 0, 5), SimTrial(1, 0, 5)]
    sched = simulate(mixed, [(2, 1)])
    assert sched.start == pytest.approx([0, 0, 10, 10]) and sched.wall_s == pytest.approx(15)
    # with 3 CPUs a CPU trial runs beside the GPU ones from the start
    assert simulate(mixed, [(3, 1)]).start == pytest.approx([0, 0, 0, 5])
    # FIFO skips a pending trial that does not fit for a later one that does
    order = [SimTrial(2, 0, 10), SimTrial(2, 0, 10), SimTrial(1, 0, 4)]
    assert simulate(order, [(3, 0)]).start == pytest.approx([0, 10, 0])


def test_actor_reuse_and_unplaceable_trials():
    sched = simulate([SimTrial(1, 0, 10)] * 2, [(1, 0)], actor_start_s=3, trial_overhead_s=0.5)
    assert sched.end == pytest.approx([13.5, 24.0])  # the second reuses the first's actor
    sched = simulate([SimTrial(1, 1, 10), SimTrial(1, 0, 5)], [(2, 0)])
    assert sched.unplaceable == [0] and sched.wall_s == pytest.approx(5)


# --------------------------------------------------------------------------- the time model


def test_power_law_recovers_a_known_exponent():
    sizes = [250, 500, 1000]
    a, b, pairs = power_law(sizes, [2e-6 * n ** 1.5 for n in sizes])
    assert b == pytest.approx(1.5) and a == pytest.approx(2e-6)
    assert pairs == pytest.approx([1.5, 1.5])
    rec = {"sizes": sizes, "fit_s": [2e-6 * n ** 1.5 for n in sizes],
           "eval_img_s": [1e-6 * n for n in sizes]}
    est = svm_time(rec, {}, {"n_train": 10000, "n_test": 100, "n_train_eval": 100})
    want = 2e-6 * 10000 ** 1.5 + 1e-6 * 10000 * 200
    assert est.s == pytest.approx(want) and est.low == pytest.approx(want)


def test_eta_and_comparison_from_finished_trials():
    from tune_bench.tune_dir import TrialRecord

    point = {"trainer": "svm", "dataset": "mnist", "split": "seeds", "kernel": "rbf", "C": 1.0,
             "gamma": "scale", "degree": 3, "coef0": 0.0, "backend": "auto", "predict": "auto",
             "device": "cpu", "n_train": 1000, "n_test": None, "n_train_eval": 2000, "seed": 0}
    key = trial_key(point, {"cpu": 1}, [*SHAPE_KEYS, *SIZE_KEYS])
    fc = {"wall_s": 100.0, "wall_low_s": 90.0, "wall_high_s": 110.0,
          "resources": {"cpu": {"cpu": 1}}, "timing_keys": {"svm": [*SHAPE_KEYS, *SIZE_KEYS]},
          "trials": [{"key": key, "kind": "svm rbf mnist cpu n=1000", "forecast": True,
                      "s": 10.0}]}
    eta = ForecastEta(fc)
    assert eta.remaining(40) == pytest.approx(60)
    eta.observe(point, 20.0)  # took twice its forecast
    assert eta.ratio == pytest.approx(2) and eta.remaining(40) == pytest.approx(160)
    trials = [TrialRecord("d", "p", "t1", "TERMINATED", None, {**point, "seed": 1},
                          [{"time_total_s": 12.5}])]
    cmp = compare_rows(fc, trials, 120.0)
    assert cmp["kinds"][0]["n"] == 1 and cmp["kinds"][0]["actual_s"] == pytest.approx(12.5)
    assert cmp["median_abs_trial_error"] == pytest.approx(0.2)


SVM_KEYS = [*SHAPE_KEYS, *SIZE_KEYS]  # what an SVM trial's forecast time depends on


def _eta_forecast(n: int = 4, s: float = 10.0, wall: float = 100.0) -> tuple[dict, dict]:
    """A forecast of `n` equal SVM trials (`s` seconds each, `wall` in all) and their point."""
    point = {"trainer": "svm", "dataset": "mnist", "split": "seeds", "kernel": "rbf", "C": 1.0,
             "gamma": "scale", "degree": 3, "coef0": 0.0, "backend": "auto", "predict": "auto",
             "device": "cpu", "n_train": 1000, "n_test": None, "n_train_eval": 2000, "seed": 0}
    key = trial_key(point, {"cpu": 1}, SVM_KEYS)
    fc = {"wall_s": wall, "wall_low_s": 0.9 * wall, "wall_high_s": 1.1 * wall,
          "resources": {"cpu": {"cpu": 1}}, "timing_keys": {"svm": SVM_KEYS},
          "trials": [{"key": key, "kind": "svm rbf mnist cpu n=1000", "forecast": True, "s": s}
                     for _ in range(n)]}
    return fc, point


def test_eta_after_a_resume_counts_the_work_left_from_the_resume():
    import pickle

    fc, point = _eta_forecast()
    eta = ForecastEta(fc)
    for _ in range(3):  # 3 of 4 equal trials done, each 1.5 times its forecast
        eta.observe(point, 15.0)
    assert eta.ratio == pytest.approx(1.5)
    assert eta.remaining(40) == pytest.approx(100 * 1.5 - 40)  # the first run's clock
    back = pickle.loads(pickle.dumps(eta))  # as Tune keeps it with its state
    assert back.remaining(40) == pytest.approx(eta.remaining(40))  # no restart: unchanged
    back.restart()
    assert back.remaining(0) == pytest.approx(100 / 4 * 1.5)
    assert back.remaining(10) == pytest.approx(100 / 4 * 1.5 - 10)
    back.observe(point, 15.0)  # the last one, then a second resume: nothing left
    back.restart()
    assert back.wall_s == 0.0 and back.remaining(0) == 0.0
    # nothing done before the resume: the whole forecast is left
    fresh = pickle.loads(pickle.dumps(ForecastEta(fc)))
    fresh.restart()
    assert fresh.remaining(0) == pytest.approx(100)
    # a ForecastEta pickled before it kept the forecast work: restart changes nothing
    old = ForecastEta(fc)
    del old.__dict__["total_s"], old.__dict__["full_wall_s"]
    old = pickle.loads(pickle.dumps(old))
    old.restart()
    assert old.remaining(0) == pytest.approx(100)


def test_rich_progress_restarts_the_forecast_when_tune_restores_it(monkeypatch):
    import pickle
    from types import SimpleNamespace

    from tune_bench.sweep.callbacks import RichProgress
    from tune_bench.sweep.options import PROGRESS_ENV

    monkeypatch.setenv(PROGRESS_ENV, "0")  # nothing drawn
    fc, point = _eta_forecast()
    progress = RichProgress(4, enabled=False, forecast=ForecastEta(fc))
    trials = [SimpleNamespace(trial_id=f"t{i}", status="PENDING",
                              config={**point, "seed": i}, last_result={}) for i in range(4)]
    for t in trials[:3]:
        progress.on_trial_start(0, trials, t)
        t.status, t.last_result = "TERMINATED", {"time_total_s": 15.0}
        progress.on_trial_complete(0, trials, t)
    assert progress.done == 3 and progress.forecast.ratio == pytest.approx(1.5)
    assert progress.forecast.wall_s == pytest.approx(100)  # the same run: no restart
    progress.on_experiment_end(trials)  # stops the (disabled) display

    restored = pickle.loads(pickle.dumps(progress))  # a resume: Tune unpickles it
    assert restored._t0 is None and restored._progress is None
    restored.on_trial_start(0, trials, trials[3])  # the first event refreshes: clock restarts
    assert restored._t0 is not None
    assert restored.forecast.wall_s == pytest.approx(25)
    assert restored.forecast.remaining(0) == pytest.approx(25 * 1.5)
    restored._refresh()  # later refreshes leave it be
    assert restored.forecast.wall_s == pytest.approx(25)
    restored.on_experiment_end(trials)


def _forecast_study(root: Path, name: str, with_forecast: bool) -> Path:
    """An SVM experiment of 4 trials (1 s each: one result row) of three kinds; with a
    forecast: kind n=1000 2 x 1.5 s (+50%), n=2000 0.8 s (-20%), n=500 not forecast; the
    wall forecast 10 s (8 to 12) against 8 s (+25%)."""
    from tests.test_analysis import svm
    from tests.tune_layout import write_experiment
    from tune_bench.forecast.plan import FORECAST_FILE
    from tune_bench.tune_dir import DRIVER_FILE

    _, point = _eta_forecast()
    configs = [{**point, "seed": 0}, {**point, "seed": 1}, {**point, "n_train": 2000},
               {**point, "n_train": 500}]
    exp = write_experiment(root, name, [{**svm(0.95 - 0.01 * i), "config": c}
                                        for i, c in enumerate(configs)])
    (exp / DRIVER_FILE).write_text(json.dumps({"wall_s": 8.0, "ended": True}))
    if with_forecast:
        rows = [(configs[0], "svm rbf mnist cpu n=1000", True, 1.5),
                (configs[1], "svm rbf mnist cpu n=1000", True, 1.5),
                (configs[2], "svm rbf mnist cpu n=2000", True, 0.8),
                (configs[3], "svm rbf mnist cpu n=500", False, 0.0)]
        fc = {"wall_s": 10.0, "wall_low_s": 8.0, "wall_high_s": 12.0,
              "resources": {"cpu": {"cpu": 1}}, "timing_keys": {"svm": SVM_KEYS},
              "trials": [{"key": trial_key(c, {"cpu": 1}, SVM_KEYS), "kind": kind,
                          "forecast": f, "s": s} for c, kind, f, s in rows]}
        (exp / FORECAST_FILE).write_text(json.dumps(fc))
    return exp


def test_html_report_shows_forecast_against_actual_as_a_table(tmp_path):
    from tune_bench import report

    exp = _forecast_study(tmp_path / "runs", "with_fc", with_forecast=True)
    report.write_report([exp], "html", out=tmp_path / "html")
    doc = (tmp_path / "html" / "report.html").read_text()
    section = doc[doc.index('<section id="forecast">'):]
    section = section[:section.index("</section>")]
    assert '<li><a href="#forecast">Forecast against actual</a></li>' in doc  # the contents
    assert doc.index('<nav class="toc">') < doc.index('<section id="forecast">')
    assert "<pre" not in section and "<h3>with_fc</h3>" in section
    assert "<thead><tr><th>kind</th><th>trials</th><th>forecast</th><th>actual</th>" \
           "<th>error</th></tr></thead>" in section
    row = "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"
    assert row.format("svm rbf mnist cpu n=1000", 2, "3.0 s", "2.0 s", "+50%") in section
    assert row.format("svm rbf mnist cpu n=2000", 1, "0.8 s", "1.0 s", "-20%") in section
    assert row.format("svm rbf mnist cpu n=500", 1, "-", "1.0 s", "not forecast") in section
    assert "forecast vs actual: wall 10 s (interval 8.0 s to 12 s) vs 8.0 s (+25%)" in section
    assert "median absolute error per trial: 50% (3 trials)" in section
    # the markdown presents the same comparison
    md = report.write_report([exp], "markdown")
    assert "## Forecast against actual" in md and "`with_fc`:" in md
    assert "forecast vs actual: wall 10 s (interval 8.0 s to 12 s) vs 8.0 s (+25%)" in md
    assert "+50%" in md and "-20%" in md and "not forecast" in md

    plain = _forecast_study(tmp_path / "runs", "no_fc", with_forecast=False)
    report.write_report([plain], "html", out=tmp_path / "plain")
    doc = (tmp_path / "plain" / "report.html").read_text()
    assert 'id="forecast"' not in doc and "Forecast against actual" not in doc
    assert "Forecast against actual" not in report.write_report([plain], "markdown")


# --------------------------------------------------------------------------- for real

TINY_SPACE = """
name: tiny_fc
fixed: {split: seeds, device: cpu}
blocks:
  - fixed: {trainer: resnet, model: resnet18, n_train: 64, n_eval: 64, epochs: 1,
            batch_size: 16}
    axes: {device: [cpu, gpu]}
  - fixed: {trainer: svm, kernel: rbf, n_train: 300, n_test: 100}
resources:
  cpu: {cpu: 1}
  gpu: {cpu: 1, gpu: 0.5}
"""


@pytest.fixture
def calib_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A calibration cache of its own, seeded with the worker start-up cost (not timed here:
    a subprocess import of Ray and torch costs seconds)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TUNE_BENCH_CALIBRATION_DIR", str(cache))
    data = cal.empty(cal.machine())
    data["overheads"] = {"actor_start_s": 1.0}
    cal.save_cache(data)
    return {**os.environ, "TUNE_BENCH_CALIBRATION_DIR": str(cache),
            "PYTHONPATH": str(ROOT), "COLUMNS": "200", "TERM": "dumb"}


def test_calibration_of_tiny_shapes_for_real_is_cached(tiny_root: Path, calib_env, tmp_path):
    import yaml

    from tune_bench import forecast as fcm
    from tune_bench.space import parse_space

    spec = parse_space(yaml.safe_load(TINY_SPACE), "tiny.yaml", None)
    points = fcm.runnable_points(spec, drop_gpu=False, gpus_here=0)
    fc = fcm.forecast(spec, points, str(tiny_root), [(2.0, 0.0)], 0)
    assert fc["timed_shapes"] == 2 and fc["n_trials"] == 3 and fc["n_forecast"] == 2
    gpu = [r for r in fc["trials"] if not r["forecast"]]
    assert len(gpu) == 1 and gpu[0]["why"] == "no GPU here"
    assert 0 < fc["wall_low_s"] <= fc["wall_s"] <= fc["wall_high_s"]
    assert fc["scaling"][0]["wall_s"] <= fc["wall_s"]
    again = fcm.forecast(spec, points, str(tiny_root), [(2.0, 0.0)], 0)
    assert again["timed_shapes"] == 0 and again["wall_s"] == pytest.approx(fc["wall_s"])
    # a calibration file forecasts the GPU trial (as if recorded on a machine with one)
    rec = next(v for k, v in cal.load_cache(cal.machine())["shapes"].items()
               if '"resnet"' in k)
    key = next(k for k in cal.load_cache(cal.machine())["shapes"] if '"resnet"' in k)
    gpu_key = key.replace('"device": "cpu"', '"device": "gpu"')
    data = cal.empty({"host": "gpu-host"})
    data["shapes"] = {gpu_key: rec}
    path = tmp_path / "gpu.json"
    cal.save_file(data, path)
    with_file = fcm.forecast(spec, points, str(tiny_root), [(2.0, 1.0)], 0,
                             calibration_file=str(path))
    assert with_file["n_forecast"] == 3


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tune_bench.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("content, culprit", [
    ("{not json", "not JSON"),
    ('{"format": "other"}', "not a tune-bench calibration file"),
    ('{"format": "tune-bench-calibration", "version": 1, "machine": {}, "shapes": '
     '{"{\\"trainer\\": \\"svm\\", \\"kernel\\": \\"rbf\\"}": {"sizes": [1, 2], '
     '"fit_s": [1, -2], "eval_img_s": [0, 0]}}}', "fit_s"),
])
def test_a_bad_calibration_file_is_one_line_exit_2(tmp_path, calib_env, tiny_root, content,
                                                   culprit):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_SPACE)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    res = _cli("sweep", str(space), "--forecast", "--calibration", str(bad), "--data-dir",
               str(tiny_root), "--storage-path", str(tmp_path / "store"), env=calib_env)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and culprit in lines[0], res.stderr
    assert "forecast:" not in res.stdout and not (tmp_path / "store").exists()


def test_sweep_forecast_through_the_cli_starts_nothing(tmp_path, calib_env, tiny_root):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_SPACE)
    store = tmp_path / "store"
    res = _cli("sweep", str(space), "--forecast", "--drop-gpu-trials", "--data-dir",
               str(tiny_root), "--storage-path", str(store), env=calib_env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "forecast: 2 trial(s) in" in out and "on 2 such nodes:" in out, out
    assert "resnet18 bs16 adam cpu n=64 1 ep" in out and "svm rbf fmnist cpu n=300" in out
    assert not store.exists()
    # the dry run shows the same lines, from the cache, instantly
    res = _cli("sweep", str(space), "--dry-run", "--data-dir", str(tiny_root), env=calib_env)
    assert res.returncode == 0 and "dry run" in res.stdout
    # the GPU trial is in the dry run's forecast, not forecast: no GPU here
    assert "not forecast (no GPU here)" in res.stdout, res.stdout
    saved = json.loads(next(Path(calib_env["TUNE_BENCH_CALIBRATION_DIR"]).glob("*.json"))
                       .read_text())
    assert len(saved["shapes"]) == 2


def test_step_times_of_the_two_loaders():
    from tune_bench.forecast.resnet import step_times as _step_times

    epochs = {1: [0.5, 0.7], 2: [1.0, 1.2]}
    rates, fixed = _step_times(epochs, per_epoch_cost=False)
    assert sorted(rates) == pytest.approx([0.5, 0.5, 0.6, 0.7]) and fixed == 0
    with_workers = {1: [2.5, 2.5], 2: [3.0, 3.0]}  # 2 s to start the workers, 0.5 s a step
    diffs, fixed = _step_times(with_workers, per_epoch_cost=True)
    assert diffs == pytest.approx([0.5, 0.5]) and fixed == pytest.approx(2.0)


def test_pooled_curvature_bends_the_fit_extrapolation():
    from tune_bench.forecast.svm import curvature, grow, pooled_curvature

    sizes = [500, 1000, 2000]
    # ln t = 0.1 (ln n)^2: the slope grows by 0.2 per unit of ln n
    times = [math.exp(0.1 * math.log(n) ** 2) for n in sizes]
    assert curvature(sizes, times) == pytest.approx(0.2)
    rec = {"sizes": sizes, "fit_s": times}
    k = pooled_curvature([rec, rec, {"sizes": sizes, "fit_s": [1, 2, 4]}])
    assert k[1] == pytest.approx(0.2) and 0.0 <= k[0] <= k[1] <= k[2]
    want = math.exp(0.1 * math.log(10000) ** 2)
    assert grow(sizes, times, 10000, 0.2) == pytest.approx(want)
    assert grow(sizes, times, 10000, 0.0) < want  # a plain power law falls short


def test_calibrate_writes_a_file_that_sweep_reads(tmp_path, calib_env, tiny_root):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_SPACE.replace("n_train: 300", "n_train: 200"))
    out = tmp_path / "host.json"
    res = _cli("calibrate", str(space), "--out", str(out), "--data-dir", str(tiny_root),
               env=calib_env)
    assert res.returncode == 0, res.stderr
    assert "calibrated 2 trial shape(s)" in res.stdout and "1 GPU point(s) skipped" in res.stdout
    data = cal.load_file(out)
    assert len(data["shapes"]) == 2 and data["overheads"]["actor_start_s"] == 1.0
    other = {**calib_env, "TUNE_BENCH_CALIBRATION_DIR": str(tmp_path / "empty_cache")}
    res = _cli("sweep", str(space), "--dry-run", "--calibration", str(out), "--data-dir",
               str(tiny_root), env=other)
    assert res.returncode == 0 and "forecast: 2 trial(s) of 3 in" in res.stdout, res.stdout
    assert not (tmp_path / "empty_cache").exists() or not any(
        (tmp_path / "empty_cache").iterdir())


def test_a_sweep_saves_its_forecast_and_ends_with_forecast_against_actual(
        ray_session, tmp_path, tiny_root, calib_env):
    import yaml

    from tune_bench import forecast as fcm
    from tune_bench.report.summary import summary_of
    from tune_bench.space import parse_space
    from tune_bench.sweep import SweepOptions, run_sweep

    text = TINY_SPACE.split("blocks:")[0] + """blocks:
  - fixed: {trainer: svm, kernel: rbf, n_train: 200, n_test: 100}
    axes: {C: [1.0, 10.0]}
resources:
  cpu: {cpu: 1}
"""
    spec = parse_space(yaml.safe_load(text), "tiny_svm.yaml", None)
    fc = fcm.forecast(spec, list(spec.points), str(tiny_root), [(2.0, 0.0)], 0)
    opts = SweepOptions(storage_path=str(tmp_path), data_dir=str(tiny_root), progress=False)
    out = run_sweep(spec, opts, forecast=fc)
    assert out.ok
    saved = json.loads((Path(out.path) / fcm.FORECAST_FILE).read_text())
    assert saved["wall_s"] == pytest.approx(fc["wall_s"]) and saved["n_forecast"] == 2
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(summary_of(out.path))
    shown = console.export_text()
    assert "forecast vs actual: wall" in shown and "svm rbf fmnist cpu n=200" in shown, shown


def test_svm_shapes_are_dataset_and_kernel_timed_up_to_half_the_trial():
    """q1b's 42 SVM trials are 8 shapes (2 datasets x rbf, poly degrees 2-4: C and gamma
    share their kernel's shape), each timed at up to half its 10,000 images; a small trial is
    timed at its own size."""
    from tune_bench.forecast.plan import plan_trials, wanted_shapes
    from tune_bench.forecast.svm import train_sizes
    from tune_bench.space import load_space

    spec = load_space(ROOT / "search_spaces" / "q1b_svm.yaml")
    sizes = {"train": 50000, "val": 10000, "test": 10000}
    trials = plan_trials(spec, list(spec.points), {k: sizes for k in
                                                   ("mnist/seeds", "fashion_mnist/seeds")})
    assert len(trials) == 42
    wanted = wanted_shapes(trials, gpus_here=0)
    labels = sorted((json.loads(k)["dataset"], json.loads(k)["kernel"], json.loads(k)["degree"])
                    for k in wanted)
    assert len(wanted) == 8 and labels.count(("mnist", "poly", 4)) == 1, labels
    assert train_sizes(10000) == [1250, 2500, 5000] and train_sizes(60000)[-1] == 5000
    assert train_sizes(1000) == [250, 500, 1000]


def test_shapes_are_timed_side_by_side_as_the_sweep_runs_them():
    """1-thread shapes in as many parallel chunks as 1-thread trials fit (and max_concurrent
    allows), 2-thread shapes one at a time on 2 CPUs, GPU shapes one at a time."""
    from tune_bench.forecast.calibrate import side_by_side

    todo = {f"s{i}": ({"device": "cpu"}, {}, 1) for i in range(5)}
    todo |= {f"r{i}": ({"device": "cpu"}, {}, 2) for i in range(3)}
    todo |= {f"g{i}": ({"device": "gpu"}, {}, 1) for i in range(2)}
    rounds = side_by_side(todo, cpus=2.0)
    assert len(rounds) == 3
    assert [sorted(c) for c in rounds[0]] == [["s0", "s2", "s4"], ["s1", "s3"]]
    assert [sorted(c) for c in rounds[1]] == [["r0", "r1", "r2"]]
    assert [sorted(c) for c in rounds[2]] == [["g0", "g1"]]
    assert len(side_by_side(todo, cpus=2.0, max_concurrent=1)[0]) == 1
    assert len(side_by_side(todo, cpus=16.0)[0]) == 5  # never more chunks than shapes


def test_cached_timings_are_scaled_by_how_fast_the_machine_is_now(
        tmp_path, calib_env, tiny_root, monkeypatch):
    """A shape timed when a CPU probe took 0.05 s, forecast now that it takes 0.1 s: its trial
    times double and the forecast says why; inside the noise band (+-20%) nothing is scaled."""
    from tune_bench import forecast as fcm
    from tune_bench.forecast.plan import plan_trials, wanted_shapes
    from tune_bench.space import load_space

    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_SPACE)
    spec = load_space(space)
    points = fcm.runnable_points(spec, True, 0)
    sizes = {"train": 600, "val": 100, "test": 200}
    wanted = wanted_shapes(plan_trials(spec, points, {"mnist/seeds": sizes,
                                                      "fashion_mnist/seeds": sizes}), 0)
    data = cal.load_cache(cal.machine())
    for key in wanted:
        data["shapes"][key] = (
            {"sizes": [100, 200, 300], "fit_s": [0.1, 0.2, 0.3], "eval_img_s": [1e-4] * 3,
             "probe_s": 0.05} if '"svm"' in key else
            {"setup_s": 1.0, "epoch_fixed_s": 0.0, "checkpoint_s": 0.1, "step_s": [0.5, 0.5],
             "eval_img_s": [1e-3], "probe_s": 0.05})
    cal.save_cache(data)

    def run(probe: float) -> dict:
        monkeypatch.setattr(cal, "probe_now", lambda: probe)
        fc = fcm.forecast(spec, points, str(tiny_root), [(2.0, 0.0)], 0, calibrate=False)
        assert fc is not None
        return fc

    same, slow = run(0.055), run(0.1)
    assert same["speed"] == {} and not any("as slow" in n for n in same["notes"])
    for a, b in zip(same["trials"], slow["trials"], strict=True):
        assert b["s"] == pytest.approx(2 * a["s"]) and b["high_s"] == pytest.approx(
            2 * a["high_s"])
    assert any("2.00x as slow now as when 2 cached shape(s) were timed" in n
               for n in slow["notes"]), slow["notes"]
