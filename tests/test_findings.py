"""analysis/{design,effects,anova,hardware,importance,findings}: ground truth.

Planted effects are recovered within their intervals and the factors ranked right; null
experiments are calibrated (coverage, Holm family-wise error); the ANOVA matches R's published
warpbreaks table; a plain Ray Tune experiment (not tune-bench's) is analyzed from its directory.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.tune_layout import write_experiment
from tune_bench import report
from tune_bench.analysis import anova as av
from tune_bench.analysis import effects as ef
from tune_bench.analysis import findings as fi
from tune_bench.analysis import hardware as hw
from tune_bench.analysis.design import Target, blocks, design
from tune_bench.cli import main
from tune_bench.report import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEST_ACC = Target("test_acc", "max", 100.0)
# Planted: metric = BASE + A*[adam] - B*[sgd and lr=1e-4] + noise (fractions; x100 = points)
BASE, A, B, NOISE = 0.90, 0.010, 0.030, 0.002
LRS = (1e-2, 1e-3, 1e-4)


def frame(rows: list[dict], config: list[str]) -> pd.DataFrame:
    """A trials DataFrame as the loader makes it (config keys recorded in attrs)."""
    df = pd.DataFrame(rows)
    df.attrs["config_columns"] = config
    return df


def planted(seeds: int = 1, rng_seed: int = 0) -> pd.DataFrame:
    """A full grid (optimizer x lr x batch_size x model) on one dataset, planted effects."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for opt, lr, bs, model, seed in itertools.product(
            ("sgd", "adam"), LRS, (16, 32), ("resnet18", "resnet34", "resnet50"),
            range(seeds)):
        y = BASE + A * (opt == "adam") - B * (opt == "sgd" and lr == 1e-4)
        rows.append({"experiment": "e", "trial_id": f"t{len(rows)}", "state": "TERMINATED",
                     "dataset": "mnist", "optimizer": opt, "lr": lr, "batch_size": bs,
                     "model": model, "seed": seed, "test_acc": y + rng.normal(0, NOISE)})
    return frame(rows, ["dataset", "optimizer", "lr", "batch_size", "model", "seed"])


def effect(eff: pd.DataFrame, factor: str, a: str, b: str) -> pd.Series:
    return eff[(eff["Factor"] == factor) & (eff["Level A"] == a) & (eff["Level B"] == b)].iloc[0]


def covers(row: pd.Series, truth: float) -> bool:
    return row["CI low"] <= truth <= row["CI high"]


# --------------------------------------------------------------------------- planted effects


@pytest.mark.parametrize("seeds", [1, 3])
def test_planted_effects_recovered_within_their_intervals(seeds: int) -> None:
    df = planted(seeds)
    (d,) = blocks(df, TEST_ACC)
    assert d.name == "MNIST" and d.factors == ["optimizer", "lr", "batch_size", "model"]
    assert d.repeats == (seeds > 1) and d.complete
    eff = ef.matched_effects(d)
    adam = effect(eff, "optimizer", "SGD", "Adam")
    # averaged over the grid: A everywhere, plus B on the third of the grid with lr=1e-4
    assert covers(adam, 100 * (A + B / 3)) and ef.excludes_zero(adam)
    assert adam["Pairs"] == 18 and adam["Favour B"] == 18
    lr = effect(eff, "lr", "0.0001", "0.001")  # +B on the SGD half only
    assert covers(lr, 100 * B / 2) and ef.excludes_zero(lr)
    for factor, a, b in (("batch_size", "16", "32"), ("model", "ResNet-18", "ResNet-50")):
        null = effect(eff, factor, a, b)
        assert covers(null, 0.0) and not ef.excludes_zero(null)
        assert null["p (Holm)"] > 0.05
    expected = ef.POOLED if seeds > 1 else ef.PAIRED
    assert set(eff["Method"]) == {expected}


@pytest.mark.parametrize("seeds", [1, 3])
def test_anova_ranks_the_factors_and_finds_the_interaction(seeds: int) -> None:
    (d,) = blocks(planted(seeds), TEST_ACC)
    res, reason = av.anova(d)
    assert res is not None and reason == ""
    tab = res.table.set_index("Term")
    assert res.residual == (av.RESIDUAL_REPEATS if seeds > 1 else av.RESIDUAL_HIGHER)
    ranked = tab[tab["F"].notna()].sort_values("Share (%)", ascending=False).index.tolist()
    # in truth lr and optimizer x lr explain the same (B^2/3 per grid point each)
    assert ranked[0] == "optimizer" and set(ranked[1:3]) == {"lr", "optimizer × lr"}
    assert set(tab.index[tab["p (Holm)"] < 0.05]) == {"optimizer", "lr", "optimizer × lr"}
    assert res.strongest_interaction() == ("optimizer", "lr")
    assert tab["Share (%)"].sum() == pytest.approx(100.0)
    if seeds > 1:  # the grid means, weighted, give the sums of squares of a fit to every run
        import statsmodels.formula.api as smf
        from statsmodels.stats.anova import anova_lm

        runs = d.x.astype(str).assign(y=d.y * 100)
        every = anova_lm(smf.ols("y ~ (optimizer + lr + batch_size + model)**2", runs).fit(),
                         typ=2)
        assert tab.loc["optimizer × lr", "SS"] == pytest.approx(every.loc["optimizer:lr",
                                                                          "sum_sq"])
        assert tab.loc["model", "SS"] == pytest.approx(every.loc["model", "sum_sq"])
        resid = tab.loc[av.LACK_OF_FIT, "SS"] + tab.loc[av.RESIDUAL_REPEATS, "SS"]
        assert resid == pytest.approx(every.loc["Residual", "sum_sq"])


def test_ties_at_the_top_use_the_noise_estimate() -> None:
    (d,) = blocks(planted(seeds=3), TEST_ACC)
    ties = av.ties_at_top(d)
    assert ties is not None and "pooled repeats" in ties.method
    # the best is an Adam point; every Adam point is the same in truth (noise 0.2 points)
    assert ties.best["optimizer"] == "Adam"
    assert (ties.tied["optimizer"] == "Adam").all()
    assert len(ties.tied) >= 5  # several of the 17 other (equal in truth) Adam points
    # SGD points are 1 to 4 points below: never within noise of the best
    assert "SGD" not in set(ties.tied["optimizer"])


def test_findings_sentences_state_numbers_and_no_difference() -> None:
    df = planted()
    f = fi.findings(df)
    (name, sentences), = f.sections
    text = "\n".join(sentences)
    assert name == "MNIST" and "single runs" in sentences[0]
    assert "optimizer: Adam − SGD = +" in text and "18 of 18 pairs favour Adam" in text
    assert "batch_size: no detectable difference between 16 and 32" in text
    assert "share of variance (type II ANOVA" in text and "within noise of it" in text
    # strongest first: the optimizer sentence comes before the batch size one
    assert text.index("optimizer:") < text.index("batch_size:")


def test_mode_min_turns_the_favoured_side() -> None:
    df = planted()
    d = next(blocks(df, Target("test_acc", "min", 100.0)))
    adam = effect(ef.matched_effects(d), "optimizer", "SGD", "Adam")
    assert adam["Effect"] > 0 and adam["Favour A"] == 18 and adam["Favour B"] == 0


# --------------------------------------------------------------------------- calibration


def test_null_experiments_are_calibrated() -> None:
    """400 seeded null grids (2 x 4 x 3, single runs): the 95% CI of the two-level factor
    covers zero about 95% of the time, and the Holm-corrected family (every level pair) has a
    family-wise false-positive rate near (at most about) 5%."""
    grid = list(itertools.product(("sgd", "adam"), (1e-2, 1e-3, 1e-4, 1e-5), (16, 32, 64)))
    base = frame([{"optimizer": o, "lr": lr, "batch_size": b, "test_acc": 0.0}
                  for o, lr, b in grid], ["optimizer", "lr", "batch_size"])
    d0 = design(base, Target("test_acc", "max", 1.0), "null")
    rng = np.random.default_rng(20261202)
    n_sims, covered, family_hits = 400, 0, 0
    start = time.perf_counter()
    for _ in range(n_sims):
        y = pd.Series(rng.normal(0.0, 1.0, len(base)), index=d0.x.index)
        eff = ef.matched_effects(d0.with_metric(y))
        covered += covers(effect(eff, "optimizer", "SGD", "Adam"), 0.0)
        family_hits += bool((eff["p (Holm)"] < 0.05).any())
    elapsed = time.perf_counter() - start
    assert 0.92 <= covered / n_sims <= 0.98
    assert 0.01 <= family_hits / n_sims <= 0.075
    assert elapsed < 30  # a few seconds on an idle core


# --------------------------------------------------------------------------- ANOVA vs R

# R's datasets::warpbreaks (Tippett 1950, p. 106), as distributed in Rdatasets
# (vincentarelbundock/Rdatasets, csv/datasets/warpbreaks.csv): 9 looms per wool x tension.
WARPBREAKS = {
    ("A", "L"): [26, 30, 54, 25, 70, 52, 51, 26, 67],
    ("A", "M"): [18, 21, 29, 17, 12, 18, 35, 30, 36],
    ("A", "H"): [36, 21, 24, 18, 10, 43, 28, 15, 26],
    ("B", "L"): [27, 14, 29, 19, 29, 31, 41, 20, 44],
    ("B", "M"): [42, 26, 19, 16, 39, 28, 21, 39, 29],
    ("B", "H"): [20, 21, 24, 17, 13, 15, 15, 16, 28],
}
# R's anova(lm(breaks ~ wool * tension, data = warpbreaks)), the example of ?warpbreaks, as
# printed (e.g. reproduced in the Analysis of Variance Table of many R course notes):
#              Df Sum Sq Mean Sq F value    Pr(>F)
# wool          1  450.7  450.67  3.7653 0.0582130 .
# tension       2 2034.3 1017.13  8.4980 0.0006926 ***
# wool:tension  2 1002.8  501.39  4.1891 0.0210442 *
# Residuals    48 5745.1  119.69
# The design is balanced, so type II sums of squares equal these sequential ones.
R_WARPBREAKS = {"wool": (1, 450.7, 3.7653, 0.0582130),
                "tension": (2, 2034.3, 8.4980, 0.0006926),
                "wool × tension": (2, 1002.8, 4.1891, 0.0210442)}


def test_anova_matches_r_warpbreaks() -> None:
    rows = [{"wool": w, "tension": t, "seed": i, "breaks": float(v)}
            for (w, t), values in WARPBREAKS.items() for i, v in enumerate(values)]
    df = frame(rows, ["wool", "tension", "seed"])
    d = design(df, Target("breaks", "min", 1.0), "warpbreaks")
    res, _ = av.anova(d)
    assert res is not None and res.residual == av.RESIDUAL_REPEATS
    tab = res.table.set_index("Term")
    for term, (dof, ss, f, p) in R_WARPBREAKS.items():
        assert tab.loc[term, "df"] == dof
        assert round(tab.loc[term, "SS"], 1) == ss
        assert round(tab.loc[term, "F"], 4) == f
        assert round(tab.loc[term, "p"], 7) == p
    resid = tab.loc[av.RESIDUAL_REPEATS]
    assert resid["df"] == 48 and round(resid["SS"], 1) == 5745.1
    assert round(res.sigma2, 2) == 119.69  # R's residual mean square


def test_unreplicated_anova_says_which_residual() -> None:
    rows = [{"a": a, "b": b, "score": float(i)} for i, (a, b) in enumerate(
        itertools.product("xyz", "pq"))]
    res, _ = av.anova(design(frame(rows, ["a", "b"]), Target("score"), "two"))
    assert res is not None and res.residual == av.RESIDUAL_TWO_WAY
    assert list(res.table["Term"]) == ["a", "b", av.RESIDUAL_TWO_WAY]
    one = frame([{"a": a, "score": float(i)} for i, a in enumerate("xyz")], ["a"])
    res, reason = av.anova(design(one, Target("score"), "one"))
    assert res is None and "no residual" in reason
    sparse = frame([{"a": "x", "b": "p", "score": 1.0}, {"a": "y", "b": "q", "score": 2.0},
                    {"a": "x", "b": "q", "score": 3.0}], ["a", "b"])
    res, reason = av.anova(design(sparse, Target("score"), "sparse"))
    assert res is None and "3 of 4" in reason


# --------------------------------------------------------------------------- hardware


def _pairs(gpu_minus_cpu: list[float]) -> pd.DataFrame:
    n = len(gpu_minus_cpu)
    macs = np.linspace(30e6, 300e6, n)
    cpu = np.full(n, 0.90)
    return pd.DataFrame({"acc_cpu": cpu, "acc_gpu": cpu + np.asarray(gpu_minus_cpu) / 100,
                         "speedup": macs / 1e6, "macs": macs})


def test_cpu_gpu_equivalence_and_rank_correlation() -> None:
    same = hw._one("MNIST", _pairs([0.05, -0.04, 0.02, -0.03, 0.01, 0.0, -0.02, 0.03]))
    assert same.pairs == 8 and same.equivalent and same.ci_low < 0 < same.ci_high
    assert same.rho == pytest.approx(1.0) and same.rho_low > 0
    worse = hw._one("MNIST", _pairs([-2.1, -1.9, -2.0, -2.2, -1.8, -2.0]))
    assert not worse.equivalent and worse.ci_high < 0
    text = " ".join(fi._hardware_sentences(worse))
    assert "a detectable difference" in text and "not shown equivalent within ±0.5" in text
    assert "larger models get higher speedups" in text


# --------------------------------------------------------------------------- importance


def _random_search(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    lr = 10 ** rng.uniform(-5, -1, n)
    wd = rng.uniform(0, 1e-3, n)  # sampled too, no effect
    opt = rng.choice(["sgd", "adam"], n)
    bs = rng.choice([16, 32, 64], n)
    y = 0.9 - 0.05 * (np.log10(lr) + 3) ** 2 / 4 + rng.normal(0, 0.002, n)
    return frame([{"dataset": "mnist", "lr": float(a), "weight_decay": float(w),
                   "optimizer": str(o), "batch_size": int(b), "seed": 0, "test_acc": float(v)}
                  for a, w, o, b, v in zip(lr, wd, opt, bs, y, strict=True)],
                 ["dataset", "lr", "weight_decay", "optimizer", "batch_size", "seed"])


def test_random_search_is_a_sampled_design_with_intervals() -> None:
    """A random search is not read as a grid: lr and weight_decay are sampled, the findings say
    so, give no matched pairs or ANOVA, and rank lr (a non-monotone, dominant effect) first by
    importance with an interval above the noise level."""
    df = _random_search()
    (d,) = blocks(df, TEST_ACC)
    assert d.kind == "sampled" and d.sampled == ["lr", "weight_decay"] and not d.dropped
    f = fi.findings(df)
    text = " ".join(f.sections[0][1])
    assert text.startswith("design: sampled search, 60 trials drawn at random")
    assert "matched pair" not in text.replace("no matched pairs", "") and "type II" not in text
    b = fi.study(df).blocks[0]
    imp = b.importance.table
    assert imp["Param"].iloc[0] == "lr" and bool(imp["Above noise"].iloc[0])
    assert imp.loc[imp["Param"] == "lr", "CI low"].iloc[0] > imp.loc[
        imp["Param"] == "weight_decay", "CI high"].iloc[0]
    table = fi.importance_table(df)
    assert table is not None and table.df["Importance"].dtype == float
    assert fi.effects_table(df) is None and fi.anova_table(df) is None


# --------------------------------------------------------------------------- reports


def _resnet_trial(opt: str, lr: float, bs: int, acc: float) -> dict:
    config = {"trainer": "resnet", "dataset": "mnist", "model": "resnet18", "optimizer": opt,
              "lr": lr, "batch_size": bs, "epochs": 1, "seed": 0}
    return {"config": config, "results": [{"epoch": 1, "test_acc": acc, "train_time_ms": 10.0,
                                           "val_acc": acc - 0.01}]}


@pytest.fixture(scope="module")
def grid_exp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tune-bench-shaped full grid on disk (optimizer x lr x batch_size, single runs)."""
    rng = np.random.default_rng(3)
    trials = [_resnet_trial(o, lr, b, BASE + A * (o == "adam") - B * (o == "sgd" and lr == 1e-4)
                            + rng.normal(0, NOISE))
              for o, lr, b in itertools.product(("sgd", "adam"), LRS, (16, 32, 64))]
    return write_experiment(tmp_path_factory.mktemp("grid"), "q1a", trials)


def test_report_has_findings_first_and_numeric_tables(grid_exp: Path, tmp_path: Path) -> None:
    text = report.write_report([grid_exp], "markdown")
    assert text.index("## Findings") < text.index("## Trials per state")
    assert "## Matched effects" in text and "## ANOVA (variance explained)" in text
    out = tmp_path / "csv"
    report.write_report([grid_exp], "csv", out=out)
    eff = pd.read_csv(out / "effects.csv")
    assert eff["Effect"].dtype == float and eff["CI low"].dtype == float
    anova = pd.read_csv(out / "anova.csv")
    assert anova["Share (%)"].dtype == float and "optimizer × lr" in set(anova["Term"])
    assert not (out / "importance.csv").exists()  # a complete grid: no importance table
    report.write_report([grid_exp], "latex", out=tmp_path / "tex")
    assert r"\textbf{+" in (tmp_path / "tex" / "effects.tex").read_text()


def test_saved_spec_metric_and_cli_options(grid_exp: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    exp = tmp_path / "copy"
    shutil.copytree(grid_exp, exp)
    (exp / "tune_bench_spec.json").write_text(json.dumps({"spec": {"metric": "val_acc",
                                                                   "mode": "max"}}))
    assert "best val_acc" in report.write_report([exp], "markdown")
    assert "best test_acc" in report.write_report([exp], "markdown", metric="test_acc")
    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(exp), "--metric", "nope"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error: --metric: no trial reports 'nope'; ")
    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(exp), "--mode", "sideways"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error: --mode: must be max or min")


def test_findings_plots_render(grid_exp: Path, tmp_path: Path) -> None:
    from tune_bench import analysis as an

    df = an.load_experiments([grid_exp])
    paths = [fn(df, tmp_path) for fn in (plots.main_effects, plots.strongest_interaction,
                                         plots.parallel_coordinates)]
    assert [p.name for p in paths] == ["main_effects.png", "interaction.png",
                                       "parallel_coordinates.png"]
    for p in paths:
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 5000
    assert plots.importance_bars(df, tmp_path) is None  # a complete grid
    rs = plots.importance_bars(_random_search(), tmp_path)
    assert rs is not None and rs.read_bytes()[:8] == PNG_MAGIC
    report.write_report([grid_exp], "html", out=tmp_path / "html")
    doc = (tmp_path / "html" / "report.html").read_text()
    assert doc.index('id="findings"') < doc.index('id="trial_states"')
    for name in ("main effects", "interaction", "parallel coordinates"):
        assert f"<figcaption>{name}</figcaption>" in doc


# --------------------------------------------------------------------------- plain Ray Tune

TUNE_SCRIPT = '''
import sys
from ray import tune


def objective(config):
    score = 1.0 + 0.5 * (config["a"] == "y") + 0.1 * config["b"] + 0.01 * config["c"]
    for step in range(2):
        tune.report({"score": score + 0.001 * step})


tuner = tune.Tuner(
    objective,
    param_space={"a": tune.grid_search(["x", "y"]), "b": tune.grid_search([1, 2]),
                 "c": tune.grid_search([0, 1, 2])},
    run_config=tune.RunConfig(storage_path=sys.argv[1], name="plain"),
)
tuner.fit()
'''


def test_plain_ray_tune_experiment(ray_session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    """A function trainable and a grid written the way Tune's docs do, no tune-bench spec."""
    import runpy

    script = tmp_path / "plain.py"
    script.write_text(TUNE_SCRIPT)
    monkeypatch.setattr("sys.argv", [str(script), str(tmp_path / "results")])
    runpy.run_path(str(script), run_name="__main__")
    capsys.readouterr()
    main(["analyze", str(tmp_path / "results" / "plain"), "--metric", "score", "--mode", "max"])
    out = capsys.readouterr().out
    assert "## Findings" in out and "design: complete 2 × 2 × 3 grid over a, b, c" in out
    # not an accuracy: differences in the metric's own units
    assert "a: y − x = +0.50" in out and "6 of 6 pairs favour y" in out
    assert "## ANOVA (variance explained)" in out


def test_metric_chosen_only_when_one_candidate(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """Without a recorded metric: the only metric the trials report is analyzed (and said);
    with several, analyze and status list them and ask for --metric (exit 2, one line)."""
    exp = write_experiment(tmp_path, "other", [
        {"config": {"a": 1}, "results": [{"loss": 0.5}]},
        {"config": {"a": 2}, "results": [{"loss": 0.4}]}])
    text = report.write_report([exp], "markdown")
    assert "_metric: loss (lower is better; the only metric the trials report; mode from its " \
        "name)_" in text
    assert "best trial: " in text and "loss 0.40" in text
    text = report.write_report([exp], "markdown", metric="loss", mode="min")
    assert "_metric: loss (lower is better; --metric)_" in text
    assert "a: 2 − 1 = -0.10 from a single matched pair: no interval, no conclusion." in text
    assert "no ANOVA: single runs of a one-factor grid" in text
    two = write_experiment(tmp_path, "two", [
        {"config": {"a": 1}, "results": [{"loss": 0.5, "acc": 0.7}]},
        {"config": {"a": 2}, "results": [{"loss": 0.4, "acc": 0.8}]}])
    for cmd in (["analyze", str(two)], ["status", str(two)]):
        with pytest.raises(SystemExit) as exc:
            main(cmd)
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and len(err.splitlines()) == 1, err
        assert "the trials report 2: loss, acc; choose one with --metric" in err


def test_one_rule_for_significant_and_huge_f_printed_as_such() -> None:
    """An interval that excludes zero with Holm's p above 0.05 is not called a difference (the
    text says why); a row is significant only by Holm's p; an F against a residual of about
    zero prints as '>1e6', not as 31 digits."""
    from tune_bench.report.format import stat

    row = pd.Series({"Factor": "lr", "Level A": "0.1", "Level B": "0.2", "Effect": 0.5,
                     "CI low": 0.1, "CI high": 0.9, "Pairs": 4, "Favour A": 0, "Favour B": 4,
                     "p (Holm)": 0.22, "Method": ef.PAIRED})
    assert ef.excludes_zero(row) and not ef.significant(row)
    text = fi._effect_sentence(row, TEST_ACC, 1)
    assert text.startswith("lr: no detectable difference") and \
        "p(Holm) = 0.22: not significant after Holm correction" in text
    assert ef.significant(pd.Series({**row.to_dict(), "p (Holm)": 0.01}))
    assert stat(3133762857216560056382347280384.0) == ">1e6" and stat(12.345) == "12.35"
