"""torchvision ResNets as in the reports, and their cost (MACs, FLOPs, parameters) via thop."""

from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

NUM_CLASSES = 10
INPUT_SHAPE = (3, 32, 32)


def build_resnet(name: str, num_classes: int = NUM_CLASSES) -> nn.Module:
    """A torchvision ResNet with random init (weights=None) and a `num_classes` head; `name`
    is one of `config.MODELS` (checked by `ResNetConfig`)."""
    # Imported here: torchvision.models costs ~1.4 s of import (it pulls in torch._dynamo), which
    # an SVM trial's worker and the CLI's other commands need not pay.
    if ":" in name:
        return build_factory(name, num_classes)
    from torchvision import models as tvm

    return getattr(tvm, name)(weights=None, num_classes=num_classes)


def build_factory(ref: str, num_classes: int = NUM_CLASSES, in_channels: int = 3) -> nn.Module:
    """A user's model: `module:function` called with num_classes and in_channels (the input is
    [B, 3, 32, 32], grayscale images repeated on 3 channels); ConfigError unless an nn.Module."""
    from tune_bench.errors import ConfigError
    from tune_bench.plugins import load_object

    fn, _ = load_object(ref, f"model {ref}")
    try:
        model = fn(num_classes=num_classes, in_channels=in_channels)
    except Exception as e:  # noqa: BLE001 - the factory's own error, in one line
        raise ConfigError(f"model {ref}: the factory raised {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model {ref}: the factory returned {type(model).__name__}, "
                          "not a torch.nn.Module")
    return model


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def model_cost(name: str, input_shape: tuple[int, int, int] = INPUT_SHAPE) -> dict[str, int]:
    """MACs per image from thop, FLOPs = 2 x MACs, and parameter count, on CPU.

    thop counts multiply-accumulates; the reports called that number "FLOPs". Both are given,
    labelled, for one image of `input_shape`.
    """
    from thop import profile

    model = build_resnet(name).eval()
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        macs, _ = profile(model, inputs=(torch.zeros(1, *input_shape),), verbose=False)
    return {"macs": int(macs), "flops": int(2 * macs), "params": count_params(model)}
