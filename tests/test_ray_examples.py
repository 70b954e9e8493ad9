"""Ray Tune's own example experiments (the scripts in the installed wheel, unmodified) read by
tune-bench's reader: one record per trial Tune ran, each with the last result Tune holds.

The lead adds assertions on the findings; this only pins what the reader must handle. The
examples run through tests/ray_examples.py (private HOME and Ray temp dir, 127.0.0.1)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.ray_examples import run_example
from tune_bench.tune_dir import read_experiment

# example -> the metric its script passes to Tune (TuneConfig)
FAST_EXAMPLES = {
    "pbt_function": "mean_accuracy",  # PBT, function API: configs change within a trial
    "pbt_example": "mean_accuracy",  # PBT, class API (tune.Trainable)
    # random search; trial names and directories from a trial_dirname_creator
    # ("easy_objective_<trial_id>_123"), not Tune's default pattern
    "logging_example": "mean_loss",
}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_reader_holds_every_trial_of_rays_examples_with_tunes_last_result(
        tmp_path: Path) -> None:
    from ray.tune import ExperimentAnalysis

    for name, metric in FAST_EXAMPLES.items():
        start = time.monotonic()
        exp = run_example(name, tmp_path / name, smoke=True, timeout=120)
        print(f"{name}: {time.monotonic() - start:.1f} s -> {exp}")
        analysis = ExperimentAnalysis(str(exp))
        trial_dirs = [p for p in exp.iterdir() if p.is_dir() and (p / "params.json").is_file()]
        assert len(analysis.trials) == len(trial_dirs) > 0, name

        records, _warnings = read_experiment(exp)
        assert len(records) == len(analysis.trials), (name, [r.dirname for r in records])
        by_id = {r.trial_id: r for r in records}
        assert set(by_id) == {t.trial_id for t in analysis.trials}, name
        for trial in analysis.trials:
            rec = by_id[trial.trial_id]
            assert rec.results, (name, trial.trial_id)
            assert rec.last[metric] == trial.last_result[metric], (name, trial.trial_id)
            assert rec.last["training_iteration"] == trial.last_result["training_iteration"]
