"""The image trainer's models and their cost (MACs, FLOPs, parameters) via thop.

A model is a torchvision classification builder by name (the reports' `resnet18/34/50`, or any
of `torchvision.models.list_models(module=torchvision.models)`: `mobilenet_v3_small`,
`efficientnet_b0`, `convnext_tiny`, ...), with random init (weights=None) and `num_classes`
outputs, or a user's factory `module:function`. Every model sees the trainer's input
[B, 3, 32, 32] (`data.to_resnet_input`: 28x28 grayscale images resized to 32x32 and their one
channel repeated on 3, as in the reports; 3-channel 32x32 images such as CIFAR-10's as they
are), so no builder's first layer is changed. A builder that cannot take that input (too much
downsampling, a fixed input size, auxiliary outputs in training) is refused in one line when
the space is checked (`check_torchvision`), before anything starts.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import warnings

import torch
from torch import nn

from tune_bench.errors import ConfigError

NUM_CLASSES = 10
INPUT_SHAPE = (3, 32, 32)  # what every model sees (data.to_resnet_input)


def build_resnet(name: str, num_classes: int = NUM_CLASSES) -> nn.Module:
    """A torchvision classification model by builder name with random init (weights=None) and
    a `num_classes` head, or a user's factory `module:function` (checked by `ResNetConfig`)."""
    # Imported here: torchvision.models costs ~1.4 s of import (it pulls in torch._dynamo), which
    # an SVM trial's worker and the CLI's other commands need not pay.
    if ":" in name:
        return build_factory(name, num_classes)
    from torchvision import models as tvm

    return tvm.get_model(name, weights=None, num_classes=num_classes)


@functools.lru_cache(maxsize=1)
def torchvision_names() -> tuple[str, ...]:
    """The classification builders of torchvision.models (no detection, video, ...)."""
    import torchvision
    from torchvision import models as tvm

    return tuple(tvm.list_models(module=torchvision.models))


@functools.lru_cache(maxsize=16)
def check_torchvision(name: str) -> str:
    """`name` if it is a torchvision classification builder that trains on the trainer's
    input (one forward pass in training mode on [2, 3, 32, 32] gives [2, classes] logits);
    else a ConfigError line: an unknown name with the closest ones, or why it cannot run."""
    names = torchvision_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close[:-1])}{' or ' * (len(close) > 1)}{close[-1]}?" \
            if close else \
            "see torchvision.models.list_models(module=torchvision.models)"
        raise ConfigError(f"unknown torchvision classification model {name!r} ({hint}), "
                          "nor a factory module:function")
    shape = "x".join(map(str, INPUT_SHAPE))
    try:
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")  # inception's and googlenet's init notices
            out = build_resnet(name).train()(torch.zeros(2, *INPUT_SHAPE))
    except Exception as e:  # noqa: BLE001 - the builder's own error, in one line
        why = " ".join(str(e).split())[:160]
        raise ConfigError(f"{name} needs a larger input than the trainer's {shape} images "
                          f"(its forward pass failed: {type(e).__name__}: {why})") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, NUM_CLASSES):
        raise ConfigError(f"{name} returns {type(out).__name__} in training mode, not the "
                          "[batch, classes] logits the trainer needs")
    return name


def build_factory(ref: str, num_classes: int = NUM_CLASSES, in_channels: int = 3) -> nn.Module:
    """A user's model: `module:function` called with num_classes and in_channels (the input is
    [B, 3, 32, 32], grayscale images repeated on 3 channels); ConfigError unless an nn.Module."""
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


def model_cost(name: str, input_shape: tuple[int, int, int] = INPUT_SHAPE,
               num_classes: int = NUM_CLASSES) -> dict[str, int]:
    """MACs per image from thop, FLOPs = 2 x MACs, and parameter count, on CPU.

    thop counts multiply-accumulates; the reports called that number "FLOPs". Both are given,
    labelled, for one image of `input_shape`.
    """
    from thop import profile

    model = build_resnet(name, num_classes).eval()
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        macs, _ = profile(model, inputs=(torch.zeros(1, *input_shape),), verbose=False)
    return {"macs": int(macs), "flops": int(2 * macs), "params": count_params(model)}
