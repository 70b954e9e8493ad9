"""Find, verify and decode MNIST / FashionMNIST; splits; batched transforms.

Files are read in torchvision's layout, ``<root>/<Name>/raw/<file>[.gz]`` (Name is ``MNIST`` or
``FashionMNIST``), or flat in Debian's ``/usr/share/datasets/fashion-mnist/``. Every file gets
structural checks (magic, dimensions, byte count, label range); a file with the full count of
the original distribution must also match the md5 of its uncompressed content.

Search order of `load_raw`: ``data_dir`` (else ``$TUNE_BENCH_DATA_DIR``), the Debian location
(Fashion-MNIST only), the download cache ``~/.cache/tune_bench/data``, then torchvision's
download into that cache. Decoded datasets and splits are cached per process.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from tune_bench.errors import ConfigError, DataError

ENV_VAR = "TUNE_BENCH_DATA_DIR"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "tune_bench" / "data"
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

DATASET_DIRS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Item count of the original distributions, per file name.
FULL_COUNTS = {"train": 60_000, "t10k": 10_000}
# md5 of the UNCOMPRESSED files (shared/data/README.md); the .gz bytes may differ.
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
IMAGE_SIZE = 28
NUM_CLASSES = 10
VAL_FRACTION = 0.1
TEST_FRACTION = 0.2  # of the training images, "seeds" split only
SPLIT_SEED = 0  # every trial sees the same split and subsets; a trial's `seed` drives the rest


@dataclass(frozen=True, eq=False)
class RawDataset:
    """Decoded dataset: uint8 images [N, 28, 28] (CIFAR-10: [N, 3, 32, 32]), int64 labels [N];
    compared by identity."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str


@dataclass(frozen=True, eq=False)
class Split:
    """Train/val/test tensors (uint8 [N, 28, 28] / int64 [N]); `name` is the split's name."""

    name: str
    seed: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    dataset: str = ""


# --------------------------------------------------------------------------- IDX decoding


def _read_bytes(path: Path) -> bytes:
    """Whole uncompressed content of `path` (gzip if it ends with .gz)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupted gzip file ({type(exc).__name__}: {exc})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _parse_header(path: Path, data: bytes) -> tuple[int, tuple[int, ...]]:
    """Return (magic, dims) of an IDX file, checking the magic and the image dimensions."""
    if len(data) < 8:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic not in (IMAGE_MAGIC, LABEL_MAGIC):
        raise DataError(
            f"{path}: not an MNIST IDX file (magic 0x{magic:08x}, expected 0x{IMAGE_MAGIC:08x} "
            f"for images or 0x{LABEL_MAGIC:08x} for labels)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} of {header} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if magic == IMAGE_MAGIC and dims[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
    if dims[0] < 1:
        raise DataError(f"{path}: holds no items")
    return magic, dims


def _check_size(path: Path, data: bytes, dims: tuple[int, ...]) -> int:
    """Check the declared size against the byte count; return the header length."""
    header = 4 + 4 * len(dims)
    expected = header + int(np.prod(dims))
    if len(data) < expected:
        raise DataError(
            f"{path}: truncated file: expected {expected} bytes for {dims[0]} items, "
            f"got {len(data)}"
        )
    if len(data) > expected:
        raise DataError(
            f"{path}: size mismatch: expected {expected} bytes for {dims[0]} items, got {len(data)}"
        )
    return header


def _infer_dataset(path: Path) -> str | None:
    """Dataset key from a file's location (``<Name>/raw/`` or Debian's directory), if known."""
    parent = path.parent
    if parent.name == "raw":
        for key, dirname in DATASET_DIRS.items():
            if parent.parent.name == dirname:
                return key
    if parent.name == DEBIAN_FASHION_MNIST_DIR.name:
        return "fashion_mnist"
    return None


def _check_md5(path: Path, data: bytes, count: int, dataset: str | None) -> None:
    """For a full-count file of a known dataset, compare the md5 of its uncompressed content."""
    stem = path.name.removesuffix(".gz")
    if dataset not in MD5 or stem not in MD5[dataset]:
        return
    if count != FULL_COUNTS[stem.split("-")[0]]:
        return
    digest = hashlib.md5(data).hexdigest()
    if digest != MD5[dataset][stem]:
        raise DataError(
            f"{path}: checksum mismatch for {DATASET_DIRS[dataset]} (md5 of uncompressed content "
            f"{digest}, expected {MD5[dataset][stem]}): the file is corrupted or not the original"
        )


def read_idx(path: str | Path, dataset: str | None = None) -> torch.Tensor:
    """Decode an IDX file (raw or .gz): uint8 images [N, 28, 28] or int64 labels [N].

    `dataset` (default: inferred from the location) selects the md5 table used for files with
    the full count of the original distribution. Raises DataError naming the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    magic, dims = _parse_header(path, data)
    header = _check_size(path, data, dims)
    _check_md5(path, data, dims[0], dataset if dataset is not None else _infer_dataset(path))
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    if magic == IMAGE_MAGIC:
        return torch.from_numpy(array.copy())
    if int(array.max()) >= NUM_CLASSES:
        bad = int(np.argmax(array >= NUM_CLASSES))
        raise DataError(f"{path}: label {int(array[bad])} at index {bad} is outside 0..9")
    return torch.from_numpy(array.astype(np.int64))


# --------------------------------------------------------------------------- locating files


@dataclass(frozen=True)
class _Place:
    """A place to look in: `root` as given, `dataset_dir` holding the files."""

    label: str
    root: Path
    dataset_dir: Path
    explicit: bool = False


def _rooted(label: str, root: Path, name: str, explicit: bool = False) -> _Place:
    return _Place(label, root, root / DATASET_DIRS[name] / "raw", explicit)


def _search_places(name: str, data_dir: str | Path | None) -> list[_Place]:
    """Places to look in before any download, in order."""
    places = []
    if data_dir is not None:
        places.append(_rooted(f"data_dir {data_dir}", Path(data_dir).expanduser(), name, True))
    elif os.environ.get(ENV_VAR):
        env = os.environ[ENV_VAR]
        places.append(_rooted(f"{ENV_VAR}={env}", Path(env).expanduser(), name, True))
    if name == "fashion_mnist":
        debian = DEBIAN_FASHION_MNIST_DIR
        places.append(_Place(f"Debian dataset-fashion-mnist {debian}", debian, debian))
    return places


def _find_files(place: _Place) -> tuple[dict[str, Path] | None, str]:
    """The four files of `place` (uncompressed preferred), or None and why not."""
    if not place.root.is_dir():
        return None, "does not exist"
    if not place.dataset_dir.is_dir():
        return None, f"no {place.dataset_dir} directory"
    found, missing = {}, []
    for role, stem in FILES.items():
        plain, gz = place.dataset_dir / stem, place.dataset_dir / f"{stem}.gz"
        path = plain if plain.is_file() else gz if gz.is_file() else None
        if path is None:
            missing.append(f"{stem}[.gz]")
        else:
            found[role] = path
    if missing:
        return None, f"{place.dataset_dir} lacks {', '.join(missing)}"
    return found, ""


def _signature(files: dict[str, Path]) -> tuple[tuple[str, int, int], ...]:
    """Resolved paths with size and mtime, so that rewritten files are not served from cache."""
    out = []
    for role in FILES:
        st = files[role].stat()
        out.append((str(files[role].resolve()), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _read_pair(images: Path, labels: Path, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = read_idx(images, name), read_idx(labels, name)
    if x.ndim != 3 or y.ndim != 1:
        raise DataError(f"{images} / {labels}: expected an images file and a labels file")
    if x.shape[0] != y.shape[0]:
        raise DataError(
            f"{images} holds {x.shape[0]} images but {labels} holds {y.shape[0]} labels"
        )
    return x, y


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, source: str, signature: tuple[tuple[str, int, int], ...]) -> RawDataset:
    paths = dict(zip(FILES, (Path(p) for p, _, _ in signature), strict=True))
    train_x, train_y = _read_pair(paths["train_images"], paths["train_labels"], name)
    test_x, test_y = _read_pair(paths["test_images"], paths["test_labels"], name)
    return RawDataset(name, train_x, train_y, test_x, test_y, source)


def _load_files(name: str, place: _Place, files: dict[str, Path]) -> RawDataset:
    return _load_cached(name, str(place.dataset_dir.resolve()), _signature(files))


def _torchvision_download(name: str, root: Path) -> None:
    """Download `name` with torchvision into ``<root>/<Name>/raw`` (network needed)."""
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}[name]
    cls(root=str(root), train=True, download=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text[:200]}"


def _try_download(name: str, tried: list[str]) -> RawDataset | None:
    """Use the download cache, downloading into it with torchvision if needed."""
    cache = _rooted(f"download cache {DEFAULT_CACHE_DIR}", DEFAULT_CACHE_DIR, name)
    files, why = _find_files(cache)
    if files is not None:
        return _load_files(name, cache, files)
    tried.append(f"{cache.label}: {why}")
    try:
        _torchvision_download(name, DEFAULT_CACHE_DIR)
    except Exception as exc:  # noqa: BLE001 - any download failure is reported, not raised
        tried.append(f"torchvision download into {DEFAULT_CACHE_DIR}: failed ({_one_line(exc)})")
        return None
    files, why = _find_files(cache)
    if files is None:
        tried.append(f"torchvision download into {DEFAULT_CACHE_DIR}: finished but {why}")
        return None
    return _load_files(name, cache, files)


def _not_found(name: str, tried: list[str]) -> DataError:
    dirname = DATASET_DIRS[name]
    return DataError(
        f"{dirname} not found; tried: {'; '.join(tried)}. Provide the files with --data-dir DIR "
        f"or {ENV_VAR}=DIR, laid out as DIR/{dirname}/raw/"
        "{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz"
    )


@functools.lru_cache(maxsize=1)
def load_digits() -> RawDataset:
    """scikit-learn's bundled digits (1,797 8x8 images, offline) as uint8 0..255; a fixed
    stratified 20% is its "official" test set."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = torch.from_numpy((bunch.images * (255 / 16)).round().astype(np.uint8))
    y = torch.from_numpy(bunch.target.astype(np.int64))
    train, test = _stratified_split(np.arange(len(y)), y.numpy(), round(0.2 * len(y)), 0)
    return RawDataset("digits", *_take(x, y, train), *_take(x, y, test), "sklearn digits")


@functools.lru_cache(maxsize=4)
def load_user(ref: str) -> RawDataset | Split:
    """A user's loader `module:function` (`datasets.load_user`): a RawDataset, or a Split when
    it returns its own validation arrays."""
    from tune_bench.datasets import load_user as call

    a = call(ref)
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in a.items()}
    t.update({k: v.to(torch.int64) for k, v in t.items() if k.endswith("_y")})
    if "val_x" in t:
        return Split("loader", SPLIT_SEED, t["train_x"], t["train_y"], t["val_x"], t["val_y"],
                     t["test_x"], t["test_y"], ref)
    return RawDataset(ref, t["train_x"], t["train_y"], t["test_x"], t["test_y"], ref)


def load_raw(name: str, data_dir: str | Path | None = None, download: bool = True) -> RawDataset:
    """Find, verify and decode dataset `name` (`tune_bench.datasets`); cached per process.

    An explicit `data_dir` (or $TUNE_BENCH_DATA_DIR) that exists must hold the files; one that
    does not exist is reported and the search goes on. Corrupted files are always an error.
    """
    if name == "digits":
        return load_digits()
    if name == "cifar10":  # on disk only, in torchvision's pickle layout
        from tune_bench.cifar import load_cifar10

        return load_cifar10(data_dir)
    tried: list[str] = []
    for place in _search_places(name, data_dir):
        files, why = _find_files(place)
        if files is not None:
            return _load_files(name, place, files)
        if place.explicit and place.root.is_dir():
            raise DataError(
                f"{place.label}: {why} (expected {place.root}/{DATASET_DIRS[name]}/raw/"
                "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz])"
            )
        tried.append(f"{place.label}: {why}")
    if not download:
        tried.append("download: disabled (download=False)")
    else:
        raw = _try_download(name, tried)
        if raw is not None:
            return raw
    raise _not_found(name, tried)


def clear_caches() -> None:
    """Forget the decoded datasets and splits cached in this process."""
    _load_cached.cache_clear()
    _make_split_cached.cache_clear()


# --------------------------------------------------------------------------- splits


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed: must be an integer in 0..2**32-1 (got {seed!r})")
    return int(seed)


def _stratified_split(
    indices: np.ndarray, labels: np.ndarray, n_second: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split `indices` into (rest, n_second of them), stratified by `labels[indices]`."""
    first, second = train_test_split(
        indices, test_size=n_second, stratify=labels[indices], random_state=seed
    )
    return np.sort(first), np.sort(second)


def _take(x: torch.Tensor, y: torch.Tensor, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    index = torch.from_numpy(idx.astype(np.int64))
    return x[index], y[index]


@functools.lru_cache(maxsize=8)
def _make_split_cached(raw: RawDataset, split: str, seed: int) -> Split:
    labels = raw.train_labels.numpy()
    n = len(labels)
    n_val = round(VAL_FRACTION * n)
    indices = np.arange(n)
    if split == "seeds":
        indices, test_idx = _stratified_split(indices, labels, round(TEST_FRACTION * n), seed)
        test_x, test_y = _take(raw.train_images, raw.train_labels, test_idx)
    else:
        test_x, test_y = raw.test_images, raw.test_labels
    train_idx, val_idx = _stratified_split(indices, labels, n_val, seed)
    train_x, train_y = _take(raw.train_images, raw.train_labels, train_idx)
    val_x, val_y = _take(raw.train_images, raw.train_labels, val_idx)
    return Split(split, seed, train_x, train_y, val_x, val_y, test_x, test_y, raw.name)


def make_split(raw: RawDataset, split: str = "seeds", seed: int = 0) -> Split:
    """Stratified, seeded split of `raw`'s training images; cached per (raw, split, seed).

    "seeds": 70/10/20 train/val/test of the training images (42,000/6,000/12,000 on MNIST),
    the official test set unused. "official": 90/10 train/val, test = the official test set.
    """
    if not isinstance(raw, RawDataset):
        raise TypeError(f"raw must be a RawDataset (got {type(raw).__name__})")
    seed = _check_seed(seed)
    try:
        return _make_split_cached(raw, split, seed)
    except ValueError as exc:  # sklearn: too few images of a class to stratify
        raise DataError(f"{raw.source}: cannot make the {split!r} split ({exc})") from exc


def load_split(dataset: str, split: str = "seeds", data_dir: str | None = None) -> Split:
    """Decode `dataset` once (cached) and cut the named split, seeded by SPLIT_SEED; a user's
    loader (`module:function`) that returns validation arrays gives its own split."""
    if ":" in dataset:
        raw = load_user(dataset)
        return raw if isinstance(raw, Split) else make_split(raw, split, seed=SPLIT_SEED)
    return make_split(load_raw(dataset, data_dir), split, seed=SPLIT_SEED)


def stratified_subset(labels: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    """Sorted int64 indices of `n` items stratified by `labels`; arange if n is None or >= len."""
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1:
        raise ValueError("labels must be a 1-D tensor")
    total = labels.shape[0]
    if n is None or (not isinstance(n, bool) and isinstance(n, int) and n >= total):
        return torch.arange(total, dtype=torch.int64)
    n_classes = int(torch.unique(labels).numel())
    if isinstance(n, bool) or not isinstance(n, int) or n < max(1, n_classes):
        raise ConfigError(
            f"n: must be an integer >= the number of classes ({n_classes}) (got {n!r})"
        )
    y, seed = labels.cpu().numpy(), _check_seed(seed)
    try:
        _, subset = _stratified_split(np.arange(total), y, n, seed)
    except ValueError as exc:
        raise ConfigError(f"n: cannot draw a stratified subset of {n} of {total} ({exc})") from exc
    return torch.from_numpy(subset.astype(np.int64))


# --------------------------------------------------------------------------- transforms


def _check_norm(mean: float, std: float, size: int) -> None:
    if not std > 0:
        raise ValueError(f"std must be > 0 (got {std})")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer (got {size!r})")


def to_resnet_input(
    x: torch.Tensor, mean: float = 0.5, std: float = 0.5, size: int = 32
) -> torch.Tensor:
    """uint8 [B, 28, 28] (any device) -> float32 [B, 3, size, size], batched.

    Same as the reports' per-image Resize(size) -> Grayscale(3) -> ToTensor -> Normalize(mean,
    std): the resize runs on uint8 (rounded like PIL), the three channels are an ``expand``ed
    view of one (stride 0; call ``.contiguous()`` if a kernel needs it). Colour images
    [B, 3, H, W] (CIFAR-10) keep their three channels.
    """
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as tvf

    _check_norm(mean, std, size)
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8:
        raise ValueError(f"x must be a uint8 tensor (got {getattr(x, 'dtype', type(x))})")
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"x must have shape [B, H, W] or [B, 1 or 3, H, W] "
                         f"(got {list(x.shape)})")
    if tuple(x.shape[-2:]) != (size, size):
        x = tvf.resize(x, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True)
    out = x.to(torch.float32).div_(255.0).sub_(mean).div_(std)
    return out.expand(-1, 3, -1, -1)


def notebook_transform(mean: float = 0.5, std: float = 0.5):
    """The reports' per-image PIL pipeline (baseline for `to_resnet_input`)."""
    from torchvision import transforms

    _check_norm(mean, std, 1)
    return transforms.Compose(
        [
            transforms.Resize(32),
            transforms.Grayscale(num_output_channels=3),
            transforms.ToTensor(),
            transforms.Normalize((mean,) * 3, (std,) * 3),
        ]
    )


def svm_arrays(
    split: Split, n_train: int | None, n_test: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test): flattened float32 pixels, standardized with a
    StandardScaler fitted on the stratified training subset only."""
    train_idx = stratified_subset(split.train_y, n_train, seed)
    test_idx = stratified_subset(split.test_y, n_test, seed)
    x_train = split.train_x[train_idx].reshape(len(train_idx), -1).numpy().astype(np.float32)
    x_test = split.test_x[test_idx].reshape(len(test_idx), -1).numpy().astype(np.float32)
    scaler = StandardScaler().fit(x_train)
    return (
        scaler.transform(x_train).astype(np.float32, copy=False),
        split.train_y[train_idx].numpy(),
        scaler.transform(x_test).astype(np.float32, copy=False),
        split.test_y[test_idx].numpy(),
    )
