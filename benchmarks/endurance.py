"""Endurance: the smoke sweep many times in a row on one Ray instance.

Driver memory (RSS) and object-store use after each run are compared with the first run's;
every run's results must be complete. Usage:

    python -m benchmarks.endurance --data-dir ../shared/data --runs 20 [--set n_train=200]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import yaml

from tune_bench.analysis import load_experiments
from tune_bench.space import load_space
from tune_bench.sweep import SweepOptions, run_sweep, start_ray

SMOKE = Path(__file__).resolve().parents[1] / "search_spaces" / "smoke.yaml"
RESULTS = Path(__file__).resolve().parent / "results"


def rss_mb() -> float:
    """Resident memory of this process (the driver), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def object_store_used_mb() -> float:
    """Object-store bytes in use across the cluster, MB."""
    import ray

    total = ray.cluster_resources().get("object_store_memory", 0.0)
    free = ray.available_resources().get("object_store_memory", 0.0)
    return (total - free) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--set", dest="sets", action="append", default=[],
                    help="override in every trial, key=value")
    ap.add_argument("--num-cpus", type=int, default=2)
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.sets)}
    spec = load_space(SMOKE, overrides or None)
    import ray

    start_ray(SweepOptions(num_cpus=args.num_cpus))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            t0 = time.perf_counter()
            out = run_sweep(spec, SweepOptions(storage_path=tmp, name=f"run{i:02d}",
                                               data_dir=args.data_dir, progress=False,
                                               drop_gpu_trials=True))
            df = load_experiments([out.path])
            complete = bool(out.ok and (df["state"] == "TERMINATED").all()
                            and df["test_acc"].notna().all())
            rows.append({"run": i, "wall_s": time.perf_counter() - t0, "trials": len(df),
                         "complete": complete, "driver_rss_mb": rss_mb(),
                         "object_store_mb": object_store_used_mb()})
            print(json.dumps(rows[-1]), flush=True)
    ray.shutdown()
    first = rows[0]
    summary = {
        "benchmark": "endurance", "date": time.strftime("%Y-%m-%d"), "machine": platform.node(),
        "runs": args.runs, "overrides": overrides, "all_complete": all(r["complete"] for r in rows),
        "rss_growth_vs_first": max(r["driver_rss_mb"] for r in rows) / first["driver_rss_mb"] - 1,
        "object_store_first_mb": first["object_store_mb"],
        "object_store_max_mb": max(r["object_store_mb"] for r in rows),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "endurance.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=1))


if __name__ == "__main__":
    main()
