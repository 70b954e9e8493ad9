"""The GPU check's tooling, without a GPU and without downloads: the carry budget of
`prepare.sh --check`, the repacked (LZMA) wheel installing with pip, the extrapolation of Q1a,
how a cut-off step is recorded, and `check.sh --dry-run` end to end with its rendering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from benchmarks.device import bundle
from benchmarks.device.check import (
    DRY,
    GPU,
    KEYS,
    STEPS,
    extra_spec,
    extrapolate_q1a,
    finish,
    step_path,
)

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20


def _sized(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def _git_repo(path: Path, size: int) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    _sized(path / "code.py", size)
    return path


def _prepare_check(whl: Path, repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "benchmarks/device/prepare.sh"), "--check", "--dir",
                           str(whl), "--devdata", str(repo / ".devdata"), "--repo", str(repo),
                           "--no-wheel-check"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize(("wheels", "fashion", "rc", "plan"), [
    (35, 0, 0, 'one call: carry [".whl", ".devdata"]'),
    (35, 29, 0, 'two calls while the machine is warm: 1. carry [".whl", ".devdata/MNIST"], '
                'check.sh --steps 1,2,3,4'),
    (35, 62, 1, "does not fit"), (60, 0, 1, "does not fit")])
def test_prepare_check_plans_the_carry_budget(tmp_path, wheels, fashion, rc, plan):
    repo = _git_repo(tmp_path / "repo", MIB)
    whl, devdata = repo / ".whl", repo / ".devdata"
    _sized(whl / "ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl", wheels * MIB)
    _sized(whl / "notes.txt", 30 * MIB)  # not a wheel: not carried by the recipe, not counted
    _sized(devdata / "MNIST" / "raw" / "train-images-idx3-ubyte.gz", 11 * MIB)
    if fashion:
        _sized(devdata / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz", fashion * MIB)
    (repo / ".gitignore").write_text("/.whl/\n/.devdata/\n")
    got = _prepare_check(whl, repo)
    assert got.returncode == rc, got.stdout + got.stderr
    assert f"tree 1.0 MiB + wheels {wheels:.1f} MiB + MNIST 11.0 MiB" in got.stdout
    assert plan in got.stdout


def test_budget_counts_untracked_files_but_not_ignored_ones(tmp_path):
    repo = _git_repo(tmp_path / "repo", 1000)
    (repo / ".gitignore").write_text("/big\n")
    _sized(repo / "big", 5 * MIB)
    _sized(repo / "new.py", 500)
    assert bundle.tree_bytes(repo) == 1000 + 500 + len("/big\n")


def _wheel(path: Path, files: dict[str, str]) -> Path:
    record = "".join(f"{n},," + "\n" for n in files) + "demo-1.0.dist-info/RECORD,,\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
        z.writestr("demo-1.0.dist-info/RECORD", record)
    return path


def test_repacked_lzma_wheel_installs_with_pip_without_the_pruned_files(tmp_path):
    src = _wheel(tmp_path / "src" / "demo-1.0-py3-none-any.whl", {
        "demo/__init__.py": "VALUE = 42\n", "demo/tests/test_demo.py": "x = 1\n",
        "demo/jars/big.jar": "j" * 1000,
        "demo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
        "demo-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                    "Tag: py3-none-any\n"})
    dst = tmp_path / "demo-1.0-py3-none-any.whl"
    kept, dropped = bundle.repack(src, dst, prune=("demo/jars/", "/tests/"))
    assert (kept, dropped) == (4, 2)
    with zipfile.ZipFile(dst) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_LZMA}
        record = z.read("demo-1.0.dist-info/RECORD").decode()
    assert "tests" not in record and "jars" not in record and "demo/__init__.py" in record
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    "--target", str(site), str(dst)], check=True, timeout=120)
    assert (site / "demo" / "__init__.py").read_text() == "VALUE = 42\n"
    assert not (site / "demo" / "tests").exists() and not (site / "demo" / "jars").exists()


def test_check_wheels_names_missing_duplicate_and_corrupt_wheels(tmp_path):
    for name, version in bundle.MISSING.items():
        _wheel(tmp_path / f"{name.replace('-', '_')}-{version}-py3-none-any.whl", {"a": "b"})
    assert bundle.check_wheels(tmp_path) == []
    _wheel(tmp_path / "thop-0.2-py3-none-any.whl", {"a": "b"})
    (tmp_path / "ray-2.60.0-py3-none-any.whl").unlink()
    bad = tmp_path / "pydantic-2.13.4-py3-none-any.whl"
    bad.write_bytes(bad.read_bytes().replace(b"RECORD,,", b"RECORD;;", 1))  # a CRC mismatch
    problems = bundle.check_wheels(tmp_path)
    assert any(p.startswith("thop: 2 wheels") for p in problems), problems
    assert any(p.startswith("ray: 0 wheels") for p in problems), problems
    assert any(p.startswith(f"{bad.name}: corrupt member") for p in problems), problems
    assert len(problems) == 3


def test_q1a_extrapolation_from_one_epoch_trials():
    rows = [{"model": m, "batch_size": b, "optimizer": o, "pin_memory": p, "trial_s": 10.0,
             "epoch_time_s": 5.0, "final": True, "end": 100}
            for m in ("resnet18", "resnet50") for b in (16, 32) for o in ("sgd", "adam")
            for p in (True, False)]
    s = extrapolate_q1a(rows, fit_wall_s=40.0)  # 16 trials of 10 s in 40 s: concurrency 4
    # 128 trials: 64 of 2 epochs (10 + 5 s), 64 of 5 epochs (10 + 4 x 5 s)
    assert s["extrapolation"] is True and s["shapes_measured"] == 16
    assert s["q1a_sum_trial_s_est"] == 64 * 15 + 64 * 30
    assert s["slice_concurrency"] == 4.0 and s["q1a_wall_s_est"] == (64 * 15 + 64 * 30) / 4
    half = extrapolate_q1a(rows[:8], fit_wall_s=20.0)  # shapes not measured count as the mean
    assert half["shapes_measured"] == 8 and half["q1a_sum_trial_s_est"] == s["q1a_sum_trial_s_est"]


def test_step_5_runs_q2s_gpu_half_or_else_q1as_mnist_half(tmp_path):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    spec, what = extra_spec(GPU, str(tmp_path))
    assert what.startswith("q1a_resnet.yaml") and len(spec.points) == 64
    assert {p["dataset"] for p in spec.points} == {"mnist"}
    (tmp_path / "FashionMNIST" / "raw").mkdir(parents=True)
    spec, what = extra_spec(GPU, str(tmp_path))
    assert what.startswith("q2_hardware.yaml") and len(spec.points) == 24
    assert {p["device"] for p in spec.points} == {"gpu"}
    spec, _ = extra_spec(DRY, str(tmp_path))  # the dry run: the same trials on the CPU, tiny
    assert {p["device"] for p in spec.points} == {"cpu"} and len(spec.points) == 2


def test_a_step_killed_before_writing_is_recorded_as_timed_out(tmp_path):
    finish(tmp_path, 3, 124, 90.0, dry_run=True)
    d = json.loads(step_path(tmp_path, 3).read_text())
    assert list(d) == KEYS
    assert d["timed_out"] is True and d["exit_code"] == 124 and d["complete"] is False
    finish(tmp_path, 5, 0, 0.0, dry_run=True, skipped="no time left")
    assert json.loads(step_path(tmp_path, 5).read_text())["summary"]["skipped"] == "no time left"


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_check_dry_run_writes_every_step_in_order_and_renders(tiny_root, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "TUNE_BENCH_DATA_DIR": str(tiny_root),
           "TUNE_BENCH_BENCH_SCRATCH": str(tmp_path / "scratch"), "PYTHONPATH": str(ROOT)}
    got = subprocess.run([str(ROOT / "benchmarks/device/check.sh"), "--dry-run"], env=env,
                         capture_output=True, text=True, timeout=400)
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == [*(f"{n}_{name}.json" for n, name in STEPS.items()), "check.log"]
    steps = [json.loads(step_path(out, n).read_text()) for n in STEPS]
    for n, d in zip(STEPS, steps, strict=True):
        assert list(d) == KEYS, d["name"]
        assert d["step"] == n and d["dry_run"] is True and d["device"] == "cpu"
        assert d["complete"] is True and d["exit_code"] == 0 and d["timed_out"] is False, d
        assert d["rows"], d["name"]
    tests, tp, pack, q1a, extra = steps
    assert {r["outcome"] for r in tests["rows"]} == {"skipped"} and len(tests["rows"]) == 7
    assert [(r["batch"], r["path"]) for r in tp["rows"]][-2:] == [
        (32, "tensor_cudagraphs"), (16, "tensor_cudagraphs")]
    assert tp["summary"]["by_batch"]["batch_16"]["notebook"]["vs_notebook"] == 1.0
    assert [r["trials"] for r in pack["rows"]] == [1, 2] and all(r["ok"] for r in pack["rows"])
    assert len(q1a["rows"]) == 16 and q1a["summary"]["shapes_measured"] == 16
    assert q1a["summary"]["extrapolation"] is True
    assert {r["device"] for r in extra["rows"]} == {"cpu"} and len(extra["rows"]) == 2

    from benchmarks import render

    md = render.device_section(render.load_device(out))
    assert "Dry run on the CPU" in md and "EXTRAPOLATION" in md
    for n in STEPS:
        assert f"#### 9.{n}." in md
    target = tmp_path / "BENCHMARKS.md"
    render.write(target, tmp_path / "no_results", out)
    text = target.read_text()
    assert render.BEGIN in text and "### 9. GPU check" in text and render.END in text


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_step_cut_off_by_its_timeout_keeps_the_trials_it_finished(tiny_root, tmp_path):
    out = tmp_path / "out"
    # 420 images per trial: 16 trials (8 of ResNet-50) take minutes on this CPU, not 40 s
    env = {**os.environ, "OUT": str(out), "TUNE_BENCH_DATA_DIR": str(tiny_root),
           "TUNE_BENCH_BENCH_SCRATCH": str(tmp_path / "scratch"), "PYTHONPATH": str(ROOT),
           "TUNE_BENCH_CHECK_DRY_N_TRAIN": "420"}
    got = subprocess.run([str(ROOT / "benchmarks/device/check.sh"), "--dry-run", "--steps", "4",
                          "--budget", "50"], env=env, capture_output=True, text=True, timeout=150)
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
    d = json.loads(step_path(out, 4).read_text())
    assert list(d) == KEYS
    cut = {k: d[k] for k in ("timed_out", "exit_code", "complete", "wall_s")}
    assert cut == {"timed_out": True, "exit_code": 124, "complete": False,
                   "wall_s": cut["wall_s"]}, got.stdout[-3000:]
    assert len(d["rows"]) < 16
    assert d["summary"].get("shapes_measured", 0) == sum(r["final"] for r in d["rows"])
    assert not step_path(out, 1).exists()  # --steps 4 ran step 4 only
