"""What both trainers share: the torch device of a run and the per-class metrics."""

from __future__ import annotations

import numpy as np
import torch

from tune_bench.errors import ResourceError
from tune_bench.provenance import hostname


def resolve_device(device: str) -> torch.device:
    """torch device for 'cpu' | 'gpu'; a GPU asked of a machine without CUDA is an error."""
    if device == "gpu":
        if not torch.cuda.is_available():
            raise ResourceError("device gpu: CUDA is not available on this machine "
                                f"({hostname()}); use device cpu")
        return torch.device("cuda")
    return torch.device("cpu")


def confusion(y_true: torch.Tensor, y_pred: torch.Tensor, k: int = 10) -> np.ndarray:
    """k x k confusion matrix, rows = true class, columns = predicted class."""
    return torch.bincount(y_true.cpu() * k + y_pred.cpu(), minlength=k * k).reshape(k, k).numpy()


def per_class_accuracy(cm: np.ndarray) -> list[float]:
    """The accuracy on each true class of confusion matrix `cm` (0 for a class never seen)."""
    return (np.diag(cm) / np.maximum(cm.sum(1), 1)).round(6).tolist()
