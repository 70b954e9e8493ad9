"""The two-host harness (tests/hosts.py) without starting hosts: every path it hands to a host
is absolute, so a relative TUNE_BENCH_DATA_DIR (the README's ``../shared/data``) is hidden on
the worker as the directory the caller meant, not looked up again from the host's home."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from tests.hosts import Host, _hidden_on_worker


def test_a_host_mounts_over_absolute_paths_given_relative_ones(tmp_path, monkeypatch):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "main").mkdir()
    monkeypatch.chdir(tmp_path / "main")
    host = Host("worker", "tb-0-0000-work", "10.77.0.2", "w", Path("home"),
                hidden=(Path("../shared/data"),))
    assert host.home == tmp_path.resolve() / "main" / "home"
    assert host.hidden == ((tmp_path / "shared" / "data").resolve(),)
    script = host.wrap(["true"])[-3]  # the `sh -c` script run in the host's namespaces
    mounts = [shlex.split(step)[-1] for step in script.split(" && ") if step.startswith("mount")]
    assert mounts == [str((tmp_path / "shared" / "data").resolve())]
    assert all(os.path.isabs(m) for m in mounts)


def test_the_data_directories_hidden_on_the_worker_are_absolute(tmp_path, monkeypatch):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "main").mkdir()
    monkeypatch.chdir(tmp_path / "main")
    monkeypatch.setenv("TUNE_BENCH_DATA_DIR", "../shared/data")
    dirs = _hidden_on_worker(Path("tiny"))
    assert dirs == [(tmp_path / "main" / "tiny").resolve(),
                    (tmp_path / "shared" / "data").resolve()]


def test_the_session_data_directory_is_absolute():
    """tests/conftest.py made TUNE_BENCH_DATA_DIR absolute for every process the tests start."""
    value = os.environ.get("TUNE_BENCH_DATA_DIR")
    assert value is None or os.path.isabs(value)
