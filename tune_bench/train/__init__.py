"""The trainers: plain functions that train one ResNet or one SVM and return its metrics.

No Ray here. The sweep layer calls these with data it decoded once and a callback that reports
each epoch to Tune; `tune-bench train` calls them directly.
"""

from typing import Any

__all__ = ["train_resnet", "train_svm"]
# imported when first used: the trainer catalog reads `builtin` without importing torch
_LAZY = {"train_resnet": "tune_bench.train.resnet", "train_svm": "tune_bench.train.svm"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tune_bench.train' has no attribute {name!r}")
