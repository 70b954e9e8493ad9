"""Search-space files: validation errors, expansion, precedence, resources, serialisation."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tune_bench.config import ResNetConfig, SVMConfig
from tune_bench.errors import ConfigError
from tune_bench.space import (
    RandomAxis,
    SweepSpec,
    describe_trials,
    load_space,
    parse_space,
)

ROOT = Path(__file__).resolve().parents[1]
SPACES = ROOT / "search_spaces"
BAD = sorted((Path(__file__).parent / "bad_inputs").glob("*.yaml"))


def _expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    return first.removeprefix("# expect: ").strip()


def _axis_values(points: list[dict], key: str) -> set:
    return {p[key] for p in points}


def _svm(**fixed) -> dict:
    return {"name": "t", "fixed": {"trainer": "svm", **fixed}}


# --------------------------------------------------------------------------- malformed files


def test_enough_bad_inputs() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_input_raises_one_line_error(path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_space(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ")
    assert _expected(path) in msg
    assert info.value.exit_code == 2


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="nope.yaml: no such search-space file"):
        load_space(missing)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_space(tmp_path)


def test_parse_space_errors_start_with_source() -> None:
    with pytest.raises(ConfigError) as info:
        parse_space({"name": "t", "fixed": {"trainer": "resnet", "lr": -0.1}}, "mem.yaml")
    assert str(info.value) == "mem.yaml: fixed.lr: must be > 0 (got -0.1)"


def test_error_locations_follow_the_file() -> None:
    """pydantic's error locations, written as in the file: list items as [i]."""
    data = {"name": "t", "fixed": {"trainer": "svm"},
            "blocks": [{"axes": {"C": [1.0]}}, {"axes": {"C": [-1.0, 2.0]}}]}
    with pytest.raises(ConfigError) as info:
        parse_space(data, "m.yaml")
    assert str(info.value) == "m.yaml: blocks[1].axes.C[0]: must be > 0 (got -1.0)"
    data["blocks"][1] = {"fixed": {"kernel": "rbf"}, "axes": {"C": [2.0]}, "grid": {}}
    with pytest.raises(ConfigError, match=r"^m.yaml: blocks\[1\].grid: unknown block key "
                                          r"\(allowed: fixed, axes\)$"):
        parse_space(data, "m.yaml")


def test_a_value_a_block_replaces_is_still_checked() -> None:
    data = {"name": "t", "fixed": {"trainer": "svm", "C": -1.0},
            "blocks": [{"fixed": {"C": 1.0}}]}
    with pytest.raises(ConfigError, match=r"^t.yaml: fixed.C: must be > 0 \(got -1.0\)$"):
        parse_space(data, "t.yaml")


def test_misspelled_trial_key_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"^t.yaml: fixed.kernal: unknown key for the svm "
                                          r"trainer \(known: .*\); did you mean kernel\?$"):
        parse_space(_svm(kernal="rbf"), "t.yaml")


# --------------------------------------------------------------------------- shipped spaces


@pytest.mark.parametrize("path", sorted(SPACES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_space_loads(path: Path) -> None:
    spec = load_space(path)
    assert spec.n_trials >= 1
    assert spec.name == path.stem
    for p in spec.points:
        cls = ResNetConfig if p["trainer"] == "resnet" else SVMConfig
        example = {k: a.args[0] for k, a in spec.random_axes.items()}
        cls.from_dict({**p, **example})
        assert spec.resources_for(p)["cpu"] > 0


def test_q1a_is_the_reports_128_trials() -> None:
    spec = load_space(SPACES / "q1a_resnet.yaml")
    assert spec.n_trials == len(spec.points) == 128
    axes = {
        "model": ["resnet18", "resnet50"],
        "dataset": ["mnist", "fashion_mnist"],
        "batch_size": [16, 32],
        "optimizer": ["sgd", "adam"],
        "lr": [0.001, 0.0001],
        "epochs": [2, 5],
        "pin_memory": [True, False],
    }
    got = {tuple(p[k] for k in axes) for p in spec.points}
    assert got == set(itertools.product(*axes.values()))
    for p in spec.points:
        assert (p["trainer"], p["device"], p["loader"], p["num_workers"], p["split"]) == (
            "resnet",
            "gpu",
            "dataloader",
            2,
            "seeds",
        )
    assert spec.random_axes == {}


def test_q1b_is_42_svm_trials() -> None:
    spec = load_space(SPACES / "q1b_svm.yaml")
    assert spec.n_trials == 42
    poly = [p for p in spec.points if p["kernel"] == "poly"]
    rbf = [p for p in spec.points if p["kernel"] == "rbf"]
    assert len(poly) == 18 and len(rbf) == 24
    assert {(p["degree"], p["C"]) for p in poly} == set(
        itertools.product([2, 3, 4], [0.1, 1.0, 10.0])
    )
    assert {(p["C"], p["gamma"]) for p in rbf} == set(
        itertools.product([0.1, 1.0, 10.0, 100.0], ["scale", 0.001, 0.01])
    )
    assert _axis_values(spec.points, "dataset") == {"mnist", "fashion_mnist"}
    assert all(p["n_train"] == 10000 and p["device"] == "cpu" for p in spec.points)


def test_q2_is_48_hardware_trials() -> None:
    spec = load_space(SPACES / "q2_hardware.yaml")
    assert spec.n_trials == 48
    assert _axis_values(spec.points, "model") == {"resnet18", "resnet34", "resnet50"}
    assert _axis_values(spec.points, "device") == {"cpu", "gpu"}
    assert _axis_values(spec.points, "dataset") == {"fashion_mnist"}
    assert _axis_values(spec.points, "epochs") == {5}


def test_smoke_is_small_and_covers_both_trainers_and_devices() -> None:
    spec = load_space(SPACES / "smoke.yaml")
    cpu = [p for p in spec.points if p["device"] == "cpu"]
    assert 8 <= len(cpu) <= 10  # what runs on a machine without GPUs
    assert _axis_values(spec.points, "device") == {"cpu", "gpu"}
    assert _axis_values(cpu, "trainer") == {"resnet", "svm"}
    resnet = [p for p in cpu if p["trainer"] == "resnet"]
    svm = [p for p in spec.points if p["trainer"] == "svm"]
    assert len(resnet) <= 4
    # small: at most 3,000 image passes per ResNet (3,000 images once: the study's answer on
    # MNIST in the same minute or two)
    assert all(p["n_train"] * p["epochs"] <= 3000 and p["epochs"] <= 2 for p in resnet)
    assert {p["kernel"] for p in svm} == {"poly", "rbf"}
    assert all(p["n_train"] <= 1000 and p["device"] == "cpu" for p in svm)


def test_random_asha_example() -> None:
    spec = load_space(SPACES / "example_random_asha.yaml")
    assert spec.random_axes["lr"] == RandomAxis("loguniform", (0.0001, 0.01))
    assert spec.random_axes["batch_size"].kind == "choice"
    assert spec.scheduler["type"] == "asha"
    assert len(spec.points) == 1 and spec.tune_num_samples == 4 and spec.n_trials == 4
    assert "lr" not in spec.points[0] and "batch_size" not in spec.points[0]


# --------------------------------------------------------------------------- expansion rules


def test_precedence_defaults_fixed_block_grid_overrides() -> None:
    data = {
        "name": "t",
        "fixed": {"trainer": "resnet", "epochs": 3, "batch_size": 64, "lr": 0.01},
        "blocks": [{"fixed": {"epochs": 4}, "axes": {"batch_size": [8, 16]}}],
    }
    spec = parse_space(data, "t.yaml")
    assert [p["batch_size"] for p in spec.points] == [8, 16]
    assert all(p["epochs"] == 4 and p["lr"] == 0.01 for p in spec.points)
    assert spec.points[0]["model"] == "resnet18"  # ResNetConfig default
    assert spec.points[0]["seed"] == 0 and spec.points[0]["device"] == "cpu"
    over = parse_space(data, "t.yaml", {"epochs": 1, "batch_size": 4, "lr": 0.5})
    assert len(over.points) == 1  # the batch_size axis collapses
    assert (over.points[0]["epochs"], over.points[0]["batch_size"], over.points[0]["lr"]) == (
        1,
        4,
        0.5,
    )


def test_svm_points_take_svm_defaults() -> None:
    point = parse_space(_svm(), "t.yaml").points[0]
    defaults = SVMConfig()
    assert point == {"trainer": "svm", **{k: getattr(defaults, k) for k in point if k != "trainer"}}


def test_overrides_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"t.yaml: overrides.n_train: must be >= 10 \(got 2\)"):
        parse_space(_svm(), "t.yaml", {"n_train": 2})
    with pytest.raises(ConfigError, match="overrides.learning_rate: unknown key"):
        parse_space(_svm(), "t.yaml", {"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="overrides.trainer"):
        parse_space(_svm(), "t.yaml", {"trainer": "resnet"})
    with pytest.raises(ConfigError, match="overrides.cpus_per_trial: must be > 0"):
        parse_space(_svm(), "t.yaml", {"cpus_per_trial": 0})


def test_overrides_apply_to_trainers_that_have_the_key() -> None:
    spec = load_space(SPACES / "smoke.yaml", {"epochs": 2, "n_train": 500})
    for p in spec.points:
        assert p["n_train"] == 500
        assert ("epochs" in p) == (p["trainer"] == "resnet")
        if p["trainer"] == "resnet":
            assert p["epochs"] == 2


def test_override_collapses_device_axis() -> None:
    spec = load_space(SPACES / "q2_hardware.yaml", {"device": "cpu"})
    assert spec.n_trials == 24 and _axis_values(spec.points, "device") == {"cpu"}


def test_repeats_get_distinct_seeds() -> None:
    data = {**_svm(seed=7), "num_samples": 3, "axes": {"C": [1.0, 10.0]}}
    spec = parse_space(data, "t.yaml")
    assert spec.tune_num_samples == 1 and spec.n_trials == 6
    assert [(p["C"], p["seed"]) for p in spec.points] == [
        (1.0, 7),
        (1.0, 8),
        (1.0, 9),
        (10.0, 7),
        (10.0, 8),
        (10.0, 9),
    ]


def test_random_axes_use_tune_num_samples() -> None:
    data = {**_svm(), "num_samples": 5, "axes": {"C": {"loguniform": [0.1, 100.0]}}}
    spec = parse_space(data, "t.yaml")
    assert len(spec.points) == 1 and spec.tune_num_samples == 5 and spec.n_trials == 5
    assert spec.points[0]["seed"] == 0


def test_blocks_with_random_top_axis_and_trainer_axis() -> None:
    data = {
        **_svm(),
        "num_samples": 2,
        "axes": {"C": {"uniform": [0.5, 2.0]}},
        "blocks": [{"fixed": {"kernel": "poly"}, "axes": {"degree": [2, 3]}}, {}],
    }
    spec = parse_space(data, "t.yaml")
    assert len(spec.points) == 3 and spec.n_trials == 6
    mixed = parse_space({"name": "m", "axes": {"trainer": ["resnet", "svm"]}}, "m.yaml")
    assert [p["trainer"] for p in mixed.points] == ["resnet", "svm"]


def test_override_replaces_random_axis() -> None:
    spec = load_space(SPACES / "example_random_asha.yaml", {"lr": 0.002})
    assert "lr" not in spec.random_axes and spec.points[0]["lr"] == 0.002
    assert spec.tune_num_samples == 4 and "batch_size" in spec.random_axes


def test_optuna_runs_num_samples_trials() -> None:
    data = {
        "name": "o",
        "num_samples": 6,
        "fixed": {"trainer": "resnet"},
        "axes": {"lr": {"loguniform": [0.0001, 0.01]}, "optimizer": {"choice": ["sgd", "adam"]}},
        "search": {"type": "optuna"},
    }
    spec = parse_space(data, "o.yaml")
    assert spec.search == {"type": "optuna"} and spec.n_trials == 6


def test_asha_defaults_max_t_to_most_epochs() -> None:
    data = {
        "name": "a",
        "metric": "val_acc",
        "fixed": {"trainer": "resnet"},
        "axes": {"epochs": [2, 6]},
        "scheduler": {"type": "asha"},
    }
    sched = parse_space(data, "a.yaml").scheduler
    assert sched == {
        "type": "asha",
        "max_t": 6,
        "grace_period": 1,
        "reduction_factor": 4,
    }


# --------------------------------------------------------------------------- resources, output


def test_resources_defaults_and_per_device() -> None:
    spec = load_space(SPACES / "q2_hardware.yaml")
    cpu = next(p for p in spec.points if p["device"] == "cpu")
    gpu = next(p for p in spec.points if p["device"] == "gpu")
    assert spec.resources_for(cpu) == {"cpu": 2}
    assert spec.resources_for(gpu) == {"cpu": 2, "gpu": 1}
    default = parse_space(_svm(), "t.yaml")
    assert default.resources == {"cpu": {"cpu": 1}, "gpu": {"cpu": 1, "gpu": 0.25}}


def test_resource_overrides() -> None:
    spec = parse_space(_svm(), "t.yaml", {"cpus_per_trial": 3, "gpus_per_trial": 0.5})
    assert spec.resources == {"cpu": {"cpu": 3}, "gpu": {"cpu": 3, "gpu": 0.5}}
    unchanged = parse_space(_svm(), "t.yaml", {"cpus_per_trial": None, "gpus_per_trial": None})
    assert unchanged.resources["gpu"] == {"cpu": 1, "gpu": 0.25}
    whole = parse_space(_svm(), "t.yaml", {"gpus_per_trial": 2})
    assert whole.resources["gpu"]["gpu"] == 2


def test_to_dict_json_round_trip() -> None:
    spec = load_space(SPACES / "example_random_asha.yaml")
    d = json.loads(json.dumps(spec.to_dict()))
    assert d == spec.to_dict()
    assert d["n_trials"] == 4 and d["random_axes"]["lr"] == {
        "kind": "loguniform",
        "args": [0.0001, 0.01],
    }
    assert SweepSpec(**{k: v for k, v in d.items() if k not in ("n_trials", "random_axes")},
                     random_axes={k: RandomAxis(a["kind"], tuple(a["args"]))
                                  for k, a in d["random_axes"].items()}) == spec
    q1b = load_space(SPACES / "q1b_svm.yaml")
    assert json.loads(json.dumps(q1b.to_dict())) == q1b.to_dict()


def test_describe_trials() -> None:
    rows = describe_trials(load_space(SPACES / "example_random_asha.yaml"))
    assert len(rows) == 1
    assert rows[0]["lr"] == "loguniform(0.0001, 0.01)"
    assert rows[0]["batch_size"] == "choice(16, 32, 64)"
    assert rows[0]["resources"] == {"cpu": 1} and rows[0]["samples"] == 4
    smoke = describe_trials(load_space(SPACES / "smoke.yaml"))
    assert all(r["resources"] == ({"cpu": 1, "gpu": 0.25} if r["device"] == "gpu" else
                                  {"cpu": 1}) for r in smoke)


def test_space_does_not_import_ray() -> None:
    code = "import sys, tune_bench.space; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_repeats_from_the_command_line_replace_num_samples() -> None:
    """`sweep --repeats N` reaches the space as the override num_samples=N (saved with the
    sweep's overrides, so resume rebuilds the same trials)."""
    data = {**_svm(seed=7), "num_samples": 2, "axes": {"C": [1.0, 10.0]}}
    spec = parse_space(data, "t.yaml", {"num_samples": 3, "n_train": 500})
    assert spec.n_trials == 6 and spec.num_samples == 3
    assert sorted((p["C"], p["seed"]) for p in spec.points) == [
        (c, s) for c in (1.0, 10.0) for s in (7, 8, 9)]
    assert {p["n_train"] for p in spec.points} == {500}
    assert parse_space(data, "t.yaml").n_trials == 4  # the file's own num_samples: 2
    with pytest.raises(ConfigError, match="num_samples"):
        parse_space(data, "t.yaml", {"num_samples": 0})


def test_sweep_repeats_option_multiplies_the_dry_run(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "tune_bench.cli", "sweep",
                          str(SPACES / "q1b_svm.yaml"), "--dry-run", "--repeats", "2"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("q1b_svm: 84 trial(s)")
    assert "-s0 " in res.stdout and "-s1 " in res.stdout
