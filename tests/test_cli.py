"""Command-line parsing of config options."""

from tune_bench.cli import _overrides, parse_extra_options


def test_options_are_typed_like_yaml_and_exponents_are_numbers():
    opts = parse_extra_options(["--lr", "1e-4", "--batch-size=16", "--pin-memory", "--no-amp",
                                "--gamma", "scale", "--model", "resnet50"])
    assert opts == {"lr": 1e-4, "batch_size": 16, "pin_memory": True, "amp": False,
                    "gamma": "scale", "model": "resnet50"}


def test_set_overrides_parse_exponents():
    assert _overrides(["lr=1e-3", "n_train=500"]) == {"lr": 1e-3, "n_train": 500}


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
