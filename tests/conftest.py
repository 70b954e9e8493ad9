"""Shared fixtures: one Ray instance per test session, tiny generated datasets, real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hosts import two_hosts  # noqa: F401  (the two-host cluster fixture)
from tests.idx_utils import make_fake_root

# Every Ray the tests start (in-process or in subprocesses) stays on 127.0.0.1.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

# The README's command gives a relative TUNE_BENCH_DATA_DIR (../shared/data): made absolute
# here, once, for this process and every process the tests start in another working directory
# (tune-bench subprocesses, the cluster hosts of tests/hosts.py).
if os.environ.get("TUNE_BENCH_DATA_DIR"):
    os.environ["TUNE_BENCH_DATA_DIR"] = str(Path(os.environ["TUNE_BENCH_DATA_DIR"]).resolve())
REAL_DATA = os.environ.get("TUNE_BENCH_DATA_DIR")


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Learnable synthetic MNIST and FashionMNIST in torchvision's layout (600 + 200 images)."""
    return make_fake_root(tmp_path_factory.mktemp("data"), n_train=600, n_test=200)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real IDX files (CI sets TUNE_BENCH_DATA_DIR); tests using it skip without them."""
    if not REAL_DATA or not Path(REAL_DATA, "MNIST", "raw").is_dir():
        pytest.skip("TUNE_BENCH_DATA_DIR with the real MNIST/FashionMNIST files is not set")
    return Path(REAL_DATA)


@pytest.fixture(scope="session")
def ray_session():
    """Ray started once for the session: 2 CPUs and 2 logical GPUs (no CUDA behind them),
    loopback only, no dashboard. Stopped at the end of the session."""
    import ray

    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False,
             _node_ip_address="127.0.0.1", logging_level="WARNING")
    yield ray
    ray.shutdown()
