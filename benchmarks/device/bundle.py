"""The files a GPU check carries to the device machine: wheels it lacks, the datasets.

    python -m benchmarks.device.bundle download [--dir .whl]   # pip download + repack ray
    python -m benchmarks.device.bundle check [--dir .whl]      # the carry budget, no network

The device machine (Python 3.12, manylinux x86-64, no network) has torch, pandas, pyarrow...
but not Ray, thop or pydantic (the list in `MISSING`). A call carries at most 64 MiB: the
working tree plus the carried folders. Ray's cp312 wheel is 79 MB; repacked without its Java
jar, its dashboard's web build and its tests, and recompressed with LZMA (a zip method pip's
installer reads), it fits beside MNIST. The datasets go to `.devdata/<Name>/raw/`. `check`
prints the plan: one call when everything fits, else two (the first carries the wheels and
MNIST and installs the wheels into `.site/`, ignored folders the warm machine keeps; the second
carries FashionMNIST).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

MIB = 2**20
CARRY_LIMIT = 64 * MIB
HEADROOM = 2 * MIB  # what a call may add besides: untracked files, git's own rounding
PYTHON = "3.12"
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]
# What the device machine's image lacks (KINDS.md, 2026-11-17), pinned to the versions the
# project is tested with here. typing-extensions is there, but pydantic-core 2.46 needs >= 4.14.1.
MISSING = {
    "ray": "2.60.0",
    "jsonschema": "4.26.0", "jsonschema-specifications": "2025.9.1", "referencing": "0.37.0",
    "rpds-py": "0.30.0", "tensorboardX": "2.6.5",
    "pydantic": "2.13.4", "pydantic-core": "2.46.4", "annotated-types": "0.7.0",
    "typing-inspection": "0.4.2", "typing-extensions": "4.15.0",
    "thop": "0.1.1.post2209072238",
}
# paths inside Ray's wheel a Tune sweep never reads: the Java workers' jar (34 MB, already
# compressed), the dashboard's web client (the sweeps start Ray with include_dashboard=False),
# test suites
RAY_PRUNE = ("ray/jars/", "ray/dashboard/client/build/", "/tests/")
DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


# --------------------------------------------------------------------------- download


def pip_download(dest: Path, name: str, version: str) -> Path:
    """The cp312 manylinux x86-64 wheel of `name==version` in `dest` (downloaded if absent)."""
    found = _wheel(dest, name)
    if found is not None:
        return found
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", PYTHON, "--implementation", "cp", "-d", str(dest)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    subprocess.run([*cmd, f"{name}=={version}"], check=True)
    found = _wheel(dest, name)
    if found is None:
        raise SystemExit(f"pip download {name}=={version}: no wheel in {dest}")
    return found


def _wheel(folder: Path, name: str) -> Path | None:
    stem = name.replace("-", "_").lower()
    hits = [f for f in folder.glob("*.whl") if f.name.lower().split("-")[0] == stem]
    return hits[0] if hits else None


def pruned(member: str, prune: tuple[str, ...] = RAY_PRUNE) -> bool:
    """Whether a wheel member is left out of the repacked wheel."""
    return any(member.startswith(p) if not p.startswith("/") else p in member for p in prune)


def repack(src: Path, dst: Path, prune: tuple[str, ...] = RAY_PRUNE) -> tuple[int, int]:
    """Copy wheel `src` to `dst` without the `pruned` members, every member LZMA-compressed;
    RECORD loses the lines of the dropped files. Returns (members kept, members dropped)."""
    kept = dropped = 0
    tmp = dst.with_suffix(".tmp")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_LZMA) as zout:
        for info in zin.infolist():
            if pruned(info.filename, prune):
                dropped += 1
                continue
            data = zin.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                lines = data.decode().splitlines(keepends=True)
                data = "".join(ln for ln in lines if not pruned(ln.split(",")[0], prune)).encode()
            info.compress_type = zipfile.ZIP_LZMA
            zout.writestr(info, data)
            kept += 1
    tmp.replace(dst)
    return kept, dropped


def download(whl: Path, cache: Path, data_dir: Path | None, datasets: list[str],
             devdata: Path) -> None:
    """Fill `whl` with the wheels (ray repacked) and `devdata` with the chosen datasets; the
    wheels as downloaded stay in `cache` (outside `whl`: they must not travel)."""
    raw = cache
    whl.mkdir(parents=True, exist_ok=True)
    raw.mkdir(parents=True, exist_ok=True)
    for name, version in MISSING.items():
        got = pip_download(raw, name, version)
        target = whl / got.name
        if name == "ray" and not target.exists():
            kept, dropped = repack(got, target)
            print(f"ray: {got.stat().st_size / MIB:.1f} MiB -> {target.stat().st_size / MIB:.1f}"
                  f" MiB ({kept} files kept, {dropped} dropped)")
        elif not target.exists():
            shutil.copyfile(got, target)
    copy_data(data_dir, devdata, datasets)


def copy_data(src_root: Path | None, dst_root: Path, datasets: list[str]) -> None:
    """Copy the IDX .gz files of `datasets` into `dst_root/<Name>/raw/`; others are removed."""
    for key, name in DATASETS.items():
        dst = dst_root / name / "raw"
        if key not in datasets:
            shutil.rmtree(dst_root / name, ignore_errors=True)
            continue
        if src_root is None:
            raise SystemExit("no data directory: pass --data-dir or set TUNE_BENCH_DATA_DIR")
        dst.mkdir(parents=True, exist_ok=True)
        for f in sorted((src_root / name / "raw").glob("*.gz")):
            if not (dst / f.name).exists() or (dst / f.name).stat().st_size != f.stat().st_size:
                shutil.copyfile(f, dst / f.name)


# --------------------------------------------------------------------------- budget


@dataclass(frozen=True)
class Budget:
    """Bytes a call would carry: the tree git sends, the wheels, each dataset's folder."""

    tree: int
    wheels: int
    data: dict[str, int]  # e.g. {"MNIST": ..., "FashionMNIST": ...}
    limit: int = CARRY_LIMIT
    whl: str = ".whl"
    devdata: str = ".devdata"

    def fits(self, *sizes: int) -> bool:
        return self.tree + sum(sizes) + HEADROOM <= self.limit

    def calls(self) -> list[list[str]] | None:
        """The `carry` list of each call: one call when all fits, else two (the first with the
        wheels and MNIST, which the warm machine keeps; the second with the other datasets);
        None when even that does not fit."""
        every = [self.whl, self.devdata] if self.data else [self.whl]
        if self.fits(self.wheels, *self.data.values()):
            return [every]
        first = {k: v for k, v in self.data.items() if k == "MNIST"}
        rest = {k: v for k, v in self.data.items() if k != "MNIST"}
        if self.fits(self.wheels, *first.values()) and self.fits(*rest.values()):
            return [[self.whl, *(f"{self.devdata}/{k}" for k in first)],
                    [f"{self.devdata}/{k}" for k in rest]]
        return None

    def plan(self) -> str:
        calls = self.calls()
        if calls is None:
            return "does not fit: carry fewer datasets (--datasets mnist)"
        if len(calls) == 1:
            return f"one call: carry {json.dumps(calls[0])}"
        return (f"two calls while the machine is warm: 1. carry {json.dumps(calls[0])}, "
                f"check.sh --steps 1,2,3,4 (installs the wheels into .site/); 2. carry "
                f"{json.dumps(calls[1])}, check.sh --steps 5 (the machine kept .site/ and "
                f"{self.devdata}/MNIST)")


def folder_bytes(folder: Path) -> int:
    """Sum of the file sizes under `folder` (0 if absent)."""
    if not folder.exists():
        return 0
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def tree_bytes(repo: Path) -> int:
    """Bytes of the files git would send: tracked plus untracked-not-ignored."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=repo, capture_output=True, check=True).stdout
    return sum((repo / p).stat().st_size for p in out.decode().split("\0")
               if p and (repo / p).is_file())


def budget(whl: Path, devdata: Path, repo: Path) -> Budget:
    """The carry budget of the wheels in `whl` and the datasets in `devdata`, from `repo`."""
    data = {n: folder_bytes(devdata / n) for n in DATASETS.values() if (devdata / n).is_dir()}
    return Budget(tree=tree_bytes(repo), wheels=sum(f.stat().st_size for f in whl.glob("*.whl")),
                  data=data, whl=_rel(whl, repo), devdata=_rel(devdata, repo))


def _rel(path: Path, repo: Path) -> str:
    try:
        return str(path.resolve().relative_to(repo.resolve()))
    except ValueError:
        return str(path)


def report(b: Budget) -> str:
    total = b.tree + b.wheels + sum(b.data.values())
    data = " + ".join(f"{k} {v / MIB:.1f} MiB" for k, v in b.data.items()) or "no data"
    return (f"tree {b.tree / MIB:.1f} MiB + wheels {b.wheels / MIB:.1f} MiB + {data} = "
            f"{total / MIB:.1f} MiB (limit {b.limit / MIB:.0f} MiB a call, "
            f"{HEADROOM / MIB:.0f} MiB headroom) -> {b.plan()}")


def check_wheels(whl: Path) -> list[str]:
    """Problems with the wheels in `whl`: a missing package, two versions of one, a corrupt zip."""
    problems = []
    for name in MISSING:
        stem = name.replace("-", "_").lower()
        hits = [f for f in whl.glob("*.whl") if f.name.lower().split("-")[0] == stem]
        if len(hits) != 1:
            problems.append(f"{name}: {len(hits)} wheels in {whl}")
    for f in whl.glob("*.whl"):
        with zipfile.ZipFile(f) as z:
            bad = z.testzip()
        if bad is not None:
            problems.append(f"{f.name}: corrupt member {bad}")
    return problems


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    import os

    p = argparse.ArgumentParser(prog="python -m benchmarks.device.bundle", description=__doc__)
    p.add_argument("action", choices=["download", "check"])
    p.add_argument("--dir", default=".whl", help="the carried folder (default .whl)")
    p.add_argument("--devdata", default=".devdata",
                   help="the carried datasets, <Name>/raw/*.gz (default .devdata)")
    p.add_argument("--cache", default=".whl-cache",
                   help="the wheels as downloaded (default .whl-cache; not carried)")
    p.add_argument("--repo", default=".", help="the repository root (default .)")
    p.add_argument("--data-dir", default=os.environ.get("TUNE_BENCH_DATA_DIR"))
    p.add_argument("--datasets", default="mnist",
                   help="comma list: mnist (default; Q1a's epochs cost the same on both), "
                   "fashion_mnist (for q2_hardware.yaml: then two calls)")
    p.add_argument("--no-wheel-check", action="store_true",
                   help="check the budget arithmetic only (tests on a fake folder)")
    args = p.parse_args(argv)
    whl = Path(args.dir)
    if args.action == "download":
        download(whl, Path(args.cache), Path(args.data_dir) if args.data_dir else None,
                 [d for d in args.datasets.split(",") if d], Path(args.devdata))
    problems = [] if args.no_wheel_check else check_wheels(whl)
    b = budget(whl, Path(args.devdata), Path(args.repo))
    print(report(b))
    for prob in problems:
        print(f"problem: {prob}")
    return 0 if b.calls() is not None and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
