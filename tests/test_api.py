"""The Python API (`import tune_bench as tb`): any Tune experiment loaded, its tables equal to
the CSV export, findings as records matching the sentences, the best trial, the report, the
notebook view, and a sweep from a dict space."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tune_bench as tb
from tests.tune_layout import write_experiment
from tune_bench.analysis import findings as fd
from tune_bench.api import FINDING_COLUMNS
from tune_bench.cli import main
from tune_bench.errors import ConfigError


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain Tune experiment (no tune-bench spec): a 2 x 2 grid with 3 seeds, a large
    planted effect of `opt` and none of `lr`; it reports `score` and `loss`."""
    rng = np.random.default_rng(0)
    trials = []
    for lr, opt, seed in itertools.product([0.01, 0.1], ["a", "b"], range(3)):
        score = 0.80 + (0.10 if opt == "b" else 0.0) + rng.normal(0, 0.005)
        trials.append({"config": {"lr": lr, "opt": opt, "seed": seed},
                       "results": [{"score": score - 0.1, "loss": 1.0},
                                   {"score": score, "loss": 1.0 - score}]})
    return write_experiment(tmp_path_factory.mktemp("plain"), "plain", trials)


def test_load_needs_a_metric_it_can_tell(plain: Path) -> None:
    with pytest.raises(ConfigError, match="score"):
        tb.load(plain)  # score or loss: it cannot tell, and names them


def test_trials_is_a_copy(plain: Path) -> None:
    exp = tb.load(plain, metric="score", mode="max")
    df = exp.trials
    assert len(df) == 12 and df.attrs["metric"] == "score"
    df.attrs["metric"] = "loss"
    df.loc[:, "score"] = 0.0
    assert exp.trials.attrs["metric"] == "score" and exp.trials["score"].max() > 0.8


def test_tables_equal_the_csv_export(plain: Path, tmp_path: Path) -> None:
    exp = tb.load([str(plain)], metric="score", mode="max")
    tables = exp.tables()
    assert "effects" in tables and "trial_states" in tables
    main(["analyze", str(plain), "--format", "csv", "--out", str(tmp_path), "--metric",
          "score", "--mode", "max"])  # returns: exit 0
    written = sorted(p.stem for p in tmp_path.glob("*.csv"))
    assert written == sorted(tables)
    for key, frame in tables.items():
        from_csv = pd.read_csv(tmp_path / f"{key}.csv")
        ours = frame.reset_index(drop=True)
        ours.columns = [str(c) for c in ours.columns]
        assert list(from_csv.columns) == list(ours.columns), key
        for col in ours.columns:
            a, b = ours[col], from_csv[col]
            if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
                np.testing.assert_allclose(pd.to_numeric(b).to_numpy(dtype=float),
                                           a.to_numpy(dtype=float), rtol=1e-12, err_msg=key)
            else:
                assert [str(x) for x in a.astype(object).where(a.notna(), "")] == \
                    [str(x) for x in b.astype(object).where(b.notna(), "")], key


def test_findings_records_match_the_sentences(plain: Path) -> None:
    exp = tb.load(plain, metric="score", mode="max")
    rec = exp.findings()
    assert list(rec.columns) == FINDING_COLUMNS
    text = [s for _, sentences in exp.findings_text() for s in sentences]
    # every record's sentence is said by findings.py; the shown ones are in the text
    assert rec["in_text"].any()
    assert set(rec.loc[rec["in_text"], "sentence"]) <= set(text)
    opt = rec[(rec["kind"] == "effect") & (rec["factor"] == "opt")].iloc[0]
    assert opt["levels"] == "b − a" and opt["significant"] and opt["in_text"]
    assert 0.09 < opt["effect"] < 0.11 and opt["ci_low"] < opt["effect"] < opt["ci_high"]
    assert opt["n"] >= 2 and opt["p_holm"] < 0.05 and opt["method"]
    assert f"{opt['effect']:+.2f}" in opt["sentence"] and "opt:" in opt["sentence"]
    lr = rec[(rec["kind"] == "effect") & (rec["factor"] == "lr")].iloc[0]
    assert not lr["significant"] and "no detectable difference" in lr["sentence"]
    assert (rec["block"] == rec["block"].iloc[0]).all() and rec["design"].iloc[0]


def test_best_equals_the_findings_best_trial(plain: Path) -> None:
    exp = tb.load(plain, metric="score", mode="max")
    best = exp.best()
    study = fd.study(exp._df)
    assert best is not None and best["trial_id"] == study.blocks[0].best["trial_id"]
    assert best["score"] == exp.trials["score"].max() and best["opt"] == "b"
    rec = exp.findings()
    assert best["trial_id"] in rec.loc[rec["kind"] == "best", "sentence"].iloc[0]


def test_report_and_notebook_view(plain: Path, tmp_path: Path) -> None:
    exp = tb.load(plain, metric="score", mode="max")
    text = exp.report(tmp_path / "md")
    assert (tmp_path / "md" / "report.md").read_text() == text and "## Findings" in text
    assert text == tb.analyze([plain], metric="score", mode="max")
    lines = exp.report(tmp_path / "html", format="html")
    assert (tmp_path / "html" / "report.html").exists() and "report.html" in lines
    with pytest.raises(ConfigError, match="--format"):
        exp.report(tmp_path, format="pdf")
    page = exp._repr_html_()
    sentence = exp.findings_text()[0][1][0]
    assert "<h2>Findings</h2>" in page and "best trial" in page and "12 finished" in page
    assert sentence.split(":")[0] in page
    status = exp.status()
    assert status.startswith("plain: 12 trials: 12 finished") and "best so far" in status


@pytest.mark.slow
def test_sweep_from_a_dict_returns_an_experiment(ray_session, tmp_path: Path,
                                                 tiny_root: Path) -> None:
    space = {"name": "api", "fixed": {"trainer": "svm", "kernel": "rbf", "n_train": 60,
                                       "n_test": 50, "dataset": "mnist"},
             "axes": {"C": [1.0, 10.0]}}
    exp = tb.sweep(space, storage_path=str(tmp_path), data_dir=str(tiny_root))
    assert isinstance(exp, tb.Experiment) and exp.outcome is not None and exp.outcome.ok
    assert exp.states == {"TERMINATED": 2} and len(exp.trials) == 2
    assert exp.best() is not None and "svm" in exp.tables()
    with pytest.raises(ConfigError, match="set C"):
        tb.sweep(space, storage_path=str(tmp_path), set={"C": "big"})
