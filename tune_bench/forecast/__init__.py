"""Know before you launch: a sweep's wall time forecast from a short calibration.

Each trainer declares how its trials are timed (`timing.py`; the built-in ones in
`resnet.py`, `svm.py`): `calibrate.py` times a few steps of each trial shape with the
trainer's own functions, the trainer's timing extrapolates them to each trial, `simulate.py`
places the trials as Tune would, `plan.py` puts it together and `compare.py` checks it against
what happened.
"""

from __future__ import annotations

import os
import time
from typing import Any

from tune_bench.forecast import calibrate as cal
from tune_bench.forecast.compare import ForecastEta, compare_lines, compare_rows
from tune_bench.forecast.plan import FORECAST_FILE, build, lines, plan_trials, wanted_shapes

__all__ = ["FORECAST_FILE", "ForecastEta", "compare_lines", "compare_rows", "forecast",
           "lines", "local_nodes", "runnable_points"]


def local_nodes(num_cpus: int | None = None) -> tuple[list[tuple[float, float]], int]:
    """This machine as a Ray node would see it: [(CPUs, GPUs)], and the GPUs here."""
    import os

    from tune_bench.sweep.options import local_gpus

    gpus = max(local_gpus(), 0)
    return [(float(num_cpus or os.cpu_count() or 1), float(gpus))], gpus


def runnable_points(spec: Any, drop_gpu: bool, gpus_here: int) -> list[dict[str, Any]]:
    """The points a local sweep would run: without the GPU ones when they would be dropped."""
    if not drop_gpu or gpus_here > 0:
        return list(spec.points)
    return [p for p in spec.points if spec.resources_for(p).get("gpu", 0) <= 0]


def split_sizes(splits: dict[str, Any]) -> dict[str, dict[str, int]]:
    """{data key: {"train": n, "val": n, "test": n}} of decoded splits."""
    return {k: {"train": len(s.train_y), "val": len(s.val_y), "test": len(s.test_y)}
            for k, s in splits.items()}


def forecast(spec: Any, points: list[dict[str, Any]], data_dir: str | None,
             nodes: list[tuple[float, float]], gpus_here: int,
             max_concurrent: int | None = None, calibration_file: str | None = None,
             calibrate: bool = True, say: bool = False,
             cluster: Any = None, storage: str | None = None) -> dict[str, Any] | None:
    """The forecast of running `points` of `spec` on `nodes`.

    Calibrations come from `calibration_file` (checked first: a bad one raises ConfigError),
    then the cache of the machine that runs the trials (this one, or a node of `cluster`, a
    joined `sweep.calibration.Cluster`); shapes in neither are timed now when `calibrate`
    (there, and cached), else the forecast is None (a sweep then runs without one).
    `storage`: the sweep's storage path; a remote one's write speed is probed
    (`upload_speed`).
    """
    from tune_bench.sweep.handover import decode_datasets

    given = cal.load_file(calibration_file) if calibration_file else None
    here = cluster.machine() if cluster is not None else cal.machine()
    cache = cal.load_cache(here)
    data = cal.empty(here)
    data["shapes"] = {**cache["shapes"], **(given["shapes"] if given else {})}
    data["overheads"] = {**cache.get("overheads", {}), **(given or {}).get("overheads", {})}
    if given:
        data["machine"] = {**given["machine"], "read_from": str(calibration_file)}
    splits = decode_datasets(points, data_dir, spec.plugin_paths)
    trials = plan_trials(spec, points, split_sizes(splits))
    wanted = wanted_shapes(trials, gpus_here)
    missing = [k for k in wanted if k not in data["shapes"]]
    if missing and not calibrate:
        return None
    t0 = time.perf_counter()
    measured = "actor_start_s" not in data["overheads"]  # measured here now, then cached
    # side by side as the sweep will run them, on the cores there are (--num-cpus may say more)
    cpus = min(nodes[0][0], float(os.cpu_count() or 1)) if nodes else 1.0
    timed = cal.calibrate_missing(data, wanted, data_dir, say, spec.plugin_paths, cluster,
                                  splits, cpus, max_concurrent)
    spent = time.perf_counter() - t0
    speed = _speed_now([k for k in wanted if k not in timed and k in cache["shapes"]
                        and k not in (given or {}).get("shapes", {})], data, cluster)
    if timed or measured:  # what was timed here, never a calibration file's figures
        cache["shapes"].update({k: data["shapes"][k] for k in timed})
        if measured:
            cache.setdefault("overheads", {})["actor_start_s"] = \
                data["overheads"]["actor_start_s"]
        cal.save_cache(cache)
    return build(spec, trials, data, nodes, max_concurrent, gpus_here, spent, len(timed),
                 speed, upload_speed(storage) if storage else None)


PROBE_MB = 16


def upload_speed(storage: str) -> dict[str, Any] | None:
    """{"uri", "s_per_mb", "probe_mb"} of a remote storage (a PROBE_MB file written there,
    timed and deleted, after the sweep's own pre-flight check, whose one-line error it
    raises: before anything starts); None for a local one (the calibration's checkpoint time
    covers it, and nothing is written); {"uri", "error"} when the probe file fails."""
    from tune_bench.storage import (
        PREFLIGHT_CONNECT_S,
        bounded,
        cause,
        check_writable,
        parse_storage,
    )

    st = parse_storage(storage, "--storage-path")
    if st.is_local:
        return None
    check_writable(st)  # bounded: an endpoint that never answers is a line, not a hang
    fs = bounded(st.fs, PREFLIGHT_CONNECT_S, 60.0, attempts=1)
    name = st.join(f".tune_bench_write_probe_{os.getpid()}")
    blob = os.urandom(PROBE_MB * 2**20)
    try:
        t0 = time.perf_counter()
        with fs.open_output_stream(name) as f:
            f.write(blob)
        spent = time.perf_counter() - t0
        fs.delete_file(name)
    except OSError as e:
        return {"uri": st.uri, "error": cause(e)}
    return {"uri": st.uri, "s_per_mb": spent / PROBE_MB, "probe_mb": PROBE_MB}


SPEED_BAND = (0.8, 1.25)  # probe ratios inside it are noise (+-10% under a load of 2-3)


def _speed_now(reused: list[str], data: dict[str, Any], cluster: Any) -> dict[str, float]:
    """{shape key: how many times slower the machine is now than when the cached shape was
    timed}, from `calibrate.probe_s` then and now; only the ratios outside SPEED_BAND (a
    cluster's nodes are not probed from here)."""
    then = {k: data["shapes"][k].get("probe_s") for k in reused}
    then = {k: v for k, v in then.items() if isinstance(v, int | float) and v > 0}
    if not then or cluster is not None:
        return {}
    now = cal.probe_now()
    if now is None:
        return {}
    ratios = {k: now / v for k, v in then.items()}
    return {k: r for k, r in ratios.items() if not SPEED_BAND[0] <= r <= SPEED_BAND[1]}


def calibration_for(spec: Any, points: list[dict[str, Any]], data_dir: str | None,
                    gpus_here: int, say: bool = False) -> dict[str, Any]:
    """Calibrate every shape of `points` that this machine can run (cache first): the data of
    a calibration file (`tune-bench calibrate SPACE --out FILE`)."""
    from tune_bench.sweep.handover import decode_datasets

    here = cal.machine()
    cache = cal.load_cache(here)
    splits = decode_datasets(points, data_dir, spec.plugin_paths)
    wanted = wanted_shapes(plan_trials(spec, points, split_sizes(splits)), gpus_here)
    timed = cal.calibrate_missing(cache, wanted, data_dir, say, spec.plugin_paths,
                                  cpus=float(os.cpu_count() or 1))
    if timed:
        cal.save_cache(cache)
    out = cal.empty(here)
    out["shapes"] = {k: cache["shapes"][k] for k in wanted}
    out["overheads"] = dict(cache.get("overheads", {}))
    return out
