"""CIFAR-10 on disk, in torchvision's python-pickle layout
``<root>/cifar-10-batches-py/{data_batch_1..5,test_batch}``, read by
`torchvision.datasets.CIFAR10(download=False)`; never downloaded.

Search order: ``data_dir`` (else ``$TUNE_BENCH_DATA_DIR``), then the cache
``~/.cache/tune_bench/data`` (where a torchvision download with ``root=`` that directory puts
it). A batch with the original's 10,000 images must match torchvision's md5; any batch gets
structural checks (uint8 images [N, 3, 32, 32], one label in 0..9 each). Missing or corrupted:
one DataError line (exit 3).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from tune_bench.data import DEFAULT_CACHE_DIR, ENV_VAR, RawDataset
from tune_bench.errors import DataError

FOLDER = "cifar-10-batches-py"
BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
FULL_BATCH = 10_000  # images in each original batch


def _roots(data_dir: str | Path | None) -> list[tuple[str, Path, bool]]:
    """(label, root, explicit) to look in, in order."""
    roots = []
    if data_dir is not None:
        roots.append((f"data_dir {data_dir}", Path(data_dir).expanduser(), True))
    elif os.environ.get(ENV_VAR):
        env = os.environ[ENV_VAR]
        roots.append((f"{ENV_VAR}={env}", Path(env).expanduser(), True))
    roots.append((f"cache {DEFAULT_CACHE_DIR}", DEFAULT_CACHE_DIR, False))
    return roots


def _missing(root: Path) -> list[str]:
    return [b for b in BATCHES if not (root / FOLDER / b).is_file()]


def load_cifar10(data_dir: str | Path | None = None) -> RawDataset:
    """The 50,000 training and 10,000 test images (uint8 [N, 3, 32, 32]) of the first root
    that holds all six batches; an explicit root that exists must hold them."""
    tried = []
    for text, root, explicit in _roots(data_dir):
        if not root.is_dir():
            tried.append(f"{text}: does not exist")
            continue
        missing = _missing(root)
        if not missing:
            return _read(str(root.resolve()))
        why = f"{root / FOLDER} lacks {', '.join(missing)}"
        if explicit:
            raise DataError(f"{text}: {why} (CIFAR-10's python version, torchvision's layout)")
        tried.append(f"{text}: {why}")
    raise DataError(f"CIFAR-10 not found (it is never downloaded); tried: {'; '.join(tried)}. "
                    f"Provide the files with --data-dir DIR or {ENV_VAR}=DIR, laid out as "
                    f"DIR/{FOLDER}/{{data_batch_1..5,test_batch}} (torchvision's layout)")


@functools.lru_cache(maxsize=2)
def _read(root: str) -> RawDataset:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    class OnDisk(CIFAR10):
        """torchvision's reader; md5 checked below (only on full-size batches), the class
        names file (batches.meta) optional."""

        def _check_integrity(self) -> bool:
            return True

        def _load_meta(self) -> None:
            self.classes: list[str] = []

    folder = Path(root) / FOLDER
    parts: list[torch.Tensor] = []
    for train in (True, False):
        try:
            ds = OnDisk(root, train=train, download=False)
        except Exception as e:  # noqa: BLE001 - an unreadable batch, in one line
            text = " ".join(str(e).split())[:160]
            raise DataError(f"{folder}: corrupted CIFAR-10 batch ({type(e).__name__}: "
                            f"{text})") from None
        x, y = np.asarray(ds.data), np.asarray(ds.targets)
        if x.dtype != np.uint8 or len(x) != len(y) or (len(y) and not 0 <= y.min() <= y.max()
                                                       <= 9):
            raise DataError(f"{folder}: corrupted CIFAR-10 batch ({len(x)} {x.dtype} images, "
                            f"{len(y)} labels, expected uint8 images and labels in 0..9)")
        parts += [torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
                  torch.from_numpy(y.astype(np.int64))]
    for name, md5 in CIFAR10.train_list + CIFAR10.test_list:
        path = folder / name
        if path.stat().st_size > 3072 * FULL_BATCH and not check_integrity(str(path), md5):
            raise DataError(f"{path}: md5 mismatch with the original CIFAR-10 batch")
    train_x, train_y, test_x, test_y = parts
    return RawDataset("cifar10", train_x, train_y, test_x, test_y, str(folder))
