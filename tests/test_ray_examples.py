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

# example -> (smoke run?, the metric and mode its script passes to Tune, what its formula says)
EXAMPLES = {
    # random search of 5 trials, trial directories from a trial_dirname_creator
    # ("easy_objective_<trial_id>_123"): too few trials for any interval
    "logging_example": (True, "mean_loss", "min"),
    # ASHA over a random search; the smoke run's loss is exactly 10 + 0.1 * height
    "async_hyperband_example": (True, "mean_loss", "min"),
    # population-based training, function API (the full run: the smoke run never perturbs)
    "pbt_function": (False, "mean_accuracy", "max"),
}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_rays_examples_read_and_analyzed_as_their_formulas_say(tmp_path: Path) -> None:
    """Each script unmodified (storage redirected): the reader holds every trial with Tune's
    last result; `analyze` finds Tune's metric and mode in tuner.pkl, names the trial Ray's
    get_best_trial(scope="last") names, and states what the formula says and nothing else."""
    from ray.tune import ExperimentAnalysis

    from tune_bench.report import write_report

    texts = {}
    for name, (smoke, metric, mode) in EXAMPLES.items():
        start = time.monotonic()
        exp = run_example(name, tmp_path / name, smoke=smoke, timeout=150)
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

        text = write_report([exp], "markdown")
        way = "lower" if mode == "min" else "higher"
        assert f"_metric: {metric} ({way} is better; Tune's own metric (tuner.pkl))_" in text
        best = analysis.get_best_trial(metric, mode, scope="last")
        assert f"- best trial: {best.trial_id}" in text, (name, text[:2000])
        texts[name] = text.split("## Trials per state")[0]

    few = texts["logging_example"]
    assert "design: sampled search, 5 trials drawn at random over width" in few
    assert "height: partial ρ = " in few and "too few for an interval or a test" in few
    asha = texts["async_hyperband_example"]
    assert "design: sampled search, 20 trials drawn at random" in asha
    assert "height: larger values go with higher mean_loss (worse)" in asha
    assert "width: no detectable monotone association with mean_loss" in asha
    pbt = texts["pbt_function"]
    assert "design: population-based training" in pbt and "matched pair" not in pbt
    assert "config changes (perturbations)" in pbt and "mean of" not in pbt
