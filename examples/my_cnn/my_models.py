"""(a) A small CNN of my own, trained by tune-bench's built-in image trainer."""

from torch import nn


def build(num_classes: int, in_channels: int) -> nn.Module:
    """Two conv blocks and a linear head, for [B, in_channels, 32, 32] images."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, num_classes),
    )
