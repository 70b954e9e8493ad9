"""Dataset labels, short names, order and class names come from the catalog
(`tune_bench.datasets`) only: a dataset added there is labelled in the tables, the sweep's
summary, trial names, plots and reports without touching any other file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_analysis import resnet, svm
from tests.tune_layout import write_experiment
from tune_bench import analysis as an
from tune_bench import datasets, labels, report
from tune_bench.datasets import DatasetInfo
from tune_bench.report import plots
from tune_bench.report.summary import best_per_dataset
from tune_bench.tune_dir import trial_label

SVHN = DatasetInfo("SVHN digits", "user", -1, "sv", tuple(f"d{i}" for i in range(10)))


@pytest.fixture
def svhn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(datasets.CATALOG, "svhn", SVHN)


def test_a_dataset_added_to_the_catalog_is_labelled_everywhere(svhn, tmp_path: Path) -> None:
    from tune_bench.config import ResNetConfig

    assert ResNetConfig(dataset="svhn").dataset == "svhn"  # accepted by the config
    assert labels.label("dataset", "svhn") == "SVHN digits"
    assert sorted(["mnist", "svhn", "fashion_mnist"], key=labels.sort_key) == [
        "svhn", "mnist", "fashion_mnist"]  # the catalog's order
    name = trial_label({"trainer": "resnet", "model": "resnet18", "dataset": "svhn",
                        "batch_size": 16, "optimizer": "sgd", "lr": 0.001, "epochs": 1,
                        "device": "cpu", "seed": 0})
    assert name.startswith("resnet18-sv-bs16"), name
    assert plots.class_names("svhn", 10)[3] == "d3" and plots.class_names("svhn", 4)[3] == "3"

    trials = [svm(0.85), resnet(0.90, dataset="svhn"), resnet(0.80, dataset="svhn", lr=1e-2)]
    df = an.load_experiments([write_experiment(tmp_path, "x", trials)])
    rows, _ = best_per_dataset(df)
    assert [r["dataset"] for r in rows] == ["SVHN digits", "MNIST"]
    report.write_report([tmp_path / "x"], "markdown", out=tmp_path / "md")
    doc = next((tmp_path / "md").glob("*.md")).read_text()
    assert "SVHN digits" in doc and "| svhn " not in doc


def test_builtin_labels_unchanged() -> None:
    assert [labels.label("dataset", n) for n in datasets.NAMES] == [
        "MNIST", "FashionMNIST", "digits", "CIFAR-10"]
    assert datasets.short("fashion_mnist") == "fmnist" and datasets.short("mnist") == "mnist"
    assert datasets.short("my_mod:load") == "my_mod:load"
    assert plots.class_names("fashion_mnist", 10)[0] == "T-shirt"
