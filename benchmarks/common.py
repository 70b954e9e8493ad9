"""Shared helpers of the benchmarks: result files, arguments, timing, data.

Every benchmark writes one JSON file `benchmarks/results/<name>.json`:
`{"benchmark", "date", "machine", "versions", "command", "quick", "params", "rows", "summary",
"notes", "load_before", "load_after", "wall_s"}`. `benchmarks.run` renders them into
BENCHMARKS.md. Figures are ratios against a baseline measured in the same process. The machine
and versions come from tune_bench.provenance, as in the trainers' results.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tune_bench.provenance import library_versions, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
SCRATCH = Path(os.environ.get("TUNE_BENCH_BENCH_SCRATCH", "/tmp/tune_bench_benchmarks"))
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data"


# --------------------------------------------------------------------------- machine


def load() -> list[float]:
    """1/5/15-minute load averages: the CPU is shared with other developers' runs."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# --------------------------------------------------------------------------- arguments


def parser(name: str, doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=doc)
    p.add_argument("--data-dir", default=None,
                   help="dataset root (default: $TUNE_BENCH_DATA_DIR, else ../shared/data)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of the code")
    p.add_argument("--out", default=None,
                   help="directory of the JSON results (default: benchmarks/results, or a "
                   "scratch directory with --quick)")
    return p


def data_dir(arg: str | None) -> str:
    """The dataset root, exported as TUNE_BENCH_DATA_DIR for subprocesses and Ray workers."""
    d = arg or os.environ.get("TUNE_BENCH_DATA_DIR") or str(DEFAULT_DATA_DIR)
    d = str(Path(d).resolve())
    os.environ["TUNE_BENCH_DATA_DIR"] = d
    return d


def command_line() -> str:
    """The command that produced a result, as it can be typed again from the repo root."""
    mod = Path(sys.argv[0]).stem
    if Path(sys.argv[0]).resolve().parent == ROOT / "benchmarks":
        return " ".join(["python -m", f"benchmarks.{mod}", *map(shlex.quote, sys.argv[1:])])
    return " ".join(map(shlex.quote, sys.argv))


# --------------------------------------------------------------------------- results


class Result:
    """Collects one benchmark's rows and summary and writes its JSON file."""

    def __init__(self, name: str, args: argparse.Namespace, params: dict[str, Any]) -> None:
        self.name, self.args, self.t0 = name, args, time.perf_counter()
        self.data: dict[str, Any] = {
            "benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": machine(), "versions": library_versions(), "command": command_line(),
            "quick": bool(args.quick), "params": params, "rows": [], "summary": {},
            "notes": [], "load_before": load(),
        }

    def row(self, **kw: Any) -> dict[str, Any]:
        self.data["rows"].append(kw)
        print(f"[{self.name}] " + "  ".join(f"{k}={_short(v)}" for k, v in kw.items()),
              flush=True)
        return kw

    def note(self, text: str) -> None:
        self.data["notes"].append(text)
        print(f"[{self.name}] note: {text}", flush=True)

    def summary(self, **kw: Any) -> None:
        self.data["summary"].update(kw)

    def save(self) -> Path:
        self.data["load_after"] = load()
        self.data["wall_s"] = round(time.perf_counter() - self.t0, 1)
        out = Path(self.args.out or (SCRATCH / "results_quick" if self.args.quick
                                     else RESULTS_DIR))
        out.mkdir(parents=True, exist_ok=True)
        suffix = "_quick" if self.args.quick else ""
        path = out / f"{self.name}{suffix}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        tmp.replace(path)
        print(f"[{self.name}] wrote {path} ({self.data['wall_s']} s)", flush=True)
        return path


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# --------------------------------------------------------------------------- timing


def median(xs: Iterable[float]) -> float:
    xs = list(xs)
    return statistics.median(xs) if xs else float("nan")


def rotated(items: list[Any], k: int) -> list[Any]:
    """`items` rotated by k: interleaved rounds run the compared paths in changing order."""
    k %= max(len(items), 1)
    return items[k:] + items[:k]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# --------------------------------------------------------------------------- data


def torchvision_root(data_root: str) -> Path:
    """A copy of the real IDX files, uncompressed, where torchvision's MNIST class finds them.

    torchvision (download=False) only accepts the uncompressed files in `<root>/<Name>/raw/`;
    the shared data holds .gz files and must not be modified, so they are decompressed once
    into a scratch directory outside the repository.
    """
    root = SCRATCH / "torchvision_data"
    for name in ("MNIST", "FashionMNIST"):
        src, dst = Path(data_root) / name / "raw", root / name / "raw"
        dst.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            target = dst / f.name.removesuffix(".gz")
            if target.exists():
                continue
            tmp = target.with_suffix(".tmp")
            if f.suffix == ".gz":
                with gzip.open(f, "rb") as fi, open(tmp, "wb") as fo:
                    shutil.copyfileobj(fi, fo)
            else:
                shutil.copyfile(f, tmp)
            tmp.replace(target)
    return root
