"""Ground truth for the statistics of sampled searches (tune_bench.analysis.sampled): simulated
random searches with planted effects, null searches for coverage, too few trials, the
direction under mode="min", and Ray's tune_basic_example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tune_bench.analysis.sampled import (
    METHODS,
    MIN_TRIALS,
    Param,
    importance_with_intervals,
    level_effects,
    params_of,
    rank_correlations,
)

BOOT = {"n_boot": 40, "n_perm": 40}  # fewer importance resamples than the default: test time


def planted(n: int, seed: int, cat_effect: float = 0.5) -> tuple[pd.DataFrame, pd.Series]:
    """A random search with a dominant log-sampled lr (big monotone effect), a weak dropout,
    a null parameter and a categorical optimizer (adam better by `cat_effect`), plus noise."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"optim.lr": 10 ** rng.uniform(-4, -1, n),
                      "model.dropout": rng.uniform(0, 0.5, n),
                      "model.null": rng.uniform(0, 1, n),
                      "optim.name": rng.choice(["sgd", "adam"], n)})
    u = (np.log10(x["optim.lr"]) + 4) / 3
    y = (3.0 * u + 0.6 * x["model.dropout"] / 0.5 + cat_effect * (x["optim.name"] == "adam")
         + rng.normal(0, 0.4, n))
    return x, pd.Series(y, index=x.index, name="test_acc")


def row(df: pd.DataFrame, name: str) -> pd.Series:
    return df.set_index("Param").loc[name]


def covers(lo: float, hi: float, v: float) -> bool:
    return bool(lo <= v <= hi)


# --------------------------------------------------------------------------- parameters


def test_params_of_infers_kinds_and_log_scale():
    x = pd.DataFrame({"lr": [1e-4, 1e-3, 1e-2], "width": [1.0, 5.0, 20.0],
                      "layers": [1, 2, 3], "flag": [True, False, True],
                      "act": ["relu", "tanh", "relu"], "sizes": ["[1, 2]", "[3]", "[1, 2]"],
                      "maybe": [0.1, np.nan, 0.3]})
    got = {p.name: (p.kind, p.log) for p in params_of(x)}
    assert got == {"lr": ("numeric", True), "width": ("numeric", False),
                   "layers": ("numeric", False), "flag": ("categorical", False),
                   "act": ("categorical", False), "sizes": ("categorical", False),
                   "maybe": ("numeric", False)}


# --------------------------------------------------------------------------- 1. planted truth


@pytest.mark.parametrize("cat_effect", [0.8, 0.0])
def test_planted_truth_random_search(cat_effect: float):
    x, y = planted(60, seed=1, cat_effect=cat_effect)
    params = params_of(x)
    rho = rank_correlations(x, y, params)
    assert list(rho["Param"]) == ["optim.lr", "model.dropout", "model.null"]
    top = rho.loc[rho["Rho"].abs().idxmax()]
    assert top["Param"] == "optim.lr"
    assert top["CI low"] > 0 and top["Direction"] == "larger is better"
    assert top["p (Holm)"] < 0.05
    null = row(rho, "model.null")
    assert covers(null["CI low"], null["CI high"], 0.0), null
    assert null["Direction"] == "no detectable trend"
    assert (rho["Method"] == "partial Spearman rho, Fisher z").all()

    imp = importance_with_intervals(x, y, params, "max", **BOOT)
    assert imp.ranked and imp.message == ""
    t = imp.table.set_index("Param")
    assert imp.table["Param"].iloc[0] == "optim.lr"
    assert t.loc["optim.lr", "Importance"] > t.loc["model.dropout", "Importance"]
    assert t.loc["optim.lr", "Above noise"]
    # the null parameter's interval reaches down to what a parameter without effect gets
    assert t.loc["model.null", "CI low"] <= t.loc["model.null", "Noise level"]
    assert not t.loc["model.null", "Above noise"]
    assert (t["p (perm, Holm)"] >= t["p (perm)"]).all()

    lev = level_effects(x, y, params, "max")
    assert len(lev) == 1
    r = lev.iloc[0]
    assert (r["Level A"], r["Level B"]) == ("adam", "sgd")  # effect = sgd - adam
    if cat_effect:
        assert r["CI high"] < 0 and r["Better"] == "adam"
        assert covers(r["CI low"], r["CI high"], -cat_effect)
    else:
        assert covers(r["CI low"], r["CI high"], 0.0) and r["Better"] == ""


def test_level_effects_rest_and_three_levels():
    rng = np.random.default_rng(3)
    n = 90
    x = pd.DataFrame({"opt": np.repeat(["adam", "rmsprop", "sgd"], n // 3)})
    y = pd.Series((x["opt"] == "sgd") * -1.0 + rng.normal(0, 0.5, n), index=x.index)
    pairs = level_effects(x, y, params_of(x), "max")
    assert len(pairs) == 3
    rest = level_effects(x, y, params_of(x), "max", compare="rest").set_index("Level B")
    assert list(rest["Level A"]) == ["rest"] * 3
    assert rest.loc["sgd", "CI high"] < 0 and rest.loc["sgd", "Better"] == "rest"
    assert covers(rest.loc["sgd", "CI low"], rest.loc["sgd", "CI high"], -1.0)
    flagged = level_effects(x, y, params_of(x), "max", adaptive=True)
    assert any("adaptive" in s for s in flagged.attrs["notes"])
    assert flagged["Method"].str.contains("confounded").all()


# --------------------------------------------------------------------------- 2. coverage


def null_search(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"lr": 10 ** rng.uniform(-4, -1, n), "dropout": rng.uniform(0, 0.5, n),
                      "width": rng.integers(8, 256, n).astype(float),
                      "act": rng.choice(["relu", "tanh", "gelu"], n)})
    return x, pd.Series(rng.normal(size=n), index=x.index)


@pytest.mark.parametrize("n", [30, 60])
def test_null_coverage_and_false_positives(n: int):
    """200 null searches (y independent of every parameter): the rho intervals cover 0 and
    the Welch intervals cover 0 in 92-98% of cases; Holm keeps the chance that any parameter
    (any level pair) is called significant near 5%."""
    experiments = 200
    rho_cover, rho_total, level_cover, level_total = 0, 0, 0, 0
    rho_fp = level_fp = 0
    for s in range(experiments):
        x, y = null_search(n, 10_000 * n + s)
        params = params_of(x)
        rho = rank_correlations(x, y, params)
        lev = level_effects(x, y, params, "max")
        rho_cover += int(((rho["CI low"] <= 0) & (rho["CI high"] >= 0)).sum())
        rho_total += len(rho)
        level_cover += int(((lev["CI low"] <= 0) & (lev["CI high"] >= 0)).sum())
        level_total += len(lev)
        rho_fp += bool((rho["p (Holm)"] < 0.05).any())
        level_fp += bool((lev["p (Holm)"] < 0.05).any())
    rc, lc = rho_cover / rho_total, level_cover / level_total
    fr, fl = rho_fp / experiments, level_fp / experiments
    msg = (f"n={n}: rho coverage {rc:.3f} of {rho_total}, level coverage {lc:.3f} of "
           f"{level_total}, Holm family-wise false positives rho {fr:.3f}, levels {fl:.3f}")
    print(msg)
    assert rho_total == 3 * experiments and level_total == 3 * experiments, msg
    assert 0.92 <= rc <= 0.98, msg
    assert 0.92 <= lc <= 0.98, msg
    assert fr <= 0.07 and fl <= 0.07, msg


# --------------------------------------------------------------------------- 3. too few trials


def test_too_few_trials_gives_no_numbers():
    x, y = planted(8, seed=0)
    res = importance_with_intervals(x, y, params_of(x), "max")
    assert not res.ranked and res.table.empty
    assert res.message == f"too few trials to rank hyperparameters (n = 8 < {MIN_TRIALS})"
    assert 20 <= MIN_TRIALS <= 30


# --------------------------------------------------------------------------- 4. mode="min"


def test_mode_min_flips_directions():
    x, y = planted(60, seed=2)
    params = params_of(x)
    up = rank_correlations(x, y, params, mode="max").set_index("Param")
    down = rank_correlations(x, -y, params, mode="min").set_index("Param")
    worse = rank_correlations(x, y, params, mode="min").set_index("Param")
    assert np.allclose(up["Rho"], -down["Rho"])
    assert np.allclose(up["CI low"], -down["CI high"]) and np.allclose(up["p"], down["p"])
    assert up.loc["optim.lr", "Direction"] == "larger is better"
    assert down.loc["optim.lr", "Direction"] == "larger is better"  # loss falls with lr
    assert worse.loc["optim.lr", "Direction"] == "larger is worse"  # same y, lower is better

    lev_up = level_effects(x, y, params, "max").iloc[0]
    lev_down = level_effects(x, -y, params, "min").iloc[0]
    lev_worse = level_effects(x, y, params, "min").iloc[0]
    assert lev_up["Better"] == lev_down["Better"] == "adam"
    assert lev_worse["Better"] == "sgd"
    assert np.isclose(lev_up["Effect"], -lev_down["Effect"])

    # PED-ANOVA looks at the best trials: the top by the mode
    a = importance_with_intervals(x, y, params, "max", **BOOT).table.set_index("Param")
    b = importance_with_intervals(x, -y, params, "min", **BOOT).table.set_index("Param")
    assert np.allclose(a["Importance"], b.loc[a.index, "Importance"])


# --------------------------------------------------------------------------- 5. Ray's example


def tune_basic_example(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """ray.tune.examples.tune_basic_example: width ~ U(0, 20), height ~ U(-100, 100),
    activation a grid over relu/tanh (no effect), steps = 100; the final mean_loss is
    evaluation_fn(99, width, height) = 1 / (0.1 + width * 99 / 100) + 0.1 * height."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"width": rng.uniform(0, 20, n), "height": rng.uniform(-100, 100, n),
                      "activation": np.tile(["relu", "tanh"], n // 2), "steps": 100})
    y = 1 / (0.1 + x["width"] * 99 / 100) + 0.1 * x["height"]
    return x, y.rename("mean_loss")


@pytest.mark.parametrize("n", [20, 100])
def test_tune_basic_example(n: int):
    x, y = tune_basic_example(n, seed=0)
    params = params_of(x)
    rho = rank_correlations(x, y, params, mode="min")
    assert "steps: the same value in every trial: skipped" in rho.attrs["notes"]
    h, w = row(rho, "height"), row(rho, "width")
    assert h["Rho"] > 0.9 and h["CI low"] > 0.7 and h["Direction"] == "larger is worse"
    assert abs(w["Rho"]) < h["Rho"]
    lev = level_effects(x, y, params, "min").iloc[0]
    assert covers(lev["CI low"], lev["CI high"], 0.0) and lev["Better"] == ""

    imp = importance_with_intervals(x, y, params, "min", **BOOT)
    if n < MIN_TRIALS:
        assert not imp.ranked and imp.message.startswith("too few trials")
        return
    t = imp.table.set_index("Param")
    assert list(imp.table["Param"]) == ["height", "width", "activation"]
    assert t.loc["height", "Above noise"] and t.loc["height", "Separated"]
    assert t.loc["height", "Share"] > 0.9
    assert not t.loc["activation", "Above noise"]


# --------------------------------------------------------------------------- edge cases


def test_nan_metric_constant_param_and_tied_metric():
    x, y = planted(40, seed=4)
    x["const"] = 3.0
    y.iloc[:5] = np.nan
    params = params_of(x)
    rho = rank_correlations(x, y, params)
    assert set(rho["N"]) == {35}
    assert "5 trial(s) without a finite metric left out" in rho.attrs["notes"]
    assert "const: the same value in every trial: skipped" in rho.attrs["notes"]
    imp = importance_with_intervals(x, y, params, **BOOT)
    assert imp.n == 35 and "const" not in set(imp.table["Param"])

    tied = pd.Series(1.0, index=x.index)
    for df in (rank_correlations(x, tied, params), level_effects(x, tied, params)):
        assert df.empty and any("the same in all" in s for s in df.attrs["notes"])
    res = importance_with_intervals(x, tied, params)
    assert not res.ranked and "the same in all" in res.message


def test_forest_fallback_and_methods():
    x, y = planted(40, seed=5)
    res = importance_with_intervals(x, y, params_of(x), use_optuna=False, n_boot=8, n_perm=8)
    assert res.method in METHODS and res.table["Param"].iloc[0] == "optim.lr"
    assert all(m in METHODS for m in ("partial Spearman rho, Fisher z", "Welch t"))
    given = [Param("optim.lr", "numeric", True), Param("optim.name", "categorical")]
    assert list(rank_correlations(x, y, given)["Param"]) == ["optim.lr"]


def test_tune_basic_example_width_is_found_once_height_is_removed():
    """width's real effect on the final loss is small next to height's (its marginal rho is
    -0.047 over 400,000 simulated trials: the 1/(0.1 + width) term is mostly below 1 while
    0.1 * height spans ±10), but with height's ranks removed its partial rank correlation is
    -0.47 (20,000 simulated trials: -0.468, interval -0.486 to -0.453). At 100 trials the
    interval should cover it in about 95% of searches, and width is called "larger is
    better" (mode min) in nearly all."""
    truth = row(rank_correlations(*tune_basic_example(20000, seed=1), params_of(
        tune_basic_example(20, seed=1)[0]), mode="min"), "width")["Rho"]
    assert -0.49 < truth < -0.45
    hits = called = 0
    for s in range(40):
        x, y = tune_basic_example(100, seed=100 + s)
        w = row(rank_correlations(x, y, params_of(x), mode="min"),
                "width")
        hits += covers(w["CI low"], w["CI high"], truth)
        called += w["Direction"] == "larger is better"
    assert hits >= 35, f"width's interval covered {truth:.3f} in {hits} of 40 searches"
    assert called >= 38, f"width called better in {called} of 40 searches"


def test_small_searches_get_fisher_intervals_that_cover():
    """Below 8 residual df the rho interval is Fisher z with Bonett-Wright's SE (a bootstrap
    of 10 trials undercovers): on 300 seeded null searches of 10 trials (2 numeric + 1
    categorical parameter) it covers 0 in 92-99% of intervals, Holm's false-positive rate
    stays <= 7%; with 5 trials there is no interval and no test."""
    covered = total = false_pos = 0
    for s in range(300):
        rng = np.random.default_rng(s)
        x = pd.DataFrame({"a": rng.uniform(size=10), "b": rng.uniform(size=10),
                          "c": rng.choice(["u", "v"], 10)})
        r = rank_correlations(x, pd.Series(rng.normal(size=10)), params_of(x))
        covered += int(((r["CI low"] <= 0) & (r["CI high"] >= 0)).sum())
        total += len(r)
        false_pos += bool((r["p (Holm)"] < 0.05).any())
    assert 0.92 <= covered / total <= 0.99, covered / total
    assert false_pos / 300 <= 0.07, false_pos / 300
    x = pd.DataFrame({"a": [1.0, 2, 3, 4, 5], "b": [5.0, 3, 1, 2, 4]})
    r = rank_correlations(x, pd.Series([1.0, 2, 3, 4, 5]), params_of(x))
    assert r["CI low"].isna().all() and r["p (Holm)"].isna().all()
    assert r.loc[r["Param"] == "a", "Rho"].iloc[0] == pytest.approx(1.0)


def test_level_difference_adjusted_for_where_the_search_went():
    """An adaptive searcher tried one level mostly where another parameter is good: the
    marginal (Welch) difference credits the level with that region; adjusted for the other
    parameters it covers the true zero (Ray's optuna example: activation does nothing, yet
    Optuna's tanh trials had low heights)."""
    rng = np.random.default_rng(5)
    n = 40
    height = rng.uniform(-100, 100, n)
    act = np.where(height + rng.normal(0, 40, n) < 0, "tanh", "relu")
    x = pd.DataFrame({"height": height, "activation": act})
    y = pd.Series(10 + 0.1 * height + rng.normal(0, 0.5, n))
    marginal = level_effects(x, y, params_of(x), "min", adjust=False).iloc[0]
    adjusted = level_effects(x, y, params_of(x), "min").iloc[0]
    assert marginal["p (Holm)"] < 0.05 and marginal["Method"] == "Welch t"
    assert adjusted["CI low"] < 0 < adjusted["CI high"], adjusted
    assert adjusted["Method"].startswith("OLS adjusted")
