"""Tests of tune_bench.data: locating, verifying and decoding IDX files, splits, transforms.

The network is never used: torchvision's download is replaced by a stub, and the download cache
and Debian location point into tmp_path. Real-data tests (marked slow) run only when
TUNE_BENCH_DATA_DIR is set, e.g. ``TUNE_BENCH_DATA_DIR=/work/shared/data pytest -m slow``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tune_bench import data
from tune_bench.errors import ConfigError, DataError

sys.path.insert(0, str(Path(__file__).parent))
from idx_utils import FILE_STEMS, make_fake_root, write_idx  # noqa: E402

REAL_DATA_DIR = os.environ.get(data.ENV_VAR)
real_data = pytest.mark.skipif(not REAL_DATA_DIR, reason=f"{data.ENV_VAR} not set")

# CPU: torchvision resizes uint8 with a PIL-exact kernel, so the batched transform equals the
# PIL pipeline exactly (measured max abs difference 0.0); 1e-6 leaves room for float rounding.
CPU_TOL = 1e-6
# Other devices resize in float32 and round: at most one grey level off, 1/255/std = 0.00784
# after Normalize(0.5, 0.5) (measured 0.00784 on that path); 0.008 is that plus margin.
DEVICE_TOL = 0.008


# --------------------------------------------------------------------------- fixtures


class DownloadStub:
    """Replacement for torchvision's download: fails (default) or writes a fake root."""

    def __init__(self, succeed: bool = False) -> None:
        self.succeed = succeed
        self.calls: list[tuple[str, Path]] = []

    def __call__(self, name: str, root: Path) -> None:
        self.calls.append((name, root))
        if not self.succeed:
            raise OSError("network disabled in tests\n<urlopen error>")
        make_fake_root(root, n_train=100, n_test=50, names=(data.DATASET_DIRS[name],), seed=7)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DownloadStub:
    """No env var, no network, cache and Debian location inside tmp_path."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEFAULT_CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian" / "fashion-mnist")
    stub = DownloadStub()
    monkeypatch.setattr(data, "_torchvision_download", stub)
    return stub


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both datasets, 600 train / 200 test images, gzip (shared: do not modify)."""
    return make_fake_root(tmp_path_factory.mktemp("fake"))


@pytest.fixture(scope="module")
def fake_raw(fake_root: Path) -> data.RawDataset:
    return data.load_raw("mnist", fake_root)


def mnist_file(root: Path, part: str, kind: str, gz: bool = True) -> Path:
    return root / "MNIST" / "raw" / (FILE_STEMS[(part, kind)] + (".gz" if gz else ""))


def indexed_raw(labels: np.ndarray, n_test: int = 50) -> data.RawDataset:
    """In-memory dataset whose image i holds i in its first two pixels."""
    n = len(labels)
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    idx = torch.arange(n)
    images[:, 0, 0], images[:, 0, 1] = (idx // 256).to(torch.uint8), (idx % 256).to(torch.uint8)
    test_y = torch.arange(n_test) % 10
    test_x = torch.zeros(n_test, 28, 28, dtype=torch.uint8)
    return data.RawDataset("mnist", images, torch.from_numpy(labels), test_x, test_y, "memory")


def image_ids(x: torch.Tensor) -> np.ndarray:
    return (x[:, 0, 0].long() * 256 + x[:, 0, 1].long()).numpy()


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    x = data.read_idx(write_idx(tmp_path / "i", images, gz))
    y = data.read_idx(write_idx(tmp_path / "l", labels, gz))
    assert x.dtype == torch.uint8 and x.shape == (7, 28, 28)
    assert y.dtype == torch.int64 and y.shape == (7,)
    np.testing.assert_array_equal(x.numpy(), images)
    np.testing.assert_array_equal(y.numpy(), labels)


@pytest.mark.parametrize("gz", [True, False])
def test_load_raw_fake_root(tmp_path: Path, gz: bool) -> None:
    root = make_fake_root(tmp_path / "r", n_train=300, n_test=100, gz=gz)
    for name, dirname in data.DATASET_DIRS.items():
        raw = data.load_raw(name, root)
        assert raw.name == name
        assert raw.train_images.shape == (300, 28, 28) and raw.train_images.dtype == torch.uint8
        assert raw.train_labels.shape == (300,) and raw.train_labels.dtype == torch.int64
        assert raw.test_images.shape == (100, 28, 28) and raw.test_labels.shape == (100,)
        assert raw.source == str((root / dirname / "raw").resolve())
        assert torch.bincount(raw.train_labels).tolist() == [30] * 10


def test_datasets_differ(fake_root: Path) -> None:
    mnist, fashion = data.load_raw("mnist", fake_root), data.load_raw("fashion_mnist", fake_root)
    assert not torch.equal(mnist.train_images, fashion.train_images)


def test_load_raw_is_cached_per_source(tmp_path: Path, fake_root: Path) -> None:
    first = data.load_raw("mnist", fake_root)
    assert data.load_raw("mnist", str(fake_root)) is first
    other = make_fake_root(tmp_path / "other", names=("MNIST",))
    assert data.load_raw("mnist", other) is not first


def test_unknown_dataset_is_config_error() -> None:
    """Dataset names are checked by the trial config, before any data is looked for."""
    from tune_bench.config import ResNetConfig, SVMConfig

    with pytest.raises(ConfigError, match="cifar100"):
        ResNetConfig(dataset="cifar100")
    with pytest.raises(ConfigError, match="cifar100"):
        SVMConfig(dataset="cifar100")


# --------------------------------------------------------------------------- search order


def test_explicit_dir_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = make_fake_root(tmp_path / "explicit", n_train=300, names=("MNIST",))
    env = make_fake_root(tmp_path / "env", n_train=200, names=("MNIST",))
    monkeypatch.setenv(data.ENV_VAR, str(env))
    assert len(data.load_raw("mnist", explicit).train_labels) == 300
    raw = data.load_raw("mnist")
    assert len(raw.train_labels) == 200
    assert raw.source == str((env / "MNIST" / "raw").resolve())


def test_debian_layout(tmp_path: Path, isolated: DownloadStub) -> None:
    debian = data.DEBIAN_FASHION_MNIST_DIR
    src = make_fake_root(tmp_path / "src", n_train=200, n_test=50, names=("FashionMNIST",))
    debian.mkdir(parents=True)
    for i, path in enumerate(sorted((src / "FashionMNIST" / "raw").iterdir())):
        if i % 2:  # a flat directory mixing .gz and uncompressed files
            (debian / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
        else:
            (debian / path.name).write_bytes(path.read_bytes())
    raw = data.load_raw("fashion_mnist")
    assert raw.source == str(debian.resolve())
    assert len(raw.train_labels) == 200 and len(raw.test_labels) == 50
    assert isolated.calls == []
    with pytest.raises(DataError):  # the Debian location holds Fashion-MNIST only
        data.load_raw("mnist")


def test_nothing_found_lists_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(data.ENV_VAR, str(missing))
    with pytest.raises(DataError) as info:
        data.load_raw("fashion_mnist")
    msg = str(info.value)
    assert "\n" not in msg
    assert f"{data.ENV_VAR}={missing}: does not exist" in msg
    assert str(data.DEBIAN_FASHION_MNIST_DIR) in msg
    assert f"download cache {data.DEFAULT_CACHE_DIR}" in msg
    assert "network disabled in tests <urlopen error>" in msg
    assert "--data-dir" in msg and "FashionMNIST/raw/" in msg
    assert info.value.exit_code == 3


def test_download_disabled(tmp_path: Path, isolated: DownloadStub) -> None:
    with pytest.raises(DataError, match=r"download=False"):
        data.load_raw("mnist", tmp_path / "missing", download=False)
    assert isolated.calls == []


def test_download_fills_cache(isolated: DownloadStub) -> None:
    isolated.succeed = True
    raw = data.load_raw("mnist")
    assert isolated.calls == [("mnist", data.DEFAULT_CACHE_DIR)]
    assert raw.source == str((data.DEFAULT_CACHE_DIR / "MNIST" / "raw").resolve())
    assert len(raw.train_labels) == 100
    isolated.succeed = False
    assert data.load_raw("mnist") is raw  # served from the cache dir, no second download
    assert len(isolated.calls) == 1


def test_existing_explicit_dir_without_files_is_error(
    tmp_path: Path, isolated: DownloadStub
) -> None:
    isolated.succeed = True
    root = make_fake_root(tmp_path / "only_fashion", names=("FashionMNIST",))
    with pytest.raises(DataError, match=re.escape(str(root))):
        data.load_raw("mnist", root)
    (root / "MNIST" / "raw").mkdir(parents=True)
    write_idx(mnist_file(root, "train", "images"), np.zeros((20, 28, 28), np.uint8))
    with pytest.raises(DataError, match="lacks train-labels-idx1-ubyte"):
        data.load_raw("mnist", root)
    assert isolated.calls == []


def test_corrupt_explicit_dir_never_falls_back(tmp_path: Path, isolated: DownloadStub) -> None:
    isolated.succeed = True
    root = make_fake_root(tmp_path / "r", names=("MNIST",), gz=False)
    path = mnist_file(root, "test", "images", gz=False)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=re.escape(str(path))):
        data.load_raw("mnist", root)
    assert isolated.calls == []


# --------------------------------------------------------------------------- corrupted files


def test_truncated_file(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "x", np.zeros((10, 28, 28), np.uint8), gz=False)
    path.write_bytes(path.read_bytes()[:-100])
    expected = 16 + 10 * 28 * 28
    with pytest.raises(
        DataError,
        match=rf"{re.escape(str(path))}: truncated.*{expected}.*"
        rf"{expected - 100}",
    ):
        data.read_idx(path)


def test_trailing_bytes(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "y", np.zeros(10, np.uint8), gz=False)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DataError, match="size mismatch"):
        data.read_idx(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "x", np.arange(1000, dtype=np.uint8).reshape(-1) % 10)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: corrupted gzip"):
        data.read_idx(path)


@pytest.mark.parametrize("where", ["stream", "crc"])
def test_corrupted_gzip(tmp_path: Path, where: str) -> None:
    rng = np.random.default_rng(1)
    path = write_idx(tmp_path / "x", rng.integers(0, 256, (20, 28, 28), dtype=np.uint8))
    raw = bytearray(path.read_bytes())
    pos = len(raw) // 2 if where == "stream" else len(raw) - 6  # CRC32 is at [-8:-4]
    raw[pos] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: corrupted gzip"):
        data.read_idx(path)


def test_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_bytes((0x00000804).to_bytes(4, "big") + bytes(100))
    with pytest.raises(DataError, match=r"bad: not an MNIST IDX file \(magic 0x00000804"):
        data.read_idx(path)


def test_wrong_image_size(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "big", np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(DataError, match="32x32, expected 28x28"):
        data.read_idx(path)


def test_labels_out_of_range(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels", np.array([0, 9, 10, 3], np.uint8))
    with pytest.raises(DataError, match=r"labels.gz: label 10 at index 2 is outside 0..9"):
        data.read_idx(path)


def test_count_mismatch(tmp_path: Path) -> None:
    root = make_fake_root(tmp_path / "r", n_train=100, names=("MNIST",))
    labels = mnist_file(root, "train", "labels")
    write_idx(labels, np.zeros(99, np.uint8))
    with pytest.raises(DataError, match=r"holds 100 images but .*train-labels.* holds 99 labels"):
        data.load_raw("mnist", root)


def test_checksum_mismatch_full_size_images(tmp_path: Path) -> None:
    """A 60000-image file (47 MB) under MNIST/raw must match the original's md5."""
    images = np.zeros((60_000, 28, 28), np.uint8)
    path = write_idx(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte", images, gz=False)
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: checksum mismatch"):
        data.read_idx(path)
    # the same content elsewhere, or with a different count, only gets the structural checks
    other = tmp_path / "elsewhere" / path.name
    other.parent.mkdir()
    path.rename(other)
    assert data.read_idx(other).shape == (60_000, 28, 28)
    with pytest.raises(DataError, match="checksum mismatch"):
        data.read_idx(other, dataset="mnist")


@pytest.mark.parametrize("where", ["MNIST/raw", "FashionMNIST/raw", "fashion-mnist"])
def test_checksum_mismatch_labels(tmp_path: Path, where: str) -> None:
    path = write_idx(tmp_path / where / "t10k-labels-idx1-ubyte", np.zeros(10_000, np.uint8))
    with pytest.raises(DataError, match="checksum mismatch"):
        data.read_idx(path)
    small = write_idx(tmp_path / where / "t10k-labels-idx1-ubyte", np.zeros(9_999, np.uint8))
    assert data.read_idx(small).shape == (9_999,)


def test_md5_table_matches_readme() -> None:
    readme = Path("/work/shared/data/README.md")
    if not readme.is_file():
        pytest.skip("no shared README")
    rows = re.findall(
        r"\| (\w+)/raw/([\w-]+)\.gz \| [0-9a-f]{32} \| ([0-9a-f]{32}) \|", readme.read_text()
    )
    keys = {v: k for k, v in data.DATASET_DIRS.items()}
    assert len(rows) == 8
    assert {(keys[d], f): m for d, f, m in rows} == {
        (k, f): m for k, table in data.MD5.items() for f, m in table.items()
    }


# --------------------------------------------------------------------------- splits


def test_seeds_split_sizes_and_stratification(fake_raw: data.RawDataset) -> None:
    split = data.make_split(fake_raw, "seeds", 0)
    assert (split.name, split.seed, split.dataset) == ("seeds", 0, "mnist")
    assert [len(split.train_y), len(split.val_y), len(split.test_y)] == [420, 60, 120]
    for y, per_class in ((split.train_y, 42), (split.val_y, 6), (split.test_y, 12)):
        assert torch.bincount(y, minlength=10).tolist() == [per_class] * 10
    assert split.train_x.dtype == torch.uint8 and split.train_y.dtype == torch.int64


def test_official_split_uses_official_test(fake_raw: data.RawDataset) -> None:
    split = data.make_split(fake_raw, "official", 3)
    assert [len(split.train_y), len(split.val_y)] == [540, 60]
    assert torch.equal(split.test_x, fake_raw.test_images)
    assert torch.equal(split.test_y, fake_raw.test_labels)


@pytest.mark.parametrize("kind", ["seeds", "official"])
def test_split_parts_disjoint_and_proportional(kind: str) -> None:
    labels = np.repeat(np.arange(10), 20 * np.arange(1, 11))  # 20, 40, ..., 200 per class
    raw = indexed_raw(labels)
    split = data.make_split(raw, kind, 5)
    parts = [image_ids(split.train_x), image_ids(split.val_x)]
    if kind == "seeds":
        parts.append(image_ids(split.test_x))
    ids = np.concatenate(parts)
    assert len(np.unique(ids)) == len(ids) == len(labels)  # disjoint, covering
    fractions = (0.7, 0.1, 0.2) if kind == "seeds" else (0.9, 0.1)
    counts = np.bincount(labels)
    for part, frac in zip(parts, fractions, strict=False):
        got = np.bincount(labels[part], minlength=10)
        assert np.all(np.abs(got - frac * counts) <= 1), (kind, frac, got)
    np.testing.assert_array_equal(split.train_y.numpy(), labels[parts[0]])


def test_split_deterministic_and_seeded(fake_raw: data.RawDataset) -> None:
    a = data.make_split(fake_raw, "seeds", 1)
    data.clear_caches()
    b = data.make_split(fake_raw, "seeds", 1)
    assert a is not b
    for field in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert data.make_split(fake_raw, "seeds", 1) is b  # cached
    c = data.make_split(fake_raw, "seeds", 2)
    assert not torch.equal(a.val_x, c.val_x)
    assert not torch.equal(a.test_x, c.test_x)


def test_split_validation(fake_raw: data.RawDataset) -> None:
    from tune_bench.config import SVMConfig

    with pytest.raises(ConfigError, match="random"):
        SVMConfig(split="random")  # split names: checked by the trial config
    with pytest.raises(ConfigError, match="seed"):
        data.make_split(fake_raw, "seeds", -1)


def test_stratified_subset() -> None:
    labels = torch.from_numpy(np.repeat(np.arange(10), 50))
    idx = data.stratified_subset(labels, 100, seed=3)
    assert idx.dtype == torch.int64 and len(idx) == 100
    assert len(torch.unique(idx)) == 100 and torch.all(idx[1:] > idx[:-1])
    assert torch.bincount(labels[idx], minlength=10).tolist() == [10] * 10
    assert torch.equal(idx, data.stratified_subset(labels, 100, seed=3))
    assert not torch.equal(idx, data.stratified_subset(labels, 100, seed=4))


def test_stratified_subset_all_and_invalid() -> None:
    labels = torch.arange(30) % 10
    assert torch.equal(data.stratified_subset(labels, None, 0), torch.arange(30))
    assert torch.equal(data.stratified_subset(labels, 30, 0), torch.arange(30))
    assert torch.equal(data.stratified_subset(labels, 1000, 0), torch.arange(30))
    for n in (0, -1, 9):
        with pytest.raises(ConfigError, match=r"number of classes \(10\)"):
            data.stratified_subset(labels, n, 0)


# --------------------------------------------------------------------------- transforms


def pil_reference(x: torch.Tensor) -> torch.Tensor:
    from PIL import Image

    transform = data.notebook_transform()
    return torch.stack([transform(Image.fromarray(img.numpy(), mode="L")) for img in x])


def transform_inputs(fake_raw: data.RawDataset) -> torch.Tensor:
    noise = torch.randint(0, 256, (16, 28, 28), dtype=torch.uint8, generator=torch.Generator())
    return torch.cat([fake_raw.train_images[:16], noise])


def test_to_resnet_input_matches_pil_pipeline(fake_raw: data.RawDataset) -> None:
    x = transform_inputs(fake_raw)
    before = x.clone()
    out = data.to_resnet_input(x)
    assert out.shape == (32, 3, 32, 32) and out.dtype == torch.float32
    assert out.stride(1) == 0  # channels are an expanded view, not three copies
    assert torch.equal(x, before)
    diff = (out - pil_reference(x)).abs().max().item()
    assert diff <= CPU_TOL, diff
    assert out.min() >= -1 and out.max() <= 1


def test_to_resnet_input_normalization_and_validation() -> None:
    x = torch.full((2, 28, 28), 255, dtype=torch.uint8)
    out = data.to_resnet_input(x, mean=0.2, std=0.4, size=28)
    assert out.shape == (2, 3, 28, 28)
    assert torch.allclose(out, torch.full_like(out, 2.0))
    with pytest.raises(ValueError, match="uint8"):
        data.to_resnet_input(x.float())
    with pytest.raises(ValueError, match="shape"):
        data.to_resnet_input(x.reshape(2, 1, 1, 28, 28))
    with pytest.raises(ValueError, match="std"):
        data.to_resnet_input(x, std=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_to_resnet_input_on_gpu(fake_raw: data.RawDataset) -> None:
    x = transform_inputs(fake_raw)
    out = data.to_resnet_input(x.cuda())
    assert out.device.type == "cuda"
    assert (out.cpu() - pil_reference(x)).abs().max().item() <= DEVICE_TOL


def test_svm_arrays_scaler_fitted_on_train_only(fake_raw: data.RawDataset) -> None:
    split = data.make_split(fake_raw, "seeds", 0)
    x_train, y_train, x_test, y_test = data.svm_arrays(split, 100, 50, seed=0)
    assert x_train.shape == (100, 784) and x_test.shape == (50, 784)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert np.bincount(y_train).tolist() == [10] * 10 and np.bincount(y_test).tolist() == [5] * 10
    train_idx = data.stratified_subset(split.train_y, 100, 0)
    test_idx = data.stratified_subset(split.test_y, 50, 0)
    raw_train = split.train_x[train_idx].reshape(100, -1).double().numpy()
    raw_test = split.test_x[test_idx].reshape(50, -1).double().numpy()
    mean, std = raw_train.mean(0), raw_train.std(0)
    std[std == 0] = 1.0
    np.testing.assert_allclose(x_train, (raw_train - mean) / std, atol=1e-4)
    np.testing.assert_allclose(x_test, (raw_test - mean) / std, atol=1e-4)
    np.testing.assert_array_equal(y_test, split.test_y[test_idx].numpy())
    assert abs(x_test.mean(0)).max() > 1e-3  # not standardized on its own statistics


def test_svm_arrays_all_test(fake_raw: data.RawDataset) -> None:
    split = data.make_split(fake_raw, "official", 0)
    x_train, y_train, x_test, y_test = data.svm_arrays(split, None, None, seed=0)
    assert x_train.shape == (540, 784) and x_test.shape == (200, 784)
    np.testing.assert_array_equal(y_test, split.test_y.numpy())


# --------------------------------------------------------------------------- real data

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
REAL_COUNTS = {
    "mnist": (MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS),
    "fashion_mnist": ([6000] * 10, [1000] * 10),
}


@pytest.mark.slow
@real_data
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_real_dataset(name: str) -> None:
    raw = data.load_raw(name, REAL_DATA_DIR, download=False)
    assert raw.train_images.shape == (60_000, 28, 28) and raw.test_images.shape == (10_000, 28, 28)
    train_counts, test_counts = REAL_COUNTS[name]
    assert torch.bincount(raw.train_labels).tolist() == train_counts
    assert torch.bincount(raw.test_labels).tolist() == test_counts
    raw_dir = Path(raw.source)
    for stem, md5 in data.MD5[name].items():
        path = raw_dir / stem if (raw_dir / stem).is_file() else raw_dir / f"{stem}.gz"
        content = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert hashlib.md5(content).hexdigest() == md5, path


@pytest.mark.slow
@real_data
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_real_splits(name: str) -> None:
    raw = data.load_raw(name, REAL_DATA_DIR, download=False)
    split = data.make_split(raw, "seeds", 0)
    assert [len(split.train_y), len(split.val_y), len(split.test_y)] == [42_000, 6_000, 12_000]
    counts = np.array(REAL_COUNTS[name][0])
    for y, frac in ((split.train_y, 0.7), (split.val_y, 0.1), (split.test_y, 0.2)):
        assert np.all(np.abs(torch.bincount(y).numpy() - frac * counts) <= 1)
    official = data.make_split(raw, "official", 0)
    assert [len(official.train_y), len(official.val_y), len(official.test_y)] == [
        54_000,
        6_000,
        10_000,
    ]
