"""Planted truths, one per design the findings tell apart: nested configs with a shared leaf
name and a list-valued parameter, an early-stopped (ASHA-like) sampled search, population-based
training, and a grid whose main effect averages over an interaction that reverses its sign.
Experiments are written in Tune 2.60's layout (tests/tune_layout.py) and read like any other."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.tune_layout import trial_id_for, write_experiment
from tune_bench import report
from tune_bench.analysis import findings as fi
from tune_bench.analysis import load_experiments
from tune_bench.analysis.design import blocks
from tune_bench.analysis.target import set_target
from tune_bench.cli import main


def _sentences(df: pd.DataFrame) -> str:
    return "\n".join(s for _, ss in fi.findings(df).sections for s in ss)


# --------------------------------------------------------------------------- nested configs


def _nested(root: Path) -> Path:
    """encoder.dropout (no effect) and decoder.dropout (-2 per 0.1) share a leaf name; layers
    [64, 64] vs [128] (a list value) is worth +3; 2 seeds per grid point."""
    rng = np.random.default_rng(1)
    trials = []
    for enc, dec, layers, seed in itertools.product((0.1, 0.2), (0.1, 0.3), ([64, 64], [128]),
                                                    (0, 1)):
        score = 80 - 20 * (dec - 0.1) + 3 * (layers == [64, 64]) + rng.normal(0, 0.1)
        config = {"encoder": {"dropout": enc}, "decoder": {"dropout": dec},
                  "layers": layers, "seed": seed}
        trials.append({"config": config, "results": [
            {"score": score - 5, "training_iteration": 1, "config": config},
            {"score": score, "training_iteration": 2, "config": config}]})
    return write_experiment(root, "nested", trials)


def test_nested_keys_keep_full_names_and_lists_are_factors(tmp_path: Path) -> None:
    exp = _nested(tmp_path)
    df = load_experiments([exp])
    set_target(df, "score", "max")
    (d,) = blocks(df, fi.target_of(df))
    assert d.kind == "grid" and d.complete and not d.dropped
    assert sorted(d.factors) == ["decoder.dropout", "encoder.dropout", "layers"]
    assert d.levels["layers"] == ["[128]", "[64, 64]"]
    assert "2 runs (seeds) per grid point over 8 points" in d.repeat_text()
    text = _sentences(df)
    layers = re.search(r"layers: \[64, 64\] − \[128\] = \+\S+ \(95% CI \+(\S+) to \+(\S+);",
                       text)
    dec = re.search(r"decoder\.dropout: 0\.3 − 0\.1 = \S+ \(95% CI (\S+) to (\S+);", text)
    assert layers and float(layers.group(1)) < 3 < float(layers.group(2)), text
    assert dec and float(dec.group(1)) < -4 < float(dec.group(2)), text
    assert "encoder.dropout: no detectable difference" in text
    out = tmp_path / "out"
    report.write_report([exp], "csv", out=out, export="csv", metric="score", mode="max")
    tidy = pd.read_csv(out / "trials.csv")
    assert {"encoder.dropout", "decoder.dropout", "layers"} <= set(tidy.columns)
    assert sorted(tidy["layers"].map(json.loads).map(tuple).unique()) == [(64, 64), (128,)]
    assert (out / "trial_states.csv").read_text() != (out / "trials.csv").read_text()


# --------------------------------------------------------------------------- early stopping


def _asha(root: Path, n: int = 30) -> tuple[Path, dict[str, float]]:
    """A random search over lr (log-uniform; higher is better) and a null `noise_knob`;
    trials below the median at iteration 2 are stopped there (Tune marks the row done), the
    others run to 8. Returns the experiment and each trial's last value."""
    rng = np.random.default_rng(1)
    lrs, knobs = 10 ** rng.uniform(-4, -1, n), rng.uniform(0, 1, n)
    curves = [[(np.log10(lr) + 5) * (1 - np.exp(-it / 3)) + rng.normal(0, 0.05)
               for it in range(1, 9)] for lr in lrs]
    cut = np.median([c[1] for c in curves])
    trials, last = [], {}
    for i, (lr, knob, c) in enumerate(zip(lrs, knobs, curves, strict=True)):
        stop = 2 if c[1] < cut else 8
        rows = [{"acc": v, "training_iteration": it + 1, "done": it + 1 == stop}
                for it, v in enumerate(c[:stop])]
        trials.append({"config": {"lr": float(lr), "noise_knob": float(knob)}, "results": rows})
        last[trial_id_for("asha", i)] = c[stop - 1]
    return write_experiment(root, "asha", trials), last


def test_early_stopped_search_compares_at_an_equal_budget(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    exp, last = _asha(tmp_path)
    df = load_experiments([exp])
    assert int(df["stopped_early"].sum()) == 15
    set_target(df, "acc", "max")
    (d,) = blocks(df, fi.target_of(df))
    assert d.kind == "sampled" and len(d.y) == 30
    assert "15 of 30 trials stopped early at iteration 2: effects compare every trial's acc " \
        "at iteration 2" in d.budget
    text = _sentences(df)
    best = max(last, key=last.get)
    assert f"best trial: {best}, acc" in text
    assert "lr: larger values go with higher acc (better)" in text
    assert "noise_knob: no detectable monotone association" in text
    main(["status", str(exp), "--metric", "acc", "--mode", "max"])
    out = capsys.readouterr().out
    assert "30 trials: 30 finished; 15 stopped early at iteration 2" in out
    assert f"best so far: {best}" in out
    report.write_report([exp], "html", out=tmp_path / "html", metric="acc", mode="max")
    doc = (tmp_path / "html" / "report.html").read_text()
    assert "<figcaption>learning curves</figcaption>" in doc


# --------------------------------------------------------------------------- PBT


def _pbt(root: Path) -> Path:
    """4 members; members 2 and 3 copy member 0's config at iteration 3 and perturb lr."""
    trials = []
    for m in range(4):
        lr = [0.1, 0.01, 0.001, 0.0001][m]
        rows, cfg = [], {"lr": lr, "momentum": 0.9}
        for it in range(1, 7):
            if it == 4 and m >= 2:
                cfg = {"lr": 0.1 * (1.2 if m == 2 else 0.8), "momentum": 0.9}
            rows.append({"mean_accuracy": it * cfg["lr"] * 10 + m * 0.01,
                         "training_iteration": it, "config": dict(cfg)})
        trials.append({"config": cfg, "results": rows})
    return write_experiment(root, "pbt", trials)


def test_pbt_is_recognized_and_its_best_is_a_trial(tmp_path: Path) -> None:
    exp = _pbt(tmp_path)
    df = load_experiments([exp])
    assert df["n_configs"].tolist() == [1, 1, 2, 2]
    set_target(df, "mean_accuracy", "max")
    s = fi.study(df)
    (b,) = s.blocks
    assert b.design.kind == "pbt" and b.effects.empty and b.importance is None
    assert b.best["trial_id"] == trial_id_for("pbt", 2)  # lr 0.12 from iteration 4 on
    text = _sentences(df)
    assert text.startswith("design: population-based training")
    assert "2 config changes (perturbations) are visible in the results of 2 of 4 trials" \
        in text and f"best trial: {trial_id_for('pbt', 2)}, mean_accuracy 7.22 (its last " \
        "config: lr=0.12" in text
    sched = fi.schedules_table(df).df
    assert sched[["Trial", "From", "To", "Config"]].values.tolist()[:2] == [
        [trial_id_for("pbt", 2), 1, 3, "lr=0.001"], [trial_id_for("pbt", 2), 4, 6, "lr=0.12"]]


# --------------------------------------------------------------------------- interactions


def test_an_interaction_that_reverses_the_effect_is_not_averaged_away() -> None:
    """The sweep of the issue: Adam 1e-4 76.6, Adam 1e-3 73.0, SGD 1e-3 71.6, SGD 1e-4 57.8
    (% test accuracy), 3 seeds each: the average lr effect favours 1e-3, while with Adam 1e-4
    is better; the findings give both simple effects with intervals."""
    rng = np.random.default_rng(2)
    means = {("adam", 1e-4): 0.766, ("adam", 1e-3): 0.730, ("sgd", 1e-3): 0.716,
             ("sgd", 1e-4): 0.578}
    rows = [{"experiment": "e", "trial_id": f"t{i}", "state": "TERMINATED",
             "dataset": "fashion_mnist", "optimizer": o, "lr": lr, "seed": s,
             "test_acc": m + rng.normal(0, 0.006)}
            for i, ((o, lr), m, s) in enumerate(
                (k, v, s) for (k, v), s in itertools.product(means.items(), range(3)))]
    df = pd.DataFrame(rows)
    df.attrs["config_columns"] = ["dataset", "optimizer", "lr", "seed"]
    text = _sentences(df)
    lr_line = next(s for s in text.splitlines() if s.startswith("lr: "))
    assert "the average hides a reversal" in lr_line, lr_line
    adam = re.search(r"with optimizer=Adam, 0\.001 − 0\.0001 = (-\d+\.\d+) points \(95% CI "
                     r"(-\d+\.\d+) to (-\d+\.\d+)\)", lr_line)
    sgd = re.search(r"with optimizer=SGD, 0\.001 − 0\.0001 = \+(\d+\.\d+) points", lr_line)
    assert adam and sgd, lr_line
    assert float(adam.group(2)) < -3.6 < float(adam.group(3))
    assert abs(float(sgd.group(1)) - 13.8) < 1.5


def test_a_large_three_way_interaction_is_flagged() -> None:
    """Main effects average over a three-way interaction (a 2x2x2 grid whose metric depends
    only on the product of the three signs, 3 seeds): the findings say so."""
    rng = np.random.default_rng(4)
    rows = [{"experiment": "e", "trial_id": f"t{i}", "state": "TERMINATED", "dataset": "mnist",
             "a": a, "b": b, "c": c, "seed": s,
             "score": (1.0 if (a == 1) ^ (b == 1) ^ (c == 1) else -1.0) + rng.normal(0, 0.1)}
            for i, (a, b, c, s) in enumerate(itertools.product((0, 1), (0, 1), (0, 1),
                                                                range(3)))]
    df = pd.DataFrame(rows)
    df.attrs.update(config_columns=["dataset", "a", "b", "c", "seed"], metric="score",
                    mode="max")
    text = _sentences(df)
    assert re.search(r"caution: interactions of three or more factors explain (9\d|100)% of "
                     r"the variance", text), text
