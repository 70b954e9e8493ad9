"""Models by torchvision name: any classification builder trains on the trainer's [B, 3, 32, 32]
input (grayscale repeated on 3 channels, 28x28 resized to 32x32), with num_classes outputs and
its MACs and parameters from thop; an unknown name or a builder that cannot take 32x32 images
is one line, exit 2, before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.test_cli_errors import Run, nothing_written, one_line_error, run  # noqa: F401
from tune_bench import models
from tune_bench.data import to_resnet_input
from tune_bench.errors import ConfigError


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "resnet18", "shufflenet_v2_x0_5"])
def test_a_builder_runs_forward_and_backward_on_fake_1x28x28_images(name: str):
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    model = models.build_resnet(name, num_classes=7).train()
    out = model(to_resnet_input(images).contiguous())
    assert out.shape == (3, 7)
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 3, 6])).backward()
    cost = models.model_cost(name, num_classes=7)
    assert cost["macs"] > 1e5 and cost["flops"] == 2 * cost["macs"]
    assert cost["params"] == models.count_params(model)


def test_names_checked_with_did_you_mean_and_too_small_input_said():
    assert models.check_torchvision("mobilenet_v3_small") == "mobilenet_v3_small"
    with pytest.raises(ConfigError, match=r"unknown torchvision .* 'mobilenet_v3_smal' "
                                          r"\(did you mean mobilenet_v3_small"):
        models.check_torchvision("mobilenet_v3_smal")
    with pytest.raises(ConfigError, match=r"^alexnet needs a larger input than the trainer's "
                                          r"3x32x32 images"):
        models.check_torchvision("alexnet")
    with pytest.raises(ConfigError, match="googlenet returns GoogLeNetOutputs in training mode"):
        models.check_torchvision("googlenet")


def test_unknown_model_one_line_exit_2_nothing_started(run: Run, tmp_path: Path):  # noqa: F811
    space = tmp_path / "space.yaml"
    space.write_text("name: tv\nfixed: {trainer: resnet}\n"
                     "axes: {model: [resnet18, convnxt_tiny]}\n")
    res = run("sweep", str(space), "--storage-path", str(run.storage))
    one_line_error(res, 2, "axes.model[1]", "'convnxt_tiny'", "did you mean convnext_tiny")
    nothing_written(run)
    res = run("train", "resnet", "--model", "vit_b_16")
    one_line_error(res, 2, "vit_b_16 needs a larger input", "3x32x32")


def test_train_mobilenet_v3_small_on_tiny_data(tiny_root: Path, capsys):
    from tune_bench import cli

    cli.main(["train", "resnet", "--model", "mobilenet_v3_small", "--dataset", "fashion_mnist",
              "--n-train", "300", "--n-eval", "100", "--epochs", "1", "--batch-size", "50",
              "--lr", "0.01", "--data-dir", str(tiny_root), "--json"])
    m = json.loads(capsys.readouterr().out)
    assert m["n_train_used"] == 300 and 0 <= m["test_acc"] <= 1
    assert m["macs"] > 1e6 and 1e6 < m["params"] < 2e6  # mobilenet_v3_small, 10 classes
    assert len(m["per_class_acc"]) == 10
