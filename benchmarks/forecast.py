"""Forecast against actual: `tune-bench sweep SPACE --forecast` (fresh calibration cache),
then the sweep itself, on this machine; per kind of trial and in total.

Cases: `smoke` (search_spaces/smoke.yaml --drop-gpu-trials), `q1b` (the full q1b_svm.yaml, 42
SVM trials), `q2cpu` (q2_hardware.yaml's 24 CPU trials at --set n_train=192 n_eval=200
epochs=2, --drop-gpu-trials), `cluster` (smoke's 10 CPU trials at 1 CPU each on the two-host
test cluster of tests/hosts.py, 1 CPU per host, results in its S3 bucket; the worker host sees
no data directory: `--forecast --address` times the shapes as Ray tasks on the cluster). The
forecast's cost is the wall time of the `--forecast` command (calibration, data decoding and
the CLI's start included). Each case's forecast runs with an empty calibration cache of its
own, so nothing is reused between cases.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import (
    RESULTS_DIR,
    ROOT,
    SCRATCH,
    Result,
    data_dir,
    load,
    parser,
    timed,
)
from benchmarks.sweep_tools import unique_name

NAME = "forecast"
CASES = {
    "smoke": ["search_spaces/smoke.yaml", "--drop-gpu-trials"],
    "q1b": ["search_spaces/q1b_svm.yaml"],
    "q2cpu": ["search_spaces/q2_hardware.yaml", "--drop-gpu-trials", "--set", "n_train=192",
              "--set", "n_eval=200", "--set", "epochs=2"],
    "cluster": ["search_spaces/smoke.yaml", "--drop-gpu-trials", "--cpus-per-trial", "1"],
}


def run_case(case: str, root: str, store: Path, res: Result) -> None:
    import os

    if case == "cluster":
        run_cluster_case(case, root, res)
        return
    cache = SCRATCH / f"calibration_{case}_{int(time.time())}"
    env = {**os.environ, "TUNE_BENCH_CALIBRATION_DIR": str(cache), "PYTHONPATH": str(ROOT),
           "COLUMNS": "160"}
    base = [sys.executable, "-m", "tune_bench.cli", "sweep", *CASES[case], "--data-dir", root]
    load0 = load()
    fc_s, fc = timed(lambda: subprocess.run([*base, "--forecast"], cwd=ROOT, env=env,
                                            capture_output=True, text=True))
    (SCRATCH / f"forecast_{case}.log").write_text(fc.stdout + fc.stderr)
    print(fc.stdout, flush=True)
    name = unique_name(f"fc_{case}")
    load1 = load()
    sw_s, sw = timed(lambda: subprocess.run(
        [*base, "--storage-path", str(store), "--name", name, "--no-progress"], cwd=ROOT,
        env=env, capture_output=True, text=True))
    (SCRATCH / f"sweep_{case}.log").write_text(sw.stdout + sw.stderr)
    m = re.search(r"experiment: (\S+): .*\(([\d.]+) s\)", sw.stdout)
    exp = Path(m.group(1)) if m else store / name
    record(case, exp, res, fc_s, sw_s, [fc.returncode, sw.returncode], load0, load1)


def run_cluster_case(case: str, root: str, res: Result) -> None:
    """The case on the two-host test cluster (tests/hosts.py), driven from its head host."""
    from tests.hosts import TwoHosts

    with TwoHosts(worker_hidden=[root]) as hosts:
        bucket = hosts.new_bucket()
        env = {"TUNE_BENCH_CALIBRATION_DIR": str(hosts.head.home / "calibration"),
               "COLUMNS": "160"}
        space, *rest = CASES[case]  # the head runs in its own home: an absolute path
        base = [sys.executable, "-m", "tune_bench.cli", "sweep", str(ROOT / space), *rest,
                "--data-dir", root, "--address", hosts.address]
        load0 = load()
        fc_s, fc = timed(lambda: hosts.run_on_head([*base, "--forecast"], 1800, env))
        (SCRATCH / f"forecast_{case}.log").write_text(fc.stdout + fc.stderr)
        print(fc.stdout, fc.stderr[-2000:], flush=True)
        name = unique_name(f"fc_{case}")
        load1 = load()
        sw_s, sw = timed(lambda: hosts.run_on_head(
            [*base, "--storage-path", hosts.storage_uri(bucket, "sweeps"), "--name", name,
             "--no-progress"], 3600, env))
        (SCRATCH / f"sweep_{case}.log").write_text(sw.stdout + sw.stderr)
        exp = hosts.s3_download(bucket, f"sweeps/{name}", SCRATCH / "cluster_copies" / name)
    record(case, exp, res, fc_s, sw_s, [fc.returncode, sw.returncode], load0, load1)


def record(case: str, exp: Path, res: Result, fc_s: float, sw_s: float, codes: list[int],
           load0: list[float], load1: list[float]) -> None:
    """Forecast against actual of the experiment at `exp` (a local directory) in `res`."""
    from tune_bench import tune_dir
    from tune_bench.forecast import compare_rows

    forecast = json.loads((exp / "tune_bench_forecast.json").read_text())
    trials, _ = tune_dir.read_experiment(exp)
    wall = json.loads((exp / tune_dir.DRIVER_FILE).read_text()).get("wall_s")
    cmp = compare_rows(forecast, trials, wall)
    for k in cmp["kinds"]:
        res.row(case=case, kind=k["kind"], n=k["n"], forecast_s=round(k["forecast_s"], 1),
                actual_s=round(k["actual_s"], 1),
                error=round((k["forecast_s"] - k["actual_s"]) / k["actual_s"], 3)
                if k["actual_s"] else None)
    res.summary(**{case: {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "forecast_cmd_s": round(fc_s, 1),
        "forecast_wall_s": round(forecast["wall_s"], 1),
        "interval_s": [round(forecast["wall_low_s"], 1), round(forecast["wall_high_s"], 1)],
        "actual_fit_wall_s": wall, "sweep_cmd_s": round(sw_s, 1),
        "wall_error": round((forecast["wall_s"] - wall) / wall, 3) if wall else None,
        "median_abs_trial_error": cmp["median_abs_trial_error"],
        "forecast_cost_share": round(fc_s / sw_s, 3), "exit_codes": codes,
        "load_before_forecast": load0, "load_before_sweep": load1, "load_after": load(),
        "scaling": forecast["scaling"], "experiment": str(exp)}})


def _keep_other_cases(res: Result, cases: list[str], out: Path) -> None:
    """The rows and summaries of the cases not run now, from the last results (each case is
    run on its own when the machine's load allows)."""
    path = out / f"{NAME}.json"
    if res.args.quick or not path.is_file():
        return
    old = json.loads(path.read_text())
    res.data["rows"] = [r for r in old.get("rows", []) if r.get("case") not in cases]
    res.data["summary"] = {k: v for k, v in old.get("summary", {}).items() if k not in cases}
    res.data["params"]["cases"] = {**{k: v for k, v in old.get("params", {}).get(
        "cases", {}).items() if k not in cases}, **res.data["params"]["cases"]}


def markdown(data: dict) -> str:
    """The results as BENCHMARKS.md's tables: one line per case, then per kind."""
    out = ["| case | date | load before forecast / sweep | forecast cost | forecast wall "
           "(interval) | actual wall | error | median abs. per-trial error |",
           "|---|---|---|---|---|---|---|---|"]
    for case, s in data["summary"].items():
        lo, hi = s["interval_s"]
        out.append(f"| {case} | {s.get('date', '')} | {s['load_before_forecast'][0]} / "
                   f"{s['load_before_sweep'][0]} | {s['forecast_cmd_s']:.0f} s "
                   f"({100 * s['forecast_cost_share']:.0f}% of the sweep) | "
                   f"{s['forecast_wall_s']:.0f} s ({lo:.0f}-{hi:.0f}) | "
                   f"{s['actual_fit_wall_s']:.0f} s | {100 * s['wall_error']:+.0f}% | "
                   f"{100 * s['median_abs_trial_error']:.0f}% |")
    out += ["", "| case | kind | trials | forecast s | actual s | error |",
            "|---|---|---|---|---|---|"]
    for r in data["rows"]:
        err = f"{100 * r['error']:+.0f}%" if r["error"] is not None else "-"
        out.append(f"| {r['case']} | {r['kind']} | {r['n']} | {r['forecast_s']} | "
                   f"{r['actual_s']} | {err} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--cases", default="smoke,q2cpu,q1b", help="comma-separated: "
                   + ", ".join(CASES))
    p.add_argument("--storage-path", default=str(SCRATCH / "ray_results"))
    p.add_argument("--markdown", action="store_true",
                   help="print the last results as BENCHMARKS.md's tables; run nothing")
    args = p.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads((RESULTS_DIR / f"{NAME}.json").read_text())))
        return
    root = data_dir(args.data_dir)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    cases = args.cases.split(",")
    res = Result(NAME, args, {"cases": {c: CASES[c] for c in cases}})
    _keep_other_cases(res, cases, Path(args.out) if args.out else RESULTS_DIR)
    for case in cases:
        run_case(case, root, Path(args.storage_path), res)
        res.save()


if __name__ == "__main__":
    main()
