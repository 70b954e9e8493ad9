"""The steps of the GPU check (`benchmarks/device/check.sh` runs them, each under `timeout`).

    python -m benchmarks.device.check STEP --out DIR [--dry-run] [--data-dir D]
    python -m benchmarks.device.check finish STEP --out DIR --exit-code RC --wall-s S

Each step writes `DIR/<n>_<name>.json` and rewrites it after every row, so that a step cut
off by its timeout still leaves what it measured; `finish` (run by check.sh after the step,
however it ended) adds the exit code, whether it timed out and its wall time, and, for the
sweeps, reads the trials that finished from the experiment directory on disk.

1. `tests`: `pytest -m gpu tests/test_gpu.py`, one row per test (outcome, seconds, reason).
2. `throughput`: images/s of tune-bench's path (tensor loader, AMP, channels_last, fused Adam)
   vs the notebook loop on the same GPU, ResNet-18 batch 16 and 32, in interleaved rounds; then
   tune-bench's path with `compile: reduce-overhead` (the step replayed as CUDA graphs).
3. `packing`: 1, 2, 4, 8 ResNet-18 trials on one GPU through Ray (1/k GPU each).
4. `q1a_slice`: one epoch of each of Q1a's 16 shapes (model x batch x optimizer x pin_memory;
   dataset, lr and epochs collapsed: an epoch of FashionMNIST costs what one of MNIST does) on
   the full training split, as Q1a runs them (DataLoader, 0.25 GPU each); the full Q1a wall
   time extrapolated from it, labelled as an extrapolation.
5. `extra`: the GPU half of q2_hardware.yaml (FashionMNIST; else Q1a's MNIST half), bounded by
   the time left.

`--dry-run` runs the same steps on the CPU with tiny sizes: it tests the orchestration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, SCRATCH

STEPS = {1: "tests", 2: "throughput", 3: "packing", 4: "q1a_slice", 5: "extra"}
TITLES = {1: "GPU tests (pytest -m gpu)",
          2: "Throughput: tune-bench's path vs the notebook loop, with and without CUDA graphs",
          3: "Packing: concurrent ResNet-18 trials on one GPU",
          4: "Q1a slice: one epoch of each of its 16 shapes, full Q1a extrapolated",
          5: "q2_hardware.yaml GPU half (or Q1a's MNIST half), bounded by the time left"}
# the keys of every step file, in this order (a test checks it)
KEYS = ["step", "name", "title", "dry_run", "device", "started", "machine", "versions",
        "params", "rows", "summary", "complete", "exit_code", "timed_out", "wall_s"]
Q1A = ROOT / "search_spaces" / "q1a_resnet.yaml"
Q2 = ROOT / "search_spaces" / "q2_hardware.yaml"
Q1A_TARGET_S = 20 * 60
SHAPE = ("model", "batch_size", "optimizer", "pin_memory")


@dataclass(frozen=True)
class Sizes:
    """How much each step does: on the GPU, or in a dry run on the CPU."""

    device: str
    batches: tuple[int, ...] = (16, 32)
    steps: int = 40            # throughput: steps per timed chunk
    chunks: int = 3            # throughput: timed chunks per run
    rounds: int = 2            # throughput: interleaved rounds
    cudagraphs: bool = True    # throughput: the compile: reduce-overhead runs
    packs: tuple[int, ...] = (1, 2, 4, 8)
    pack_n_train: int = 8000
    n_eval: int | None = 1000
    slice_overrides: tuple[tuple[str, Any], ...] = ()
    extra_overrides: tuple[tuple[str, Any], ...] = ()


GPU = Sizes("gpu")
DRY = Sizes("cpu", steps=2, chunks=1, rounds=1, cudagraphs=False, packs=(1, 2), pack_n_train=64,
            n_eval=32,
            slice_overrides=(("n_train", 64), ("n_eval", 32), ("num_workers", 0),
                             ("device", "cpu")),
            extra_overrides=(("n_train", 64), ("n_eval", 32), ("epochs", 1),
                             ("model", "resnet18"), ("optimizer", "adam"), ("lr", 0.001)))


# --------------------------------------------------------------------------- the step file


class StepFile:
    """One step's JSON file, rewritten (atomically) after every row."""

    def __init__(self, out: Path, step: int, dry_run: bool, params: dict[str, Any]) -> None:
        from tune_bench.provenance import library_versions, machine

        self.path = step_path(out, step)
        self.data: dict[str, Any] = {
            "step": step, "name": STEPS[step], "title": TITLES[step], "dry_run": dry_run,
            "device": "cpu" if dry_run else "gpu", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": machine(), "versions": library_versions(), "params": params, "rows": [],
            "summary": {}, "complete": False, "exit_code": None, "timed_out": None,
            "wall_s": None}
        self.flush()

    @classmethod
    def load(cls, out: Path, step: int) -> StepFile | None:
        """The step's file as written so far, or None if the step wrote none."""
        data = read_json(step_path(out, step))
        if data is None:
            return None
        f = cls.__new__(cls)
        f.path, f.data = step_path(out, step), data
        return f

    def row(self, **kw: Any) -> None:
        self.data["rows"].append(kw)
        print(f"[check {self.data['name']}] " + "  ".join(f"{k}={v}" for k, v in kw.items()),
              flush=True)
        self.flush()

    def summary(self, **kw: Any) -> None:
        self.data["summary"].update(kw)
        self.flush()

    def done(self) -> None:
        self.data["complete"] = True
        self.flush()

    def flush(self) -> None:
        write_json(self.path, self.data)


def step_path(out: Path, step: int) -> Path:
    return out / f"{step}_{STEPS[step]}.json"


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 2) if xs else None


# --------------------------------------------------------------------------- 1. tests


def step_tests(f: StepFile, sizes: Sizes) -> None:
    """`pytest -m gpu tests/test_gpu.py`; the plugin `pytest_rows` adds a row per test."""
    env = {**os.environ, "TUNE_BENCH_CHECK_STEP_FILE": str(f.path)}
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "tests/test_gpu.py", "-q", "-rs",
           "-p", "no:cacheprovider", "-p", "benchmarks.device.pytest_rows"]
    f.data["params"]["command"] = " ".join(cmd[1:])
    f.flush()
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    f.data.update({k: v for k, v in (read_json(f.path) or {}).items() if k == "rows"})
    counts: dict[str, int] = {}
    for r in f.data["rows"]:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    f.summary(pytest_exit_code=rc, outcomes=counts)


# --------------------------------------------------------------------------- 2. throughput


def step_throughput(f: StepFile, sizes: Sizes, root: str) -> None:
    """Interleaved rounds of tune-bench's path and the notebook loop; then the CUDA graphs."""
    import torch

    from benchmarks import throughput as tp
    from benchmarks.common import rotated, torchvision_root
    from tune_bench.data import load_split

    split = load_split("mnist", "seeds", root)
    ds = tp.notebook_dataset(str(torchvision_root(root)))
    dev = torch.device("cuda" if sizes.device == "gpu" else "cpu")
    runs = []
    for bs in sizes.batches:
        for r in range(sizes.rounds):
            runs += [(p, bs, r) for p in rotated(["tensor", "notebook"], r)]
    # largest batch first: step 1's compile test (batch 32) left it in inductor's cache
    runs += [("tensor_cudagraphs", bs, 0) for bs in sorted(sizes.batches, reverse=True)]
    f.data["params"].update(model="resnet18", steps=f"{sizes.chunks} x {sizes.steps}",
                            rounds=sizes.rounds, planned_runs=len(runs))
    for path, bs, r in runs:
        if path == "tensor_cudagraphs" and not sizes.cudagraphs:
            f.row(model="resnet18", batch=bs, path=path, round=r, images_per_s=None,
                  skipped="dry run: torch.compile takes 20-80 s on this CPU")
            continue
        t0 = time.perf_counter()
        skips0 = cudagraph_skips()
        if path == "notebook":
            got = tp.notebook_ips("resnet18", bs, sizes.steps, sizes.chunks, ds, dev)
        else:
            got = tp.tunebench_ips("resnet18", bs, sizes.steps, sizes.chunks, "tensor", split,
                                   sizes.device,
                                   compile="reduce-overhead" if path != "tensor" else False)
        f.row(model="resnet18", batch=bs, path=path, round=r,
              images_per_s=round(got["ips"], 1), wall_s=round(time.perf_counter() - t0, 1),
              amp=got.get("amp"), warmup_images_per_s=_round(got.get("warmup_ips")),
              cudagraph_skips=cudagraph_skips() - skips0 if path != "notebook" else None)
        f.summary(**throughput_summary(f.data["rows"]))


def cudagraph_skips() -> int:
    """How often inductor fell back from CUDA graphs in this process (e.g. on mutated inputs):
    a `tensor_cudagraphs` row with skips ran without them."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:  # pragma: no cover - torch without dynamo
        return 0
    return int(counters["inductor"].get("cudagraph_skips", 0))


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def throughput_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median images/s per (batch, path) and its ratio to the notebook loop's."""
    med: dict[str, dict[str, float | None]] = {}
    for r in rows:
        if r.get("images_per_s") is None:
            continue
        med.setdefault(str(r["batch"]), {}).setdefault(r["path"], [])  # type: ignore[arg-type]
        med[str(r["batch"])][r["path"]].append(r["images_per_s"])  # type: ignore[union-attr]
    out: dict[str, Any] = {}
    for bs, paths in med.items():
        m = {p: median(v) for p, v in paths.items()}  # type: ignore[arg-type]
        nb = m.get("notebook")
        out[f"batch_{bs}"] = {p: {"images_per_s": v,
                                  "vs_notebook": round(v / nb, 2) if nb and v else None}
                              for p, v in m.items()}
    return {"by_batch": out}


# --------------------------------------------------------------------------- 3. packing


def step_packing(f: StepFile, sizes: Sizes, root: str) -> None:
    """k identical ResNet-18 trials in one sweep, 1/k GPU (and cores/k CPUs) each."""
    from benchmarks.gpu import packing_spec
    from benchmarks.sweep_tools import read_results
    from tune_bench import sweep as sw

    cores = os.cpu_count() or 1
    f.data["params"].update(packs=list(sizes.packs), n_train=sizes.pack_n_train,
                            n_eval=sizes.n_eval, model="resnet18", batch=16)
    f.flush()
    alone = None
    for k in sizes.packs:
        spec = packing_spec(k, sizes.pack_n_train, cores, device=sizes.device,
                            n_eval=sizes.n_eval)
        opts = sw.SweepOptions(storage_path=str(SCRATCH / "check"), name=f"pack{k}_{_stamp()}",
                               data_dir=root, progress=False)
        t0 = time.perf_counter()
        out = sw.run_sweep(spec, opts)
        call_s = time.perf_counter() - t0
        ips = [r["_last"].get("images_per_s", 0.0) for r in read_results(out.path).values()]
        agg = sum(ips)
        alone = agg if k == 1 else alone
        f.row(trials=k, finished=len(ips), gpu_per_trial=spec.resources[sizes.device].get("gpu"),
              cpu_per_trial=spec.resources[sizes.device].get("cpu"),
              sum_images_per_s=round(agg, 1),
              images_per_s_by_wall=round(len(ips) * sizes.pack_n_train / out.wall_s, 1)
              if out.wall_s else None,
              vs_one_trial=round(agg / alone, 2) if alone else None,
              fit_wall_s=round(out.wall_s, 1), call_wall_s=round(call_s, 1), ok=out.ok)
        stop_if_interrupted(out)


def run_recorded_sweep(f: Any, spec: Any, exp: Path, name: str, root: Any) -> None:
    """Run `spec` as the sweep `exp`, then record its wall time and trial rows in `f`."""
    from tune_bench import sweep as sw

    out = sw.run_sweep(spec, sw.SweepOptions(storage_path=str(exp.parent), name=name,
                                             data_dir=root, progress=False))
    f.data["params"]["fit_wall_s"] = round(out.wall_s, 1)
    fill_sweep_rows(f)
    stop_if_interrupted(out)


def stop_if_interrupted(out: Any) -> None:
    """End the step (not `complete`) when check.sh's timeout interrupted the sweep (SIGINT:
    Tune stops its trials and returns)."""
    if out.interrupted:
        print("[check] interrupted: the step ends here", flush=True)
        sys.exit(130)


def _stamp() -> str:
    return time.strftime("%H%M%S")


# --------------------------------------------------------------------------- 4. Q1a slice


def slice_spec(sizes: Sizes):
    """Q1a with dataset, lr and epochs collapsed to one value each: its 16 shapes, 1 epoch."""
    from tune_bench.space import load_space

    over = {"dataset": "mnist", "lr": 0.001, "epochs": 1, **dict(sizes.slice_overrides)}
    spec = load_space(Q1A, over)
    if sizes.device == "cpu":  # the dry run: two 1-CPU trials at a time on a 2-core machine
        spec = dataclasses.replace(spec, resources={**spec.resources, "cpu": {"cpu": 1}})
    return spec


def step_q1a_slice(f: StepFile, sizes: Sizes, root: str) -> None:
    spec = slice_spec(sizes)
    name = f"q1a_slice_{_stamp()}"
    exp = SCRATCH / "check" / name
    f.data["params"].update(experiment=str(exp), shapes=len(spec.points), shape_keys=list(SHAPE),
                            overrides={"dataset": "mnist", "lr": 0.001, "epochs": 1,
                                       **dict(sizes.slice_overrides)},
                            resources=spec.resources.get(sizes.device))
    f.flush()
    run_recorded_sweep(f, spec, exp, name, root)


def fill_sweep_rows(f: StepFile) -> None:
    """Rows from the trials that finished in the step's experiment directory; for the Q1a
    slice, the extrapolation. Also run by `finish`, after a timeout."""
    from benchmarks.sweep_tools import read_results
    from tune_bench.tune_dir import flatten_config

    exp = Path(f.data["params"].get("experiment", ""))
    if not exp.is_dir():
        return
    rows = []
    for label, r in sorted(read_results(exp).items()):
        last = r["_last"]
        cfg = flatten_config(last.get("config") or {})
        rows.append({"trial": label, **{k: cfg.get(k) for k in (*SHAPE, "dataset", "device")},
                     "epochs": last.get("epoch"), "epoch_time_s": _r(last.get("epoch_time_s")),
                     "images_per_s": _r(last.get("images_per_s")),
                     "trial_s": _r(last.get("time_total_s")), "test_acc": _r(last.get("test_acc")),
                     "peak_mem_mb": _r(last.get("peak_mem_mb")), "amp": last.get("amp"),
                     "device_name": last.get("device_name"), "final": bool(last.get("final")),
                     "end": last.get("timestamp")})
    f.data["rows"] = rows
    if f.data["name"] == "q1a_slice":
        f.data["summary"] = extrapolate_q1a(rows, f.data["params"].get("fit_wall_s"))
    f.flush()


def _r(v: Any) -> Any:
    return round(v, 3) if isinstance(v, float) else v


def extrapolate_q1a(rows: list[dict[str, Any]], fit_wall_s: float | None) -> dict[str, Any]:
    """Q1a's wall time, EXTRAPOLATED from one-epoch trials of its shapes.

    A Q1a trial of shape s and E epochs is taken to last `trial_s(s) + (E - 1) x epoch_s(s)`
    (the measured one-epoch trial: setup, one epoch, validation, test; plus E - 1 epochs, their
    validation passes not counted); the sum over Q1a's 128 trials, divided by the concurrency
    the slice reached (sum of its trial times / its wall time), is the estimate. Shapes not
    measured (a slice cut off by its timeout) count as the mean of those measured.
    """
    from tune_bench.space import load_space

    done = {tuple(r[k] for k in SHAPE): r for r in rows if r.get("final") and r.get("trial_s")}
    if not done:
        return {"extrapolation": True, "shapes_measured": 0}
    full = load_space(Q1A).points
    mean_trial = statistics.mean(r["trial_s"] for r in done.values())
    mean_epoch = statistics.mean(r["epoch_time_s"] or 0 for r in done.values())
    total = 0.0
    for p in full:
        r = done.get(tuple(p.get(k) for k in SHAPE))
        trial_s, epoch_s = (r["trial_s"], r["epoch_time_s"] or 0) if r else (mean_trial,
                                                                           mean_epoch)
        total += trial_s + (p["epochs"] - 1) * epoch_s
    ends = [r["end"] for r in done.values() if r.get("end")]
    starts = [r["end"] - r["trial_s"] for r in done.values() if r.get("end")]
    wall = fit_wall_s or (max(ends) - min(starts) if ends else None)
    conc = sum(r["trial_s"] for r in done.values()) / wall if wall else 1.0
    est = total / max(conc, 1e-9)
    return {"extrapolation": True, "shapes_measured": len(done), "q1a_trials": len(full),
            "q1a_epochs": sum(p["epochs"] for p in full),
            "slice_wall_s": round(wall, 1) if wall else None,
            "slice_concurrency": round(conc, 2), "q1a_sum_trial_s_est": round(total, 1),
            "q1a_wall_s_est": round(est, 1), "q1a_wall_min_est": round(est / 60, 1),
            "target_s": Q1A_TARGET_S, "target_met_est": est <= Q1A_TARGET_S}


# --------------------------------------------------------------------------- 5. extra


def extra_spec(sizes: Sizes, root: str):
    """Step 5's sweep: q2_hardware.yaml's GPU trials where FashionMNIST was carried, else the
    MNIST half of Q1a itself (64 trials). Returns (spec, what it is)."""
    from tune_bench.space import load_space

    over = dict(sizes.extra_overrides)
    if Path(root, "FashionMNIST", "raw").is_dir():
        spec, what, keep = load_space(Q2, over), "q2_hardware.yaml, GPU half", ("device", "gpu")
    else:
        over.pop("device", None)
        spec, what = load_space(Q1A, over), "q1a_resnet.yaml, MNIST half (no FashionMNIST carried)"
        keep = ("dataset", "mnist")
    points = [p for p in spec.points if p[keep[0]] == keep[1]]
    if sizes.device == "cpu":  # the dry run
        points = [{**p, "device": "cpu", **({"num_workers": 0} if "num_workers" in p else {})}
                  for p in points]
        spec = dataclasses.replace(spec, resources={**spec.resources, "cpu": {"cpu": 1}})
    return dataclasses.replace(spec, points=points), what


def step_extra(f: StepFile, sizes: Sizes, root: str) -> None:
    """q2_hardware.yaml's GPU trials (or Q1a's MNIST half) until check.sh's timeout stops them:
    the trials that finished are the rows."""

    spec, what = extra_spec(sizes, root)
    name = f"extra_{_stamp()}"
    exp = SCRATCH / "check" / name
    f.data["params"].update(sweep=what, experiment=str(exp), trials=len(spec.points),
                            overrides=dict(sizes.extra_overrides))
    f.flush()
    run_recorded_sweep(f, spec, exp, name, root)


# --------------------------------------------------------------------------- finish


def finish(out: Path, step: int, rc: int, wall_s: float, dry_run: bool,
           skipped: str | None = None) -> None:
    """Record how a step ended; a step killed before it wrote its file (or skipped) gets one."""
    f = StepFile.load(out, step)
    if f is None:
        f = StepFile(out, step, dry_run, {})
    if skipped:
        f.data["summary"]["skipped"] = skipped
    elif step in (4, 5) and not f.data.get("complete"):
        fill_sweep_rows(f)  # the trials that finished before the timeout
    f.data.update(exit_code=rc, timed_out=rc in (124, 137),
                  wall_s=round(wall_s, 1))
    f.data = {k: f.data.get(k) for k in KEYS}
    f.flush()


# --------------------------------------------------------------------------- main


def dry_sizes() -> Sizes:
    """DRY, with the slice's images per trial from $TUNE_BENCH_CHECK_DRY_N_TRAIN if set (a
    test makes the slice outlast its timeout with it)."""
    n = os.environ.get("TUNE_BENCH_CHECK_DRY_N_TRAIN")
    if not n:
        return DRY
    return dataclasses.replace(DRY, slice_overrides=tuple(
        (k, int(n) if k == "n_train" else v) for k, v in DRY.slice_overrides))


def run_step(step: int, out: Path, dry_run: bool, root: str) -> None:
    sizes = dry_sizes() if dry_run else GPU
    f = StepFile(out, step, dry_run, {"data_dir": root})
    if step == 1:
        step_tests(f, sizes)
    elif step == 2:
        step_throughput(f, sizes, root)
    elif step == 3:
        step_packing(f, sizes, root)
    elif step == 4:
        step_q1a_slice(f, sizes, root)
    else:
        step_extra(f, sizes, root)
    f.done()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.device.check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", help="a step number 1-5, or 'finish'")
    p.add_argument("step", nargs="?", type=int, help="with finish: the step")
    p.add_argument("--out", required=True)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("--wall-s", type=float, default=0.0)
    p.add_argument("--skipped", default=None, help="with finish: why the step did not run")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.what == "finish":
        finish(out, args.step, args.exit_code, args.wall_s, args.dry_run, args.skipped)
        return 0
    from benchmarks.common import data_dir

    run_step(int(args.what), out, args.dry_run, data_dir(args.data_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
