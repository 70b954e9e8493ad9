"""Command-line parsing of config options."""

import json
import re

import pytest

from tune_bench.cli import _check_options, _overrides, parse_extra_options
from tune_bench.config import TRAINERS
from tune_bench.errors import ConfigError


def test_options_are_typed_like_yaml_and_exponents_are_numbers():
    opts = parse_extra_options(["--lr", "1e-4", "--batch-size=16", "--pin-memory", "--no-amp",
                                "--gamma", "scale", "--model", "resnet50"])
    assert opts == {"lr": 1e-4, "batch_size": 16, "pin_memory": True, "amp": False,
                    "gamma": "scale", "model": "resnet50"}


def test_set_overrides_parse_exponents():
    assert _overrides(["lr=1e-3", "n_train=500"]) == {"lr": 1e-3, "n_train": 500}


def test_train_takes_the_sweep_set_syntax_too():
    """One override syntax: `train ... --set key=value` reads like `sweep --set key=value`."""
    assert parse_extra_options(["--set", "lr=1e-3", "--set", "n_train=500", "--epochs", "1"]) == \
        {"lr": 1e-3, "n_train": 500, "epochs": 1}
    with pytest.raises(ConfigError, match="--set 'lr': expected key=value"):
        parse_extra_options(["--set", "lr"])


def test_options_are_checked_by_the_trial_config_naming_the_option():
    def as_set(key: str) -> str:
        return f"--set {key}"

    _check_options({"lr": 0.1, "C": 2.0, "n_train": 500}, TRAINERS, as_set)
    with pytest.raises(ConfigError, match=r"^--set n_train: must be >= 10 \(got 2\)$"):
        _check_options({"n_train": 2}, TRAINERS, as_set)
    with pytest.raises(ConfigError, match=r"^--batch-size: must be an integer \(got 'big'\)$"):
        _check_options({"batch_size": "big"}, ("resnet",), lambda k: "--" + k.replace("_", "-"))
    with pytest.raises(ConfigError, match="--epochs: unknown key for the svm trainer"):
        _check_options({"epochs": 3}, ("svm",), lambda k: f"--{k}")


def test_a_misspelled_key_gets_a_suggestion():
    with pytest.raises(ConfigError, match=r"--optimiser: unknown key .*; did you mean optimizer"):
        _check_options({"optimiser": "sgd"}, ("resnet",), lambda k: f"--{k}")
    with pytest.raises(ConfigError, match=r"unknown key for the resnet and svm trainers .*"
                                          r"did you mean kernel\?$"):
        _check_options({"kernal": "rbf"}, TRAINERS, lambda k: f"--set {k}")


def test_train_svm_takes_the_predict_path_from_the_command_line(tiny_root, capsys):
    """`tune-bench train svm --predict gemm` runs and records the shared-kernel predict; the
    same run with `--predict backend` gives the same confusion matrix."""
    import json

    from tune_bench.cli import main

    out = {}
    for path in ("gemm", "backend"):
        main(["train", "svm", "--backend", "sklearn", "--predict", path, "--n-train", "200",
              "--n-test", "100", "--data-dir", str(tiny_root), "--json"])
        out[path] = json.loads(capsys.readouterr().out)
    assert out["gemm"]["svm_predict"] == "gemm" and out["backend"]["svm_predict"] == "backend"
    assert out["gemm"]["confusion_matrix"] == out["backend"]["confusion_matrix"]


# --------------------------------------------------------------------------- help


def _help(*args: str, columns: int = 80) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb"}
    res = subprocess.run([sys.executable, "-m", "tune_bench.cli", *args], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_help_at_80_columns_has_an_example_per_command():
    for cmd in ("sweep", "resume", "status", "analyze", "train"):
        text = _help(cmd, "--help")
        too_long = [ln for ln in text.splitlines() if len(ln) > 80]
        assert not too_long, (cmd, too_long)
        assert "Example" in text and f"tune-bench {cmd} " in text, cmd
    assert max(map(len, _help("--help").splitlines())) <= 80


def test_every_option_is_described():
    import typer

    from tune_bench.cli import app

    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():
        bare = [p.name for p in cmd.params if not (getattr(p, "help", None) or "").strip()]
        assert not bare, f"{name}: options without help: {bare}"


def test_train_help_lists_the_config_keys_with_defaults_and_allowed_values():
    from tune_bench.config import KEYS

    text = _help("train", "--help", columns=100)
    for trainer in ("resnet", "svm"):
        assert f"{trainer}:" in text
    for key in set(KEYS["resnet"]) | set(KEYS["svm"]):
        if key != "trainer":
            assert f"--{key.replace('_', '-')} " in text, key
    assert "--optimizer adam: sgd, adam" in text and "--kernel rbf: poly, rbf" in text
    assert "--n-train 10000: int >= 10 or null (all)" in text
    assert "--n-eval 2000 (in sweeps: null): int >= 10 or null (all)" in text


def test_version():
    from tune_bench import __version__

    assert _help("--version").strip() == f"tune-bench {__version__}"


def test_train_misspelled_key_did_you_mean(capsys):
    from tune_bench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "resnet", "--optimiser", "sgd"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("did you mean optimizer?"), err


def test_train_shows_sizes_and_evaluates_proportionately(tiny_root, capsys, monkeypatch):
    """`train resnet` says what it decodes and the sizes it trains / validates / tests on, caps
    the evaluation at TRAIN_N_EVAL images unless --n-eval says otherwise (null: all), and prints
    accuracies in % and times in s."""
    from tune_bench import cli

    monkeypatch.setattr(cli, "TRAIN_N_EVAL", 30)
    args = ["train", "resnet", "--n-train", "40", "--epochs", "1", "--batch-size", "20",
            "--data-dir", str(tiny_root)]
    cli.main(args)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "· decoding mnist (seeds split)"
    assert lines[1].startswith("· resnet18 on mnist: 40 train, 30 val (every epoch), 30 test "
                               "(once) images; cpu; 1 epoch(s)"), lines[1]
    assert re.match(r"epoch 1/1  train loss \d\.\d{4}  acc \d+\.\d\d%  val loss", lines[2])
    final = lines[-1]
    assert re.search(r"test acc \d+\.\d\d%", final) and re.search(r"train time \d+\.\d\d s",
                                                                  final), final
    assert "n eval used 30" in final
    cli.main([*args, "--n-eval", "null", "--json"])
    assert json.loads(capsys.readouterr().out)["n_eval_used"] == 120  # tiny_root: all test
