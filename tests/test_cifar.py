"""CIFAR-10 on disk (`dataset: cifar10`): torchvision's python-pickle layout read through
torchvision.datasets.CIFAR10(download=False); a tiny fake in that layout trains; missing or
corrupted files are one line, exit 3."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_cli_errors import Run, one_line_error, run  # noqa: F401
from tune_bench.cifar import BATCHES, FOLDER
from tune_bench.data import load_raw, load_split, to_resnet_input
from tune_bench.errors import DataError


def py2_pickle(d: dict) -> bytes:
    """`d` (str keys) pickled as Python 2 wrote CIFAR-10: the keys as byte strings, so that
    pickle.load(encoding="bytes") gives b"data" / b"labels" as for the real files."""
    raw = pickle.dumps(d, protocol=2)
    for key in d:
        b = key.encode()
        raw = raw.replace(b"X" + len(b).to_bytes(4, "little") + b, b"U" + bytes([len(b)]) + b)
    return raw


def make_fake_cifar(root: Path, n: int = 60) -> Path:
    """Six batches of `n` learnable 3x32x32 images (class k: a bright k-th band in channel
    k % 3) in `root`/cifar-10-batches-py."""
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate(BATCHES):
        labels = (np.arange(n) + i) % 10
        x = rng.integers(0, 60, (n, 3, 32, 32), dtype=np.uint8)
        for j, k in enumerate(labels):
            x[j, k % 3, 3 * k:3 * k + 3, :] = 255
        (folder / name).write_bytes(py2_pickle({"data": x.reshape(n, 3072),
                                                "labels": labels.tolist()}))
    return root


def test_fake_in_the_real_layout_is_read_through_torchvision(tmp_path: Path):
    root = make_fake_cifar(tmp_path / "data")
    entry = pickle.loads((root / FOLDER / "data_batch_1").read_bytes(), encoding="bytes")
    assert entry[b"data"].shape == (60, 3072) and entry[b"data"].dtype == np.uint8
    raw = load_raw("cifar10", root)
    assert raw.train_images.shape == (300, 3, 32, 32) and raw.test_images.shape == (60, 3, 32, 32)
    assert raw.train_labels.dtype == torch.int64 and int(raw.train_labels.max()) == 9
    x = to_resnet_input(raw.test_images[:4])
    assert x.shape == (4, 3, 32, 32)
    assert torch.equal(x[:, 1], raw.test_images[:4, 1].float().div(255).sub(0.5).div(0.5))
    split = load_split("cifar10", "official", str(root))
    assert len(split.test_y) == 60 and len(split.train_y) + len(split.val_y) == 300


def test_missing_and_corrupted(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"lacks data_batch_1, .*test_batch") as info:
        load_raw("cifar10", tmp_path / "empty")
    assert info.value.exit_code == 3
    root = make_fake_cifar(tmp_path / "bad")
    (root / FOLDER / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="corrupted CIFAR-10 batch"):
        load_raw("cifar10", root)


def test_cli_missing_one_line_exit_3(run: Run, tmp_path: Path):  # noqa: F811
    (tmp_path / "nodata").mkdir()
    res = run("train", "resnet", "--dataset", "cifar10", "--data-dir", str(tmp_path / "nodata"))
    one_line_error(res, 3, "cifar-10-batches-py lacks data_batch_1")


def test_train_on_the_fake(tmp_path: Path, capsys):
    from tune_bench import cli

    root = make_fake_cifar(tmp_path / "data")
    cli.main(["train", "resnet", "--dataset", "cifar10", "--model", "resnet18", "--n-train",
              "200", "--n-eval", "50", "--epochs", "1", "--batch-size", "50",
              "--data-dir", str(root), "--json"])
    m = json.loads(capsys.readouterr().out)
    assert m["n_train_used"] == 200 and 0 <= m["test_acc"] <= 1 and m["macs"] > 0
