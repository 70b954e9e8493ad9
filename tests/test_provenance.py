"""Provenance: the facts the trainers and the benchmarks record, read from one place."""

from __future__ import annotations

import pytest
import torch

from tune_bench import provenance

CPUINFO = """processor\t: 0
model name\t: Test CPU @ 3.00GHz
flags\t\t: fpu sse2 avx2 avx512fp16 avx512bw
processor\t: 1
model name\t: Second CPU
flags\t\t: fpu avx512f
"""


@pytest.fixture
def fake_proc(tmp_path, monkeypatch):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    (tmp_path / "meminfo").write_text("MemTotal:       16777216 kB\nMemFree: 1 kB\n")
    monkeypatch.setattr(provenance, "CPUINFO", str(tmp_path / "cpuinfo"))
    monkeypatch.setattr(provenance, "MEMINFO", str(tmp_path / "meminfo"))
    provenance.cpu_name.cache_clear()
    yield
    provenance.cpu_name.cache_clear()


def test_cpu_facts_come_from_the_first_processor(fake_proc):
    assert provenance.cpu_name() == "Test CPU @ 3.00GHz"
    assert provenance.cpu_flags() == {"fpu", "sse2", "avx2", "avx512fp16", "avx512bw"}
    assert provenance.ram_gib() == 16.0
    m = provenance.machine()
    assert m["cpu"] == "Test CPU @ 3.00GHz" and m["ram_gib"] == 16.0
    assert m["avx2"] is True and m["avx512f"] is False  # avx512fp16 is not avx512f


def test_machine_without_proc_files_still_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "CPUINFO", str(tmp_path / "missing"))
    monkeypatch.setattr(provenance, "MEMINFO", str(tmp_path / "missing"))
    provenance.cpu_name.cache_clear()
    try:
        m = provenance.machine()
    finally:
        provenance.cpu_name.cache_clear()
    assert m["cpu"] and m["avx2"] is False and m["ram_gib"] != m["ram_gib"]  # NaN
    assert set(m) == {"cpu", "cores", "ram_gib", "avx2", "avx512f", "gpu", "hostname", "os"}


def test_versions_leave_out_what_is_not_installed(monkeypatch):
    monkeypatch.setattr(provenance, "LIBRARIES",
                        [("torch", "torch"), ("no-such-dist-tune-bench", "ghost")])
    v = provenance.library_versions()
    assert set(v) == {"python", "torch"}
    assert torch.__version__.startswith(v["torch"])


def test_cpu_device_is_named_after_the_cpu(fake_proc):
    assert provenance.device_name(torch.device("cpu")) == "Test CPU @ 3.00GHz"
