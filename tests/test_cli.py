"""Command-line parsing of config options."""

from tune_bench.cli import _overrides, parse_extra_options


def test_options_are_typed_like_yaml_and_exponents_are_numbers():
    opts = parse_extra_options(["--lr", "1e-4", "--batch-size=16", "--pin-memory", "--no-amp",
                                "--gamma", "scale", "--model", "resnet50"])
    assert opts == {"lr": 1e-4, "batch_size": 16, "pin_memory": True, "amp": False,
                    "gamma": "scale", "model": "resnet50"}


def test_set_overrides_parse_exponents():
    assert _overrides(["lr=1e-3", "n_train=500"]) == {"lr": 1e-3, "n_train": 500}
