"""The cost of object storage per checkpoint: a sweep on the two-host cluster with S3 storage vs
the same sweep on one node with local storage, measured in the same run.

    python -m benchmarks.cluster_storage --data-dir ../shared/data [--rounds 1]

The two-host cluster is the tests' (tests/hosts.py: two network namespaces, a Ray node with
1 CPU on each, moto's S3 server on the head; needs root and iproute2); the one-node run is a
local Ray with 2 CPUs and `--storage-path` on the local disk. Both run the same sweep
(`SPACE`: ResNet-18 trials, 1 CPU each, a checkpoint every epoch) from a driver that records,
with a Tune callback, when each trial started, reported and finished. Per run:

- epoch time: Tune's `time_this_iter_s` of each epoch after a trial's first (training,
  validation, and the report with its checkpoint, which is persisted to the storage path
  before the report returns), and
  its part beyond the trainer's own `epoch_time_s` (the per-epoch overhead, checkpoint
  included);
- hand-over: from a trial's end (seen by the driver) to the next trial's first step, i.e. its
  first report less the trainer's `epoch_time_s` of that epoch.
The figures are ratios cluster/S3 to one node/local.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ray import tune

from benchmarks.common import ROOT, Result, data_dir, median, parser, ratio

SPACE = """\
name: storage_cost
description: benchmarks/cluster_storage.py - ResNet-18 trials checkpointing every epoch.
fixed: {device: cpu, split: seeds, dataset: mnist, trainer: resnet, model: resnet18,
        n_train: N_TRAIN, n_eval: 100, batch_size: 50, optimizer: sgd, epochs: EPOCHS}
axes:
  lr: LRS
resources:
  cpu: {cpu: 1}
"""


# --------------------------------------------------------------------------- the driver


class Timing(tune.Callback):
    """A Tune callback recording the driver's wall-clock time of trial events."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def _add(self, kind: str, trial: Any, result: dict | None = None) -> None:
        ev = {"t": time.time(), "kind": kind, "trial": trial.trial_id}
        if result is not None:
            ev.update({k: result.get(k) for k in (
                "epoch", "time_this_iter_s", "epoch_time_s", "node_ip")})
        self.events.append(ev)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._add("start", trial)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._add("result", trial, result)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._add("complete", trial)


def drive(args: argparse.Namespace) -> None:
    """Run the sweep in this process (on the head host, or locally) and write its events."""

    from tune_bench.space import load_space
    from tune_bench.sweep import SweepOptions, run_sweep
    from tune_bench.sweep import run as sweep_run

    timing = Timing()
    make = sweep_run.make_run_config
    sweep_run.make_run_config = lambda name, storage, opts, cbs: make(
        name, storage, opts, [*cbs, timing])
    text = space_text(args.trials, args.epochs, args.n_train)
    src = Path(tempfile.mkdtemp()) / "storage_cost.yaml"
    src.write_text(text)
    spec = load_space(src)
    opts = SweepOptions(storage_path=args.storage_path, address=args.address,
                        data_dir=args.data_dir, num_cpus=args.num_cpus, progress=False,
                        name=args.name)
    t0 = time.time()
    outcome = run_sweep(spec, opts)
    Path(args.events).write_text(json.dumps({
        "ok": outcome.ok, "wall_s": time.time() - t0, "n_trials": outcome.n_trials,
        "events": timing.events}))


def space_text(trials: int, epochs: int, n_train: int) -> str:
    lrs = [round(0.01 * (i + 1), 3) for i in range(trials)]
    return (SPACE.replace("N_TRAIN", str(n_train)).replace("EPOCHS", str(epochs))
            .replace("LRS", json.dumps(lrs)))


def driver_argv(args: argparse.Namespace, storage: str, events: Path, name: str,
                address: str | None = None, num_cpus: int | None = None) -> list[str]:
    argv = [sys.executable, "-m", "benchmarks.cluster_storage", "--drive",
            "--storage-path", storage, "--events", str(events), "--name", name,
            "--data-dir", args.data_dir, "--trials", str(args.trials),
            "--epochs", str(args.epochs), "--n-train", str(args.n_train)]
    argv += ["--address", address] if address else []
    argv += ["--num-cpus", str(num_cpus)] if num_cpus else []
    return argv


# --------------------------------------------------------------------------- figures


def figures(events: list[dict[str, Any]]) -> dict[str, float]:
    """Median epoch time, per-epoch overhead and hand-over time of one run's events."""
    results = [e for e in events if e["kind"] == "result" and e.get("time_this_iter_s")]
    later = [e for e in results if (e.get("epoch") or 0) > 1]  # the first has the start-up
    iters = [e["time_this_iter_s"] for e in later]
    over = [e["time_this_iter_s"] - e["epoch_time_s"] for e in later
            if e.get("epoch_time_s") is not None]
    ends = sorted(e["t"] for e in events if e["kind"] == "complete")
    first: dict[str, dict[str, Any]] = {}
    for e in results:
        first.setdefault(e["trial"], e)
    gaps = []
    for e in first.values():
        step = e["t"] - (e.get("epoch_time_s") or 0.0)
        before = [t for t in ends if t <= step]
        if before:  # trials of the first wave follow no other trial
            gaps.append(step - before[-1])
    return {"epoch_s": median(iters), "epoch_overhead_s": median(over),
            "handover_s": median(gaps), "epochs": len(iters), "handovers": len(gaps),
            "nodes": len({e.get("node_ip") for e in results})}


# --------------------------------------------------------------------------- the two runs


def run_local(args: argparse.Namespace, work: Path, k: int) -> dict[str, Any]:
    """The sweep on one local Ray node (2 CPUs), storage on the local disk."""
    events = work / f"local-{k}.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(driver_argv(args, str(work / "local_results"), events, f"local{k}",
                                      num_cpus=2), cwd=ROOT, env=env, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"local sweep failed (exit {done.returncode})")
    return json.loads(events.read_text())


def run_cluster(args: argparse.Namespace, k: int) -> dict[str, Any]:
    """The sweep on the two-host cluster (1 CPU per host), storage in the head's S3."""
    sys.path.insert(0, str(ROOT))
    from tests.hosts import TwoHosts

    root = Path(args.data_dir)
    with TwoHosts(worker_hidden=[root], base_env={**os.environ, "PYTHONPATH": str(ROOT)}
                  ) as cluster:
        bucket = cluster.new_bucket()
        events = cluster.head.home / "events.json"
        done = cluster.run_on_head(driver_argv(args, cluster.storage_uri(bucket, "bench"),
                                               events, f"cluster{k}", address=cluster.address),
                                   timeout=1800)
        if done.returncode != 0:
            raise SystemExit(f"cluster sweep failed (exit {done.returncode}):\n"
                             f"{done.stderr[-3000:]}")
        return json.loads(events.read_text())


def main(argv: list[str] | None = None) -> int:
    p = parser("cluster_storage", __doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=1, help="local + cluster runs, alternated")
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--n-train", type=int, default=300)
    p.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--storage-path", help=argparse.SUPPRESS)
    p.add_argument("--events", help=argparse.SUPPRESS)
    p.add_argument("--name", help=argparse.SUPPRESS)
    p.add_argument("--address", help=argparse.SUPPRESS)
    p.add_argument("--num-cpus", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.drive:
        drive(args)
        return 0
    if args.quick:
        args.trials, args.epochs, args.n_train = 3, 2, 40
    args.data_dir = data_dir(args.data_dir)
    res = Result("cluster_storage", args, {"trials": args.trials, "epochs": args.epochs,
                                           "n_train": args.n_train, "model": "resnet18",
                                           "cpus": 2})
    with tempfile.TemporaryDirectory(prefix="tb_storage_bench_") as tmp:
        for k in range(args.rounds):
            order = ["local", "cluster"] if k % 2 == 0 else ["cluster", "local"]
            for where in order:
                out = run_local(args, Path(tmp), k) if where == "local" else \
                    run_cluster(args, k)
                res.row(round=k, setup=where, ok=out["ok"], wall_s=round(out["wall_s"], 1),
                        **figures(out["events"]))
    rows = res.data["rows"]

    def med(setup: str, key: str) -> float:
        return median(r[key] for r in rows if r["setup"] == setup)

    res.summary(**{f"{key}_ratio": ratio(med("cluster", key), med("local", key))
                   for key in ("epoch_s", "epoch_overhead_s", "handover_s", "wall_s")},
                **{f"{where}_{key}": med(where, key) for where in ("local", "cluster")
                   for key in ("epoch_s", "epoch_overhead_s", "handover_s")})
    res.note("cluster: two hosts (network + mount namespaces on this machine), 1 CPU each, "
             "checkpoints to moto's S3 server on the head over a veth link; local: one Ray "
             "node with 2 CPUs, checkpoints on the local disk")
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
