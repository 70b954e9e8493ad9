"""analysis/: reading Tune's on-disk format and the numbers of every table."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.tune_layout import write_experiment
from tune_bench import analysis as an
from tune_bench.errors import ExperimentError
from tune_bench.report.format import display

# --------------------------------------------------------------------------- trial builders


def resnet(
    acc: float,
    *,
    dataset: str = "mnist",
    model: str = "resnet18",
    batch_size: int = 16,
    optimizer: str = "sgd",
    lr: float = 1e-3,
    epochs: int = 2,
    pin_memory: bool = False,
    device: str = "cpu",
    seed: int = 0,
    time_ms: float = 1000.0,
    macs: float | None = 30e6,
    flops: float | None = None,
    state: str = "TERMINATED",
) -> dict:
    """A finished ResNet trial reporting per the contract; the last row carries test_acc."""
    config = {"trainer": "resnet", "dataset": dataset, "model": model, "batch_size": batch_size,
              "optimizer": optimizer, "lr": lr, "epochs": epochs, "pin_memory": pin_memory,
              "device": device, "seed": seed, "split": "seeds", "n_train": None}
    rows = [{"epoch": e, "train_loss": 1.0 / (e + 1), "train_acc": 0.5 + 0.1 * e,
             "val_loss": 1.2 / (e + 1), "val_acc": 0.6 + 0.1 * e,
             "train_time_ms": time_ms * (e + 1) / epochs,
             "resources": {"cpu": 1, "gpu": 1 if device == "gpu" else 0},
             "versions": {"python": "3.11", "torch": "2.5"}} for e in range(epochs)]
    final = {"test_acc": acc, "test_loss": 0.1, "per_class_acc": [acc] * 10,
             "confusion_matrix": [[10 if i == j else 0 for j in range(10)] for i in range(10)],
             "params": 11_000_000, "final": True}
    if macs is not None:
        final["macs"] = macs
        final["flops"] = 2 * macs if flops is None else flops
    rows[-1].update(final)
    return {"config": config, "results": rows, "state": state}


def svm(
    acc: float,
    *,
    dataset: str = "mnist",
    kernel: str = "rbf",
    C: float = 1.0,
    gamma: str | float = "scale",
    degree: int = 3,
    seed: int = 0,
    time_ms: float = 5000.0,
    train_acc: float = 0.99,
    **result: object,
) -> dict:
    config = {"trainer": "svm", "dataset": dataset, "kernel": kernel, "C": C, "gamma": gamma,
              "degree": degree, "coef0": 0.0, "backend": "auto", "seed": seed}
    row = {"test_acc": acc, "train_acc": train_acc, "train_time_ms": time_ms,
           "predict_time_ms": time_ms / 10, "n_support": 100, "svm_backend": "sklearn",
           "svm_threads": 2, "final": True, **result}
    return {"config": config, "results": [row], "state": "TERMINATED"}


def load(tmp_path: Path, trials: list[dict], name: str = "exp", **kw) -> pd.DataFrame:
    return an.load_experiments([write_experiment(tmp_path, name, trials, **kw)])


def starred(table: an.Table) -> pd.DataFrame:
    """The table's cells as displayed, with `*` after the emphasized ones."""
    text, bold = display(table)
    return text.where(~bold, text + "*")


def by(df: pd.DataFrame, **match) -> pd.DataFrame:
    mask = np.ones(len(df), bool)
    for k, v in match.items():
        mask &= (df[k] == v).to_numpy()
    return df[mask]


# --------------------------------------------------------------------------- loading


def test_tune_bench_shaped_configs_load_flat(tmp_path: Path) -> None:
    """Configs as tune-bench's sweeps write them: the grid point under `variant`."""
    trials = [{"config": {"variant": {"trainer": "svm", "dataset": "mnist/x", "kernel": k},
                          "seed": 1}, "results": [{"test_acc": acc, "final": True}]}
              for k, acc in (("rbf", 0.9), ("poly", 0.8))]
    exp = write_experiment(tmp_path, "nested", trials)
    dirs = [p for p in exp.iterdir() if p.is_dir()]
    assert len(dirs) == 2 and all((p / "result.json").is_file() for p in dirs)
    df = an.load_experiments([exp])
    assert sorted(df["kernel"]) == ["poly", "rbf"] and set(df["seed"]) == {1}
    assert "variant" not in df.columns


def test_load_columns_states_and_history(tmp_path: Path) -> None:
    nested = {"config": {"trainer": "svm", "dataset": "mnist", "variant": {"kernel": "poly",
                                                                          "C": 0.5}},
              "results": [{"test_acc": 0.9, "final": True}]}
    trials = [resnet(0.95, epochs=3), nested,
              {"config": {"trainer": "resnet", "dataset": "mnist"}, "results": [],
               "state": "PENDING"},
              {"config": {"trainer": "resnet", "dataset": "mnist", "model": "resnet50"},
               "results": [{"epoch": 0, "val_acc": 0.2}], "state": "ERROR",
               "error": "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"},
              {"config": {"trainer": "resnet", "dataset": "fashion_mnist"},
               "results": [{"epoch": 0, "val_acc": 0.3}], "state": "RUNNING"}]
    df = load(tmp_path, trials)
    assert list(df.columns[:5]) == ["experiment", "trial_id", "trial_dir", "state", "error"]
    assert list(df["state"]) == ["TERMINATED", "TERMINATED", "PENDING", "ERROR", "RUNNING"]
    assert df["trial_id"].is_unique and all(Path(d).is_dir() for d in df["trial_dir"])
    assert df.loc[3, "error"] == "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert df["error"].isna().sum() == 4
    # nested config flattened to plain keys
    assert df.loc[1, "kernel"] == "poly" and df.loc[1, "C"] == 0.5
    # last metrics, list-valued kept as objects
    first = df.loc[0]
    assert first["test_acc"] == 0.95 and first["train_time_ms"] == 1000.0
    assert first["confusion_matrix"][3][3] == 10 and len(first["per_class_acc"]) == 10
    assert first["resources"] == {"cpu": 1, "gpu": 0}
    assert list(df["n_results"]) == [3, 1, 0, 1, 1]
    assert [h["epoch"] for h in first["history"]] == [0, 1, 2]
    assert first["history"][1]["val_acc"] == pytest.approx(0.7)
    assert "config" not in df.columns and "pid" not in df.columns
    hist = an.load_history(df)
    assert len(hist) == 3 + 1 + 0 + 1 + 1
    assert list(hist.columns[:3]) == ["experiment", "trial_id", "epoch"]
    one = hist[hist["trial_id"] == first["trial_id"]]
    assert one["train_loss"].tolist() == pytest.approx([1.0, 0.5, 1 / 3])


def test_states_inferred_without_experiment_state(tmp_path: Path) -> None:
    trials = [resnet(0.9),
              {"config": {"trainer": "resnet"}, "results": [{"epoch": 0, "val_acc": 0.1}],
               "state": "RUNNING"},
              {"config": {"trainer": "resnet"}, "results": [], "state": "PENDING"},
              {"config": {"trainer": "resnet"}, "results": [{"epoch": 0}], "state": "ERROR",
               "error": "ValueError: boom"}]
    df = load(tmp_path, trials, write_state=False)
    assert list(df["state"]) == ["TERMINATED", "INCOMPLETE", "PENDING", "ERROR"]
    assert df.loc[3, "error"] == "ValueError: boom"
    # the pending trial's empty directory still yields its trial id
    assert df.loc[2, "trial_id"].endswith("_00002")


def test_killed_driver_running_and_pending(tmp_path: Path) -> None:
    """As after kill -9 of the driver: state says RUNNING/PENDING, partial results on disk."""
    partial = resnet(0.9, epochs=4)
    partial["results"] = partial["results"][:2]
    partial["state"] = "RUNNING"
    trials = [resnet(0.9), partial, {"config": {"trainer": "resnet"}, "results": [],
                                     "state": "PENDING"}]
    exp = write_experiment(tmp_path, "killed", trials)
    result = next(exp.glob("*_00001_*")) / "result.json"
    with result.open("a") as f:
        f.write('{"epoch": 2, "train_lo')  # torn last line
    df = an.load_experiments([exp])
    assert list(df["state"]) == ["TERMINATED", "RUNNING", "PENDING"]
    assert list(df["n_results"]) == [2, 2, 0]
    assert math.isnan(df.loc[1, "test_acc"]) and df.loc[1, "epoch"] == 1
    assert an.with_final_metric(df)["trial_id"].tolist() == [df.loc[0, "trial_id"]]


def test_unreadable_state_file_falls_back_to_inference(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path, "exp", [resnet(0.9)])
    next(exp.glob("experiment_state-*.json")).write_text('{"trial_data": [["{broken')
    df = an.load_experiments([exp])
    assert df.loc[0, "state"] == "TERMINATED" and df.loc[0, "dataset"] == "mnist"
    assert "unreadable" in df.attrs["warnings"][0]


def test_newest_experiment_state_wins(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path, "exp", [resnet(0.9)])
    old = next(exp.glob("experiment_state-*.json"))
    data = json.loads(old.read_text())
    info = json.loads(data["trial_data"][0][0])
    info["status"] = "RUNNING"
    data["trial_data"][0][0] = json.dumps(info)
    (exp / "experiment_state-2025-01-01_00-00-00.json").write_text(json.dumps(data))
    assert an.load_experiments([exp]).loc[0, "state"] == "TERMINATED"


def test_progress_csv_used_when_result_json_missing(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path, "exp", [resnet(0.875, epochs=3)])
    trial = next(p for p in exp.iterdir() if p.is_dir())
    (trial / "result.json").unlink()
    df = an.load_experiments([exp])
    assert df.loc[0, "test_acc"] == 0.875 and df.loc[0, "n_results"] == 3
    assert [h["epoch"] for h in df.loc[0, "history"]] == [0, 1, 2]


def test_several_experiments(tmp_path: Path) -> None:
    a = write_experiment(tmp_path, "a", [resnet(0.9), resnet(0.8)])
    b = write_experiment(tmp_path, "b", [svm(0.7)])
    df = an.load_experiments([a, str(b)])
    assert df["experiment"].tolist() == ["a", "a", "b"]
    assert an.config_columns(df)[:2] == ["trainer", "dataset"]


def test_not_an_experiment_and_empty(tmp_path: Path) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "readme.txt").write_text("hello")
    with pytest.raises(ExperimentError, match="notes: not a Ray Tune experiment directory"):
        an.load_experiments([other])
    with pytest.raises(ExperimentError, match="missing: not an experiment directory"):
        an.load_experiments([tmp_path / "missing"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ExperimentError, match="empty: no trials"):
        an.load_experiments([empty])
    no_trials = write_experiment(tmp_path, "fresh", [])
    with pytest.raises(ExperimentError, match="fresh: no trials"):
        an.load_experiments([no_trials])
    assert issubclass(ExperimentError, Exception) and ExperimentError.exit_code == 5


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_mtime_ns, st.st_size)
    return out


def test_nothing_written_into_experiment_dir(tmp_path: Path) -> None:
    from tune_bench.report import status_summary, write_report
    from tune_bench.report.plots import make_plots

    trials = [resnet(0.9, device="cpu"), resnet(0.91, device="gpu", time_ms=100.0), svm(0.8),
              {"config": {"trainer": "resnet"}, "results": [{"epoch": 0}], "state": "ERROR",
               "error": "ValueError: x"}]
    exp = write_experiment(tmp_path / "runs", "exp", trials)
    before = _snapshot(exp)
    df = an.load_experiments([exp])
    an.all_tables(df)
    make_plots(df, tmp_path / "plots")
    status_summary(exp)
    write_report([exp], "csv", out=tmp_path / "report", export="parquet")
    assert _snapshot(exp) == before


def test_ten_thousand_trials(tmp_path: Path) -> None:
    n = 10_000
    trials = [{"config": {"trainer": "svm", "dataset": "mnist", "kernel": "rbf",
                          "C": float(i % 100 + 1), "seed": i // 100},
               "results": [{"test_acc": (i % 997) / 1000, "train_time_ms": float(i),
                            "final": True}]} for i in range(n - 2)]
    trials.append({"config": {"trainer": "svm"}, "results": [], "state": "PENDING"})
    trials.append({"config": {"trainer": "svm"}, "results": [], "state": "ERROR",
                   "error": "MemoryError: too big"})
    df = load(tmp_path, trials, auxiliary_files=False, indent=None)
    assert len(df) == n and df["trial_id"].is_unique
    assert df["state"].value_counts().to_dict() == {"TERMINATED": n - 2, "PENDING": 1, "ERROR": 1}
    expected = sum((i % 997) / 1000 for i in range(n - 2))
    assert df["test_acc"].sum() == pytest.approx(expected)
    best = an.best_trial(df)
    # acc 0.996 first reached by i = 996 (ties broken by lower time)
    assert best["test_acc"] == 0.996 and best["train_time_ms"] == 996.0
    assert starred(an.errored_trials(df))["Error"].tolist() == ["MemoryError: too big"]


# --------------------------------------------------------------------------- statistics


def test_summarize_and_welch_match_scipy() -> None:
    s = an.summarize([0.90, 0.92, 0.94])
    assert s["n"] == 3 and s["mean"] == pytest.approx(0.92) and s["std"] == pytest.approx(0.02)
    assert s["ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * 0.02 / math.sqrt(3))
    assert s["ci95"] == pytest.approx(0.0496826, rel=1e-5)
    one = an.summarize([0.5])
    assert one["n"] == 1 and math.isnan(one["std"]) and math.isnan(one["ci95"])
    a, b = [0.90, 0.92, 0.94], [0.80, 0.81, 0.83]
    t, p = an.welch_test(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert t == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue) and p < 0.05
    assert an.welch_test([0.9], b) is None
    for a, b in (([0.5, 0.5, 0.5], [0.4, 0.45, 0.47, 0.5, 0.41]), ([0.9, 0.7], [0.1, 0.3, 0.2])):
        t, p = an.welch_test(a, b)
        ref = stats.ttest_ind(a, b, equal_var=False)
        assert t == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    assert an.welch_test([0.5, 0.5], [0.4, 0.4]) is None


def test_config_groups_treat_none_and_nan_alike_and_compare_unhashables() -> None:
    rows = [{"trial_id": f"t{i}", "state": "TERMINATED", "test_acc": 0.5 + i / 100,
             "train_time_ms": 1.0, "model": "resnet18", "gamma": g, "seed": i,
             "tags": list(t)} for i, (g, t) in enumerate(
                 [(None, "ab"), (math.nan, "ab"), ("scale", "ab"), ("scale", "ab"),
                  ("scale", "b"), (0.001, "ab")])]
    df = pd.DataFrame(rows)
    df.attrs["config_columns"] = ["model", "gamma", "seed", "tags"]
    g = an.config_groups(df)
    assert sorted(g["n"].tolist()) == [1, 1, 2, 2]
    two = g[g["n"] == 2]
    assert sorted(map(sorted, two["trial_ids"])) == [["t0", "t1"], ["t2", "t3"]]
    assert g.iloc[0]["best_trial_id"] == "t5"  # best first


# --------------------------------------------------------------------------- tables


def q1_trials() -> list[dict]:
    """Known numbers: two datasets, two models, repeats for one configuration, one tie."""
    return [
        # mnist, bs 16, sgd, 1e-3: resnet18 best over pin_memory -> 0.9906
        resnet(0.9906, pin_memory=True, time_ms=900.0),
        resnet(0.9800, pin_memory=False, time_ms=800.0),
        resnet(0.9878, model="resnet50", pin_memory=True, time_ms=2000.0),
        # mnist, bs 16, adam, 1e-3: a tie with the best (0.9906) at a higher time
        resnet(0.9906, optimizer="adam", time_ms=950.0),
        # mnist, bs 32, sgd, 1e-3, resnet18: repeats (3 seeds): mean 0.92, std 0.02
        resnet(0.90, batch_size=32, seed=1, time_ms=500.0),
        resnet(0.92, batch_size=32, seed=2, time_ms=500.0),
        resnet(0.94, batch_size=32, seed=3, time_ms=500.0),
        # fashion: adam 1e-3 best 0.9067, epochs axis 2 vs 5
        resnet(0.9067, dataset="fashion_mnist", optimizer="adam", epochs=5, time_ms=3000.0),
        resnet(0.8900, dataset="fashion_mnist", optimizer="adam", epochs=2, time_ms=1500.0),
        resnet(0.8879, dataset="fashion_mnist", model="resnet50", time_ms=4000.0),
        {"config": {"trainer": "resnet", "dataset": "mnist", "model": "resnet50"},
         "results": [], "state": "PENDING"},
        {"config": {"trainer": "resnet", "dataset": "mnist", "model": "resnet50"},
         "results": [{"epoch": 0, "val_acc": 0.1}], "state": "ERROR",
         "error": "RuntimeError: CUDA out of memory"},
    ]


@pytest.fixture
def q1(tmp_path: Path) -> pd.DataFrame:
    return load(tmp_path, q1_trials(), name="q1")


def test_best_per_configuration_numbers(q1: pd.DataFrame) -> None:
    t = an.best_per_configuration(q1)
    assert t.key == "best_per_configuration"
    df = starred(t)
    assert list(df.columns) == ["Dataset", "Batch Size", "Optimizer", "LR", "ResNet-18 Acc (%)",
                                "ResNet-50 Acc (%)"]
    rows = {(r["Dataset"], r["Batch Size"], r["Optimizer"], r["LR"]): r for _, r in df.iterrows()}
    assert list(rows) == [("MNIST", "16", "SGD", "0.001"), ("MNIST", "16", "Adam", "0.001"),
                          ("MNIST", "32", "SGD", "0.001"), ("FashionMNIST", "16", "SGD", "0.001"),
                          ("FashionMNIST", "16", "Adam", "0.001")]
    # best over pin_memory, marked; the tie (same accuracy, other optimizer) marked too
    assert rows["MNIST", "16", "SGD", "0.001"]["ResNet-18 Acc (%)"] == "99.06*"
    assert rows["MNIST", "16", "Adam", "0.001"]["ResNet-18 Acc (%)"] == "99.06*"
    assert rows["MNIST", "16", "SGD", "0.001"]["ResNet-50 Acc (%)"] == "98.78"
    assert rows["MNIST", "16", "Adam", "0.001"]["ResNet-50 Acc (%)"] == "-"
    assert rows["MNIST", "32", "SGD", "0.001"]["ResNet-18 Acc (%)"] == "92.00 ± 2.00 (n=3)"
    # best over the epochs axis
    assert rows["FashionMNIST", "16", "Adam", "0.001"]["ResNet-18 Acc (%)"] == "90.67*"
    assert rows["FashionMNIST", "16", "SGD", "0.001"]["ResNet-50 Acc (%)"] == "88.79"
    notes = " ".join(t.notes)
    assert "final (last reported) test_acc" in notes and "pin_memory" in notes
    assert "epochs" in notes and "1 configuration(s) have repeats" in notes
    assert "2 trial(s) without a final test_acc left out (1 PENDING, 1 ERROR)" in notes


def test_tables_hold_numbers_and_an_emphasis_mask(q1: pd.DataFrame, tmp_path: Path) -> None:
    t = an.best_per_configuration(q1)
    assert t.emphasis.shape == t.df.shape and list(t.emphasis.columns) == list(t.df.columns)
    acc = t.df["ResNet-18 Acc (%)"]  # FashionMNIST bs 16 SGD: only ResNet-50 ran
    assert acc.dtype == float
    assert acc.tolist() == pytest.approx([99.06, 99.06, 92.0, math.nan, 90.67], nan_ok=True)
    assert t.df["ResNet-18 Acc n"].tolist() == pytest.approx([1, 1, 3, math.nan, 1], nan_ok=True)
    assert t.df["ResNet-18 Acc std (%)"].isna().tolist() == [True, True, False, True, True]
    assert t.df["ResNet-50 Acc (%)"].isna().tolist() == [False, True, True, False, True]
    assert t.emphasis["ResNet-18 Acc (%)"].tolist() == [True, True, False, False, True]
    assert not t.emphasis.drop(columns="ResNet-18 Acc (%)").to_numpy().any()
    assert t.df["Batch Size"].tolist() == [16, 16, 32, 16, 16]
    gpu, _ = an.cpu_vs_gpu(load(tmp_path, cpu_gpu_trials(), name="gpu"))
    assert gpu.df[["n CPU", "n GPU"]].values.tolist() == [[1, 1], [1, 2]]
    assert gpu.df["Speedup (x)"].tolist() == pytest.approx(
        [3_038_957 / 240_042, 5_482_543 / 500_000])


def test_titles_come_from_the_registry(q1: pd.DataFrame, tmp_path: Path) -> None:
    """Each table's key and title are written once (TABLES), present or absent."""
    expected = [(spec.key, an.title(spec.key)) for spec in an.TABLES]
    assert [(t.key, t.title) for t in an.all_tables(q1)] == expected
    foreign = load(tmp_path, [{"config": {"width": 1}, "results": [{"epoch": 0}]}], name="f")
    assert [(t.key, t.title) for t in an.all_tables(foreign)] == expected
    assert an.title("top_runs") == "Top 10 single runs" == an.top_runs(q1).title
    assert an.top_runs(q1, n=3).title == "Top 3 single runs"


def test_best_per_configuration_significance(tmp_path: Path) -> None:
    a, b = [0.90, 0.92, 0.94], [0.80, 0.81, 0.83]
    trials = [resnet(v, seed=i) for i, v in enumerate(a)]
    trials += [resnet(v, batch_size=32, seed=i) for i, v in enumerate(b)]
    t = an.best_per_configuration(load(tmp_path, trials))
    assert starred(t)["ResNet-18 Acc (%)"].tolist() == ["92.00 ± 2.00 (n=3)*", "81.33 ± 1.53 (n=3)"]
    p = stats.ttest_ind(a, b, equal_var=False).pvalue
    note = next(n for n in t.notes if n.startswith("MNIST: best cell"))
    assert "ResNet-18 bs=16 SGD lr=0.001: 92.00% (95% CI [87.03, 96.97], n=3)" in note
    assert "runner-up ResNet-18 bs=32 SGD lr=0.001: 81.33%" in note
    assert note.endswith(f"p = {p:.3g}: significant at p < 0.05")


def test_foreign_experiment_without_project_keys(tmp_path: Path) -> None:
    trials = [{"config": {"width": w}, "results": [{"test_acc": a, "final": True}]}
              for w, a in ((1, 0.5), (2, 0.7))]
    df = load(tmp_path, trials)
    tables = {t.key: t for t in an.all_tables(df)}
    assert tables["best_per_configuration"].df.empty
    assert starred(tables["cross_method"]).values.tolist() == [["unknown", "70.00*", "-"]]
    assert starred(tables["best_models"]).iloc[0]["Configuration"] == "width=2"


def test_single_runs_say_so(tmp_path: Path) -> None:
    df = load(tmp_path, [resnet(0.9), resnet(0.8, optimizer="adam")])
    t = an.best_per_configuration(df)
    assert an.SINGLE_RUNS in t.notes
    assert "single runs: no significance test" in " ".join(t.notes)


def test_top_runs_order_and_ties(q1: pd.DataFrame) -> None:
    t = an.top_runs(q1, n=3)
    runs = starred(t)
    mnist = runs[runs["Dataset"] == "MNIST"]
    assert mnist["Rank"].tolist() == ["1", "2", "3"]
    # tie at 99.06: lower training time first (900 < 950)
    assert mnist["Test Acc (%)"].tolist() == ["99.06", "99.06", "98.78"]
    assert mnist["Optimizer"].tolist() == ["SGD", "Adam", "SGD"]
    assert mnist["Train Time (ms)"].tolist() == ["900.0", "950.0", "2000.0"]
    assert mnist["pin_memory"].tolist() == ["True", "False", "True"]
    for col in ("Model", "Batch Size", "LR", "Epochs", "Device", "Seed", "Trial"):
        assert col in runs.columns
    fashion = runs[runs["Dataset"] == "FashionMNIST"]
    assert fashion["Test Acc (%)"].tolist() == ["90.67", "89.00", "88.79"]
    assert fashion["Epochs"].tolist()[:2] == ["5", "2"]


def test_best_config_per_dataset_model(q1: pd.DataFrame) -> None:
    t = an.best_config_per_dataset_model(q1)
    got = {(r["Dataset"], r["Model"]): r for _, r in starred(t).iterrows()}
    assert list(got) == [("MNIST", "ResNet-18"), ("MNIST", "ResNet-50"),
                         ("FashionMNIST", "ResNet-18"), ("FashionMNIST", "ResNet-50")]
    r18 = got["MNIST", "ResNet-18"]
    assert (r18["Test Acc (%)"], r18["Optimizer"], r18["Train Time (ms)"]) == (
        "99.06", "SGD", "900.0")  # tie with adam broken by lower time
    assert got["FashionMNIST", "ResNet-18"]["Epochs"] == "5"
    assert got["FashionMNIST", "ResNet-18"]["Test Acc (%)"] == "90.67"
    assert "95% CI (%)" in starred(t).columns  # the study has repeats somewhere


def test_repeats_ci_in_best_config(tmp_path: Path) -> None:
    trials = [resnet(v, seed=s) for s, v in enumerate([0.90, 0.92, 0.94])]
    t = an.best_config_per_dataset_model(load(tmp_path, trials))
    row = starred(t).iloc[0]
    half = stats.t.ppf(0.975, 2) * 0.02 / math.sqrt(3)
    assert row["Test Acc (%)"] == "92.00 ± 2.00 (n=3)"
    assert row["95% CI (%)"] == f"[{100 * (0.92 - half):.2f}, {100 * (0.92 + half):.2f}]"
    assert row["95% CI (%)"] == "[87.03, 96.97]"


def test_svm_table_and_best(tmp_path: Path) -> None:
    trials = [svm(0.9325, kernel="poly", degree=2, C=0.1, time_ms=11341.31),
              svm(0.9586, kernel="poly", degree=4, C=1.0, time_ms=6426.30),
              svm(0.9520, kernel="rbf", C=10.0, gamma=0.001, time_ms=8167.06),
              svm(0.9520, kernel="rbf", C=1.0, gamma="scale", time_ms=9000.0),  # tie, slower
              svm(0.8651, dataset="fashion_mnist", kernel="rbf", C=10.0, time_ms=8156.18,
                  svm_backend="onedal", svm_predict="gemm"),
              resnet(0.99)]
    df = load(tmp_path, trials)
    t = an.svm_table(df)
    rows = starred(t)
    assert list(rows.columns) == ["Dataset", "Kernel", "C", "gamma", "degree", "Test Acc (%)",
                                  "Train Acc (%)", "Train Time (ms)", "Predict Time (ms)",
                                  "Backend", "Best"]
    assert len(rows) == 5
    poly4 = by(rows, Kernel="Poly", degree="4").iloc[0]
    assert (poly4["Test Acc (%)"], poly4["Train Time (ms)"], poly4["Predict Time (ms)"],
            poly4["Best"], poly4["Backend"]) == ("95.86", "6426.3", "642.6", "*", "sklearn")
    assert by(rows, Kernel="Poly", degree="2").iloc[0]["Best"] == ""
    rbf = by(rows, Dataset="MNIST", Kernel="RBF")
    assert rbf["degree"].tolist() == ["-", "-"]
    assert rbf[rbf["Best"] == "*"]["gamma"].tolist() == ["0.001"]  # tie -> lower time
    best = an.svm_best(df)
    assert starred(best)[["Dataset", "Kernel", "Test Acc (%)"]].values.tolist() == [
        ["MNIST", "Poly", "95.86"], ["MNIST", "RBF", "95.20"], ["FashionMNIST", "RBF", "86.51"]]
    assert starred(best).iloc[1]["C"] == "10"
    assert starred(best)["Backend"].tolist() == ["sklearn", "sklearn", "onedal (gemm predict)"]


def cpu_gpu_trials() -> list[dict]:
    return [
        resnet(0.8986, dataset="fashion_mnist", time_ms=3_038_957, macs=33.05e6),
        resnet(0.8978, dataset="fashion_mnist", device="gpu", pin_memory=True,
               time_ms=240_042, macs=33.05e6),
        resnet(0.8677, dataset="fashion_mnist", model="resnet50", time_ms=5_482_543,
               macs=78.15e6, flops=None),
        # two GPU seeds for resnet50: mean time 500_000, mean acc 0.87
        resnet(0.86, dataset="fashion_mnist", model="resnet50", device="gpu", seed=1,
               time_ms=450_000, macs=78.15e6),
        resnet(0.88, dataset="fashion_mnist", model="resnet50", device="gpu", seed=2,
               time_ms=550_000, macs=78.15e6),
        # a CPU-only configuration: no pair
        resnet(0.85, dataset="fashion_mnist", optimizer="adam", time_ms=10.0),
    ]


def test_cpu_vs_gpu_speedup(tmp_path: Path) -> None:
    df = load(tmp_path, cpu_gpu_trials())
    t, reason = an.cpu_vs_gpu(df)
    assert reason == "" and t is not None
    rows = starred(t)
    assert len(rows) == 2
    r18 = rows[rows["Model"] == "ResNet-18"].iloc[0]
    assert r18["Speedup (x)"] == f"{3_038_957 / 240_042:.2f}" == "12.66"
    assert (r18["Acc CPU (%)"], r18["Acc GPU (%)"]) == ("89.86", "89.78")
    assert (r18["Time CPU (ms)"], r18["Time GPU (ms)"]) == ("3038957.0", "240042.0")
    assert (r18["MACs (M)"], r18["FLOPs (M)"], r18["Params (M)"]) == ("33.05", "66.10", "11.00")
    r50 = rows[rows["Model"] == "ResNet-50"].iloc[0]
    assert r50["Speedup (x)"] == f"{5_482_543 / 500_000:.2f}"
    assert (r50["Acc GPU (%)"], r50["n CPU/GPU"]) == ("87.00", "1/2")
    assert r50["FLOPs (M)"] == "156.30"
    assert any("FLOPs = 2 x MACs" in n for n in t.notes)
    assert any("CPU training time / mean GPU" in n for n in t.notes)
    pairs, _ = an.cpu_gpu_pairs(df)
    assert pairs.loc[pairs["model"] == "resnet18", "speedup"].item() == pytest.approx(
        3_038_957 / 240_042)


def test_cpu_vs_gpu_flops_from_macs_when_missing(tmp_path: Path) -> None:
    a, b = resnet(0.9, macs=10e6), resnet(0.9, device="gpu", macs=10e6)
    for t in (a, b):
        del t["results"][-1]["flops"]
    table, _ = an.cpu_vs_gpu(load(tmp_path, [a, b]))
    assert starred(table).iloc[0]["FLOPs (M)"] == "20.00"


def test_cpu_vs_gpu_absent_with_reason(tmp_path: Path) -> None:
    df = load(tmp_path, [resnet(0.9), resnet(0.8, model="resnet50"), svm(0.7)])
    table, reason = an.cpu_vs_gpu(df)
    assert table is None and "no GPU ResNet trials" in reason
    tables = {t.key: t for t in an.all_tables(df)}
    assert tables["cpu_vs_gpu"].df.empty
    assert "no GPU ResNet trials" in tables["cpu_vs_gpu"].notes[0]
    only_gpu = load(tmp_path, [resnet(0.9, device="gpu")], name="gpu")
    assert "no CPU ResNet trials" in an.cpu_vs_gpu(only_gpu)[1]


def test_cross_method(tmp_path: Path) -> None:
    trials = [resnet(0.9910, time_ms=42_000.0), resnet(0.9833, model="resnet50"),
              resnet(0.8912, dataset="fashion_mnist", time_ms=40_000.0),
              svm(0.9739, kernel="poly", time_ms=384_000.0), svm(0.9690, time_ms=486_000.0),
              svm(0.8927, dataset="fashion_mnist", time_ms=486_000.0)]
    t = an.cross_method(load(tmp_path, trials))
    assert starred(t)["Method"].tolist() == ["ResNet-18", "ResNet-50", "SVM (poly)", "SVM (rbf)"]
    assert starred(t)["MNIST Acc (%)"].tolist() == ["99.10*", "98.33", "97.39", "96.90"]
    assert starred(t)["FashionMNIST Acc (%)"].tolist() == ["89.12", "-", "-", "89.27*"]
    assert starred(t)["MNIST Train Time (ms)"].tolist()[0] == "42000.0"
    assert starred(t)["FashionMNIST Train Time (ms)"].tolist()[3] == "486000.0"


def test_best_models_significance(tmp_path: Path) -> None:
    a, b = [0.90, 0.92, 0.94], [0.80, 0.81, 0.83]
    trials = [resnet(v, seed=i) for i, v in enumerate(a)]
    trials += [resnet(v, optimizer="adam", seed=i) for i, v in enumerate(b)]
    t = an.best_models(load(tmp_path, trials, name="study"))
    row = starred(t).iloc[0]
    assert (row["Study"], row["Dataset"], row["Best Method"]) == ("study", "MNIST", "ResNet-18")
    assert row["Configuration"] == "optimizer=sgd"
    assert row["Test Acc (%)"] == "92.00 ± 2.00 (n=3)"
    p = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert row["Significance"].endswith("significant at p < 0.05")
    assert f"p = {p:.3g}: significant" in row["Significance"]
    assert row["Runner-up"] == "ResNet-18: optimizer=adam"
    assert any("highest final (last reported) test_acc" in n for n in t.notes)


def test_best_models_not_significant_and_ties(tmp_path: Path) -> None:
    a, b = [0.90, 0.95, 0.85], [0.89, 0.94, 0.84]
    trials = [resnet(v, seed=i) for i, v in enumerate(a)]
    trials += [resnet(v, optimizer="adam", seed=i) for i, v in enumerate(b)]
    row = starred(an.best_models(load(tmp_path, trials, name="s1"))).iloc[0]
    assert "not significant" in row["Significance"]
    # a tie on accuracy: the faster configuration wins
    tie = [resnet(0.95, time_ms=2000.0), resnet(0.95, optimizer="adam", time_ms=1000.0)]
    row = starred(an.best_models(load(tmp_path, tie, name="s2"))).iloc[0]
    assert row["Configuration"] == "optimizer=adam" and row["Train Time (ms)"] == "1000.0"
    assert row["Significance"] == "single runs: no significance test"


def test_best_models_per_experiment(tmp_path: Path) -> None:
    a = write_experiment(tmp_path, "q1", [resnet(0.99), resnet(0.95, model="resnet50")])
    b = write_experiment(tmp_path, "svm", [svm(0.96, kernel="poly"), svm(0.97)])
    t = an.best_models(an.load_experiments([a, b]))
    assert starred(t)[["Study", "Best Method", "Test Acc (%)"]].values.tolist() == [
        ["q1", "ResNet-18", "99.00"], ["svm", "SVM (rbf)", "97.00"]]


def test_errored_trials_listed(q1: pd.DataFrame) -> None:
    t = an.errored_trials(q1)
    assert starred(t)["Error"].tolist() == ["RuntimeError: CUDA out of memory"]
    assert starred(t)["Method"].tolist() == ["ResNet-50"]
    assert t.notes == ["1 errored trial(s)"]


def test_all_tables_missing_pieces(q1: pd.DataFrame) -> None:
    tables = an.all_tables(q1)
    keys = [t.key for t in tables]
    assert keys == ["trial_states", "claims", "effects", "associations", "anova", "importance",
                    "best_per_configuration", "top_runs",
                    "best_config_per_dataset_model", "svm", "svm_best", "cpu_vs_gpu",
                    "cross_method", "best_models", "schedules", "errors"]
    got = {t.key: t for t in tables}
    assert got["svm"].df.empty and got["svm"].notes == ["not available: no finished SVM trials"]
    states = starred(got["trial_states"]).iloc[0]
    assert states[["TERMINATED", "ERROR", "PENDING", "total"]].tolist() == ["10", "1", "1", "12"]
    assert not got["errors"].df.empty


def test_flatten_config_collisions() -> None:
    from tune_bench.tune_dir import flatten_config

    flat = flatten_config({"kernel": "rbf", "variant": {"kernel": "poly", "C": 2}})
    assert flat == {"kernel": "rbf", "C": 2}
    nested = {"seed": 3, "variant": {"seed": 0, "model": "resnet18", "lr": 0.1}}
    assert flatten_config(nested) == {"seed": 3, "model": "resnet18", "lr": 0.1}


# --------------------------------------------------------------------------- real Tune


@pytest.fixture(scope="module")
def ray_local(ray_session):
    """The test session's one Ray instance (tests/conftest.py)."""
    return ray_session


def _known_trainable(config: dict) -> None:
    from ray import tune

    if config["model"] == "resnet50":
        tune.report({"epoch": 0, "val_acc": 0.1})
        raise ValueError("boom: resnet50 refused")
    for epoch in range(2):
        row = {"epoch": epoch, "train_loss": 1.0 / (epoch + 1), "val_acc": 0.5 + 0.1 * epoch,
               "train_time_ms": 100.0 * (epoch + 1)}
        if epoch == 1:
            row.update(test_acc=config["variant"]["lr"] * 100, confusion_matrix=[[1, 0], [0, 1]],
                       final=True)
        tune.report(row)


@pytest.mark.slow
def test_real_tune_sweep_is_read(ray_local, tmp_path: Path) -> None:
    from ray import tune

    space = {"trainer": "resnet", "dataset": "mnist", "seed": 0,
             "model": tune.grid_search(["resnet18", "resnet50"]),
             "variant": {"lr": tune.grid_search([0.001, 0.005])}}
    tuner = tune.Tuner(_known_trainable, param_space=space,
                       run_config=tune.RunConfig(name="real", storage_path=str(tmp_path),
                                                 verbose=0))
    tuner.fit()
    exp = tmp_path / "real"
    df = an.load_experiments([exp]).sort_values(["model", "lr"]).reset_index(drop=True)
    assert df["state"].tolist() == ["TERMINATED", "TERMINATED", "ERROR", "ERROR"]
    assert df["test_acc"].tolist()[:2] == pytest.approx([0.1, 0.5])
    assert df["lr"].tolist() == [0.001, 0.005, 0.001, 0.005]
    assert df["n_results"].tolist() == [2, 2, 1, 1]
    assert df["error"].tolist()[2:] == ["ValueError: boom: resnet50 refused"] * 2
    assert df.loc[0, "confusion_matrix"] == [[1, 0], [0, 1]]
    assert [h["train_time_ms"] for h in df.loc[1, "history"]] == [100.0, 200.0]
    # the layout writer used by the other tests matches what Tune wrote
    fake = write_experiment(tmp_path / "fake", "real", [
        {"config": {"model": "x"}, "results": [{"epoch": 0}]},
        {"config": {"model": "y"}, "results": [{"epoch": 0}], "state": "ERROR", "error": "E: x"}])
    real_dirs = sorted(p for p in exp.iterdir() if p.is_dir())
    fake_dirs = sorted(p for p in fake.iterdir() if p.is_dir())

    def names(d: Path) -> set[str]:
        return {p.name.split(".")[0] if p.name.startswith("events") else p.name
                for p in d.iterdir()}

    assert names(real_dirs[0]) == names(fake_dirs[0])
    assert names(real_dirs[-1]) == names(fake_dirs[1])
    real_state = json.loads(next(exp.glob("experiment_state-*.json")).read_text())
    fake_state = json.loads(next(fake.glob("experiment_state-*.json")).read_text())
    assert set(real_state) == set(fake_state)
    real_info = json.loads(real_state["trial_data"][0][0])
    fake_info = json.loads(fake_state["trial_data"][0][0])
    assert set(real_info) == set(fake_info)
    assert set(json.loads(real_state["trial_data"][0][1])) == set(
        json.loads(fake_state["trial_data"][0][1]))
    real_row = json.loads((real_dirs[0] / "result.json").read_text().splitlines()[0])
    fake_row = json.loads((fake_dirs[0] / "result.json").read_text().splitlines()[0])
    assert set(real_row) - {"train_loss", "val_acc", "train_time_ms"} == set(fake_row)
    shutil.rmtree(tmp_path / "fake")


def test_describe_config_skips_what_the_kernel_or_optimizer_ignores():
    """A configuration string names only hyperparameters its model uses: no degree or coef0 for
    an rbf SVM, no momentum for Adam; missing values are skipped."""
    from tune_bench.report.format import describe_config

    keys = ["C", "gamma", "degree", "coef0", "lr", "momentum"]
    rbf = pd.Series({"kernel": "rbf", "C": 10.0, "gamma": "scale", "degree": 3, "coef0": 0.0,
                     "lr": float("nan"), "momentum": float("nan")})
    poly = rbf.copy()
    poly["kernel"] = "poly"
    assert describe_config(rbf, keys) == "C=10, gamma=scale"
    assert describe_config(poly, keys) == "C=10, gamma=scale, degree=3, coef0=0"
    adam = pd.Series({"optimizer": "adam", "lr": 0.001, "momentum": 0.9})
    assert describe_config(adam, keys) == "lr=0.001"
    assert describe_config(adam.replace("adam", "sgd"), keys) == "lr=0.001, momentum=0.9"
    assert describe_config(pd.Series({"kernel": "rbf"}), ["degree"]) == "(single configuration)"


# --------------------------------------------------------------------------- stopped early


def _asha_trials() -> list[dict]:
    """As ASHA leaves them: four 4-epoch trials, two stopped (TERMINATED, no final row) after
    epoch 0 and 1, and one stopped after epoch 2 that still reported a final test_acc."""
    trials = [resnet(acc, lr=lr, epochs=4) for acc, lr in
              ((0.91, 1e-3), (0.5, 1e-2), (0.6, 1e-4), (0.85, 3e-3))]
    for t, last in zip(trials[1:], (1, 2), strict=False):
        t["results"] = t["results"][:last]  # epochs 0..last-1, no final row
    trials[3]["results"] = trials[3]["results"][:3]
    trials[3]["results"][-1].update(test_acc=0.85, final=True)
    return trials


def _with_stopped_early(df: pd.DataFrame) -> pd.DataFrame:
    """The `stopped_early` column the loader adds (TERMINATED before the last epoch)."""
    df = df.copy()
    df["stopped_early"] = (df["state"] == "TERMINATED") & (df["epoch"] < df["epochs"] - 1)
    return df


def test_stopped_early_trials_in_tables(tmp_path: Path) -> None:
    loaded = load(tmp_path, _asha_trials(), name="asha")
    # the loader's rule (tune_dir): TERMINATED without a final row; trial 3 reported one
    assert loaded["stopped_early"].tolist() == [False, True, True, False]
    plain = loaded.drop(columns="stopped_early")  # as loaded before the column existed
    df = _with_stopped_early(plain)
    assert df["stopped_early"].tolist() == [False, True, True, True]
    counts = starred(an.state_counts(df))
    assert list(counts.columns) == ["Experiment", "TERMINATED", "total", "stopped early"]
    assert counts.values.tolist() == [["asha", "4", "4", "3"]]
    assert any(n.startswith("stopped early: finished trials a scheduler stopped") for n in
               an.state_counts(df).notes)
    early = df.loc[3, "trial_id"]
    top = an.top_runs(df)
    assert starred(top)["Trial"].tolist() == [df.loc[0, "trial_id"], early]
    assert f"trial {early} stopped early at epoch 2" in top.notes
    left_out = ("2 trial(s) without a final test_acc left out (1 stopped early at epoch 0, "
                "1 stopped early at epoch 1)")
    assert left_out in top.notes
    assert left_out in an.best_per_configuration(df).notes
    best = an.best_config_per_dataset_model(df)
    assert left_out in best.notes and f"trial {early} stopped early at epoch 2" not in best.notes
    df.loc[3, "test_acc"] = 0.95  # the trial stopped early is now the best configuration
    best = an.best_config_per_dataset_model(df)
    assert starred(best)["LR"].tolist() == ["0.003"]
    assert f"trial {early} stopped early at epoch 2" in best.notes
    # without the column (an experiment loaded before it existed): as before
    assert "stopped early" not in an.state_counts(plain).df.columns
    assert not any("stopped early" in n for n in an.top_runs(plain).notes)
    assert ("2 trial(s) without a final test_acc left out (2 TERMINATED)"
            in an.top_runs(plain).notes)


def test_two_experiments_with_the_same_trial_ids_analyzed_together(tmp_path: Path):
    """A URI and its local copy (or two copies) hold the same trial ids: every table is
    built, and each SVM configuration counts the trials of both experiments."""
    trials = [svm(0.9, C=1.0, train_acc=0.95, predict_time_ms=2.0),
              svm(0.8, C=10.0, train_acc=0.85, predict_time_ms=4.0), resnet(0.7)]
    a = write_experiment(tmp_path / "a", "exp", trials)
    b = write_experiment(tmp_path / "b", "exp", trials)
    df = an.load_experiments([a, b])
    assert df["trial_id"].duplicated().any()  # the case: ids coincide
    table = an.svm_table(df)
    assert table is not None
    groups = an.tables._svm_groups(df)
    assert sorted(groups["n"]) == [2, 2]
    assert sorted(groups["train_acc"]) == pytest.approx([0.85, 0.95])
    assert sorted(groups["predict_time_ms"]) == pytest.approx([2.0, 4.0])
