"""The dataset catalog: every dataset a trial can name, with its label for display.

Built-in: the IDX datasets (`mnist`, `fashion_mnist`: files in torchvision's layout, decoded by
`tune_bench.data`), scikit-learn's bundled `digits` (8x8 images, offline) and CIFAR-10 on disk in
torchvision's pickle layout (`cifar10`, `tune_bench.cifar`; 3x32x32 colour images). A user's data:
`dataset: my_module:load`, a function returning arrays (`load_user`). Plain data, no torch:
the analysis reads labels from here without importing a trainer or a plug-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tune_bench.errors import ConfigError


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's label for display, its kind (`idx`, `sklearn`, `cifar`), its order in
    tables, its short name in trial names (default: its name) and its class names (default:
    the class numbers)."""

    label: str
    kind: str
    order: int
    short: str = ""
    classes: tuple[str, ...] = ()


CATALOG: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("MNIST", "idx", 0),
    "fashion_mnist": DatasetInfo("FashionMNIST", "idx", 1, "fmnist", (
        "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
        "Boot")),
    "digits": DatasetInfo("digits", "sklearn", 2),
    "cifar10": DatasetInfo("CIFAR-10", "cifar", 3, "cifar10", (  # on disk only (tune_bench.cifar)
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
        "truck")),
}
NAMES: tuple[str, ...] = tuple(CATALOG)
UNORDERED = 99  # the order of a name the catalog does not hold (a user's loader)


def label(name: str) -> str:
    """'MNIST' for mnist; a user's loader (`my_module:load`) by its own name."""
    return CATALOG[name].label if name in CATALOG else name


def short(name: str) -> str:
    """The dataset's name in trial names ('fmnist'); its own name by default."""
    return (CATALOG[name].short or name) if name in CATALOG else name


def order(name_or_label: str) -> int:
    """The table order of a dataset given by name or display label (UNORDERED if unknown)."""
    for name, info in CATALOG.items():
        if name_or_label in (name, info.label):
            return info.order
    return UNORDERED


def class_names(name: Any, n: int) -> list[str]:
    """The names of `n` classes of dataset `name`: the catalog's, else the class numbers."""
    info = CATALOG.get(name) if isinstance(name, str) else None
    if info is not None and len(info.classes) == n:
        return list(info.classes)
    return [str(i) for i in range(n)]


def check_name(name: Any) -> str:
    """A catalog name or an import path `module:function`; else the one-line refusal."""
    if isinstance(name, str) and (name in CATALOG or ":" in name):
        return name
    raise ValueError(f"must be one of {', '.join(NAMES)} or a loader module:function "
                     f"(got {name!r})")


ARRAY_KEYS = ("train_x", "train_y", "test_x", "test_y")


def load_user(ref: str) -> dict[str, Any]:
    """Call the user's loader `module:function` (no arguments): a dict (or tuple, in this
    order) of numpy arrays train_x, train_y, test_x, test_y and optionally val_x, val_y;
    images [N, H, W] (any numeric type; uint8 0..255 as the image trainer expects) and integer
    labels [N]. Shapes are checked: one ConfigError line naming the loader."""
    import numpy as np

    from tune_bench.plugins import load_object

    fn, _ = load_object(ref, f"dataset {ref}")
    try:
        got = fn()
    except Exception as e:  # noqa: BLE001 - the loader's own error, in one line
        raise ConfigError(f"dataset {ref}: the loader raised {type(e).__name__}: {e}") from None
    keys = (*ARRAY_KEYS, "val_x", "val_y")
    if isinstance(got, (tuple, list)):
        got = dict(zip(keys, got, strict=False))
    if not isinstance(got, dict) or any(k not in got for k in ARRAY_KEYS):
        raise ConfigError(f"dataset {ref}: the loader must return train_x, train_y, test_x, "
                          "test_y (a dict or a tuple of arrays)")
    out = {k: np.asarray(v) for k, v in got.items() if k in keys and v is not None}
    for part in ("train", "test", "val"):
        if f"{part}_x" not in out:
            continue
        x, y = out[f"{part}_x"], out.get(f"{part}_y")
        if y is None or y.ndim != 1 or len(x) != len(y):
            raise ConfigError(
                f"dataset {ref}: {part}_x holds {len(x)} images but {part}_y "
                f"{'is missing' if y is None else f'has shape {list(y.shape)}'}: "
                "each image needs one label")
    if out["train_x"].shape[1:] != out["test_x"].shape[1:]:
        raise ConfigError(f"dataset {ref}: train images are {list(out['train_x'].shape[1:])} "
                          f"but test images {list(out['test_x'].shape[1:])}")
    return out
