"""Write IDX files and fake dataset roots (torchvision's layout) for tests."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
FILE_STEMS = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 1-D labels (0x801) or 3-D images (0x803)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if array.ndim not in (1, 3):
        raise ValueError(f"array must be 1-D (labels) or 3-D (images), got {array.ndim}-D")
    magic = LABEL_MAGIC if array.ndim == 1 else IMAGE_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: str | Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write `array` as an IDX file at `path` (".gz" appended if `gz`); return the path."""
    path = Path(path)
    if gz and path.suffix != ".gz":
        path = path.with_name(path.name + ".gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    return path


def _blur(image: np.ndarray, passes: int = 2) -> np.ndarray:
    """Separable [1, 2, 1] / 4 blur, `passes` times, zero-padded."""
    out = image.astype(np.float32)
    for _ in range(passes):
        for axis in (0, 1):
            padded = np.pad(out, [(1, 1) if a == axis else (0, 0) for a in (0, 1)])
            lo = padded.take(range(0, out.shape[axis]), axis=axis)
            mid = padded.take(range(1, out.shape[axis] + 1), axis=axis)
            hi = padded.take(range(2, out.shape[axis] + 2), axis=axis)
            out = (lo + 2 * mid + hi) / 4
    return out


def class_templates(rng: np.random.Generator, n_classes: int = 10) -> np.ndarray:
    """One distinct blurred blob pattern per class, float32 [n_classes, 28, 28] in 0..1."""
    templates = np.empty((n_classes, 28, 28), np.float32)
    for k in range(n_classes):
        blobs = (rng.random((28, 28)) < 0.12).astype(np.float32)
        blobs[:3] = blobs[-3:] = 0
        blobs[:, :3] = blobs[:, -3:] = 0
        t = _blur(blobs)
        templates[k] = t / t.max()
    return templates


def fake_images(
    rng: np.random.Generator, templates: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """`n` balanced, shuffled (images uint8 [n, 28, 28], labels uint8 [n]) from `templates`."""
    labels = rng.permutation(np.arange(n) % len(templates)).astype(np.uint8)
    scale = rng.uniform(180, 255, size=(n, 1, 1)).astype(np.float32)
    noise = rng.normal(0, 20, size=(n, 28, 28)).astype(np.float32)
    images = np.clip(templates[labels] * scale + noise, 0, 255).round().astype(np.uint8)
    return images, labels


def make_fake_root(
    root: Path,
    n_train: int = 600,
    n_test: int = 200,
    names: tuple[str, ...] = ("MNIST", "FashionMNIST"),
    seed: int = 0,
    gz: bool = True,
) -> Path:
    """Write learnable synthetic datasets as ``<root>/<Name>/raw/*-ubyte[.gz]``; return root.

    Each class is a distinct blurred blob pattern with random brightness and Gaussian noise,
    so a small model separates the classes within an epoch or two.
    """
    root = Path(root)
    for name in names:
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        templates = class_templates(rng)
        raw = root / name / "raw"
        for part, n in (("train", n_train), ("test", n_test)):
            images, labels = fake_images(rng, templates, n)
            write_idx(raw / FILE_STEMS[(part, "images")], images, gz)
            write_idx(raw / FILE_STEMS[(part, "labels")], labels, gz)
    return root
