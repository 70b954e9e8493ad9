"""Run and resume a sweep: options, pre-flight checks, Ray session, Tuner, restore, outcome.

The datasets a sweep needs are decoded once by the driver and handed to every trial through
the object store (`handover`). What a sweep left behind is read back with `tune_dir`, the same
reader `status` and `analyze` use.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from pyarrow.fs import FileType
from ray import tune

from tune_bench import tune_dir
from tune_bench.errors import ConfigError, ExperimentError, ResourceError
from tune_bench.forecast.compare import ForecastEta
from tune_bench.forecast.plan import FORECAST_FILE
from tune_bench.forecast.plan import lines as forecast_lines
from tune_bench.space import SweepSpec, parse_space
from tune_bench.storage import (  # noqa: F401  (MIN_FREE_BYTES re-exported)
    MIN_FREE_BYTES,
    Storage,
    check_writable,
    parse_storage,
    probe_dir,
    readable,
)
from tune_bench.sweep import ray_internals
from tune_bench.sweep.callbacks import PruneFinishedCheckpoints, RichProgress
from tune_bench.sweep.handover import data_key, data_names, decode_datasets, put_datasets
from tune_bench.sweep.options import (
    PROGRESS_ENV,
    SweepOptions,
    local_gpus,
    phase,
    saved_overrides,
)
from tune_bench.sweep.ray_log import LOG_FILE, RayLog, local_log_dir
from tune_bench.sweep.trainable import run_trial, tolerate_missing_checkpoint
from tune_bench.tune_dir import DRIVER_FILE, SPEC_FILE, flatten_config, read_saved_spec, trial_label

# --------------------------------------------------------------------------- pre-flight


def check_storage(storage: Storage | str | Path) -> Storage:
    """Fail before any trial starts when the storage path is malformed (exit 2), unreachable,
    unwritable or, when local, nearly full (exit 4). Returns it parsed."""
    if not isinstance(storage, Storage):
        storage = parse_storage(storage, "--storage-path")
    check_writable(storage)
    return storage


def check_shared(storage: Storage, nodes: list[dict[str, float]], shared: bool) -> None:
    """A local storage path on a cluster of several nodes: each node would write its trials'
    checkpoints to its own disk (Tune fails at the first checkpoint); refused unless the user
    says the path is a shared mount."""
    if storage.is_local and len(nodes) > 1 and not shared:
        raise ResourceError(
            f"storage path {storage.uri} is local but the Ray cluster has {len(nodes)} nodes: "
            "use a URI every node reaches (--storage-path s3://bucket/prefix) or, if the path "
            "is a shared mount at the same place on every node, pass --shared-storage")


def plan_resources(spec: SweepSpec, cluster: dict[str, float], nodes: list[dict[str, float]],
                   drop_gpu: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Check every trial's request against the cluster; returns (points kept, notes).

    Tune would leave a trial that no node can host PENDING forever, so such a request is an
    error here, before anything starts: GPU trials on a cluster without GPUs (or dropped, with a
    note, when `drop_gpu` is set) and requests larger than the biggest node.
    """
    kept, notes = [], []
    dropped = gpu_points(spec) if cluster.get("GPU", 0) <= 0 else []
    if dropped and not drop_gpu:
        raise no_gpu_error(dropped, "the Ray cluster has none")
    if dropped:
        notes.append(f"dropped {len(dropped)} GPU trial(s): the Ray cluster has no GPU")
    for p in spec.points:
        if p in dropped:
            continue
        req = spec.resources_for(p)
        if not any(_fits(req, n) for n in nodes):
            biggest = max(nodes, key=lambda n: n.get("CPU", 0)) if nodes else {}
            raise ResourceError(
                f"trial {trial_label(p)} asks for {req} but no node has that much "
                f"(largest node: CPU={biggest.get('CPU', 0):g}, GPU={biggest.get('GPU', 0):g})")
        kept.append(p)
    if not kept:
        raise ResourceError("no trial left to run after dropping GPU trials")
    return kept, notes


def gpu_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The trial points that ask for a GPU."""
    return [p for p in spec.points if spec.resources_for(p).get("gpu", 0) > 0]


def no_gpu_error(dropped: list[dict[str, Any]], where: str) -> ResourceError:
    return ResourceError(
        f"{len(dropped)} trial(s) ask for a GPU but {where} "
        f"(first: {trial_label(dropped[0])}); use a cluster with GPUs or --drop-gpu-trials")


def check_local_gpus(spec: SweepSpec, opts: SweepOptions) -> None:
    """A local sweep asking for GPUs on a machine without any: the error of `plan_resources`,
    before the storage path is touched, the datasets decoded or Ray started."""
    if opts.address or opts.drop_gpu_trials or ray.is_initialized():
        return  # a cluster's (or an already running Ray's) GPUs are known once joined
    dropped = gpu_points(spec)
    if dropped and local_gpus() == 0:
        raise no_gpu_error(dropped, "this machine has none")


def _fits(req: dict[str, float], node: dict[str, float]) -> bool:
    return req.get("cpu", 0) <= node.get("CPU", 0) and req.get("gpu", 0) <= node.get("GPU", 0)


# --------------------------------------------------------------------------- Ray session


def start_ray(opts: SweepOptions) -> bool:
    """Start Ray locally (loopback only, no dashboard) or join `opts.address`.

    Returns True when this call started Ray (and so must shut it down).
    """
    # Trials' own output stays in Ray's logs; errors reach the user through Tune's error.txt.
    # (Tune reads it when the Tuner runs: also for a Ray the caller started.)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if ray.is_initialized():
        return False
    phase(f"joining the Ray cluster at {opts.address}" if opts.address else
          "starting Ray" + (f" ({opts.num_cpus} CPUs)" if opts.num_cpus else ""), opts.progress)
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                              "log_to_driver": False}
    if opts.address:
        try:
            ray.init(address=opts.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ResourceError(f"--address {opts.address}: cannot join the Ray cluster "
                                f"({str(e).splitlines()[0]})") from None
        return True
    ray_internals.loopback_only()
    ray_internals.quiet_token_warning()
    # address="local": always a new local instance. Without it ray.init() joins whatever cluster
    # /tmp/ray/ray_current_cluster names (another user's `ray start` or test cluster), and the
    # sweep then runs on, and dies with, someone else's cluster.
    ray.init(address="local", num_cpus=opts.num_cpus, _node_ip_address="127.0.0.1",
             dashboard_host="127.0.0.1", **kwargs)
    return True


def cluster_view() -> tuple[dict[str, float], list[dict[str, float]]]:
    """Total resources and each alive node's resources."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return dict(ray.cluster_resources()), nodes


def _shutdown() -> None:
    ray.shutdown()


# --------------------------------------------------------------------------- building the Tuner


def build_trainable(spec: SweepSpec, datasets: dict[str, Any], fn: Any = None):
    """`fn` (default run_trial) with its datasets attached and its resources requested by
    device (`spec.resources_for`); the trial reads what it was granted from Tune's context."""
    from ray.tune.trainable import wrap_function

    extra = {"plugin_paths": tuple(spec.plugin_paths)} if spec.plugin_paths else {}
    trainable = tune.with_resources(
        tune.with_parameters(fn or run_trial, datasets=datasets, **extra),
        lambda config: spec.resources_for(flatten_config(config)))
    # the class Tune would make of the function itself, restoring a missing checkpoint as a
    # fresh start
    return tolerate_missing_checkpoint(wrap_function(trainable))


def param_space(spec: SweepSpec, points: list[dict[str, Any]]) -> dict[str, Any]:
    """Tune's param_space: the grid points under `variant`, random axes at the top level."""
    space: dict[str, Any] = {}
    for key, ax in spec.random_axes.items():
        fn = {"choice": tune.choice, "uniform": tune.uniform, "loguniform": tune.loguniform,
              "randint": tune.randint}[ax.kind]
        space[key] = fn(list(ax.args)) if ax.kind == "choice" else fn(*ax.args)
    if spec.search.get("type", "basic") == "optuna":
        fixed = {k: v for k, v in points[0].items() if k not in space}
        return {**fixed, **space}
    space[tune_dir.GRID_WRAPPER] = tune.grid_search(points) if len(points) > 1 else points[0]
    return space


def _scheduler(spec: SweepSpec):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    s = spec.scheduler
    if s["type"] == "fifo":
        return FIFOScheduler()
    # test_acc comes with the last epoch only: ASHA compares trials on the per-epoch val_acc
    metric = "val_acc" if spec.metric == "test_acc" else spec.metric
    return ASHAScheduler(time_attr="training_iteration", metric=metric, mode=spec.mode,
                         max_t=s["max_t"], grace_period=s["grace_period"],
                         reduction_factor=s["reduction_factor"])


def _searcher(spec: SweepSpec):
    if spec.search.get("type", "basic") != "optuna":
        return None
    try:
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise ConfigError(f"{spec.source}: search.type: optuna needs the optuna package "
                          "(pip install 'tune-bench[optuna]')") from None
    return OptunaSearch(metric=spec.metric, mode=spec.mode)


def make_run_config(name: str, storage: Storage, opts: SweepOptions, callbacks: list) -> Any:
    # the URI as given (or the absolute local path): Tune resolves its filesystem itself
    return tune.RunConfig(
        name=name, storage_path=storage.uri,
        failure_config=tune.FailureConfig(max_failures=opts.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        callbacks=callbacks, verbose=0,
    )


# --------------------------------------------------------------------------- outcome


@dataclass
class SweepOutcome:
    """What a sweep or resume left behind (`path`: a local directory, or the experiment's URI
    when it is in object storage)."""

    path: Path | str
    n_trials: int
    states: dict[str, int]
    errored: list[tuple[str, str]]  # (trial directory, its one-line error)
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)  # for the user, each said once
    wall_s: float = 0.0
    stopped_early: str = ""  # e.g. "2 stopped early (ASHA) at epoch 1"

    @property
    def ok(self) -> bool:
        return not self.errored and not self.interrupted and \
            self.states.get("TERMINATED", 0) == self.n_trials


def shown_path(exp: Storage) -> Path | str:
    """How an experiment is named to the user: its local path, or its URI."""
    return Path(exp.uri) if exp.is_local else exp.uri


def read_outcome(path: Path | str | Storage, wall_s: float, notes: list[str],
                 interrupted: bool = False) -> SweepOutcome:
    """The outcome of the sweep in `path`, from the trial states Tune saved.

    Tune writes its experiment state once more when `Tuner.fit()` returns, also when it was
    interrupted (Ctrl+C: Tune catches SIGINT and returns). Trials it left pending, running or
    paused mean an interrupted sweep. A trial the scheduler stopped early is TERMINATED:
    finished, not interrupted.
    """
    if isinstance(path, Storage):
        path = shown_path(path)
    try:
        with readable(path) as local:
            trials, _ = tune_dir.read_experiment(local)
            scheduler = tune_dir.scheduler_name(local)
    except ExperimentError:  # stopped before Tune recorded any trial
        return SweepOutcome(path, 0, {}, [], interrupted=True, notes=notes, wall_s=wall_s)
    states = dict(Counter(t.state for t in trials))
    errored = [(t.dirname, t.error or "unknown error") for t in trials if t.state == "ERROR"]
    unfinished = any(t.state not in ("TERMINATED", "ERROR") for t in trials)
    early = tune_dir.stopped_early_text((int(t.last.get("epoch") or 0) for t in trials
                                         if t.stopped_early), scheduler)
    return SweepOutcome(path, len(trials), states, errored, interrupted or unfinished,
                        notes, wall_s, early)


def _fit(tuner: Any, exp: Storage, notes: list[str]) -> SweepOutcome:
    t0 = time.perf_counter()
    driver = {"host": socket.gethostname(), "pid": os.getpid(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    exp.write_text(DRIVER_FILE, json.dumps(driver))
    try:
        tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl+C, while Tune was saving its state
        outcome = read_outcome(exp, time.perf_counter() - t0, notes, interrupted=True)
    else:
        outcome = read_outcome(exp, time.perf_counter() - t0, notes)
    driver.update(ended=time.strftime("%Y-%m-%dT%H:%M:%S%z"), interrupted=outcome.interrupted,
                  wall_s=round(outcome.wall_s, 1))
    exp.write_text(DRIVER_FILE, json.dumps(driver))
    return outcome


def _keep_log(log: RayLog, exp: Storage) -> None:
    """The Ray log into the experiment directory, or a local directory for object storage."""
    if exp.is_local:
        log.keep_in(Path(exp.path) / LOG_FILE)
    else:
        log.keep_in(local_log_dir() / f"{exp.name}-{time.strftime('%Y%m%d-%H%M%S')}.log")


# --------------------------------------------------------------------------- run, resume


def save_spec(exp: Storage, spec: SweepSpec, opts: SweepOptions, points: list[dict]) -> None:
    """Record the validated space, the file's text and the options, so resume can rebuild.
    (The storage path holds no credentials: `storage.parse_storage` refuses such URIs.)"""
    src = Path(spec.source)
    options = {k: v for k, v in opts.__dict__.items() if k != "progress"}
    if options.get("data_dir"):  # resume may run from another working directory
        options["data_dir"] = str(Path(options["data_dir"]).expanduser().resolve())
    data = {"spec": spec.to_dict(), "points": points,
            "source": spec.source, "source_text": src.read_text() if src.is_file() else None,
            "options": options,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    exp.write_text(SPEC_FILE, json.dumps(data, indent=1, default=str))


def run_sweep(spec: SweepSpec, opts: SweepOptions, trainable_fn: Any = None,
              forecast: dict[str, Any] | None = None) -> SweepOutcome:
    """Run `spec` as a Ray Tune sweep; returns its outcome (errors raise TuneBenchError).

    `trainable_fn` replaces run_trial (tests use a light one where CUDA would be needed);
    `forecast` (tune_bench.forecast) is saved with the experiment and drives the ETA.
    """
    check_local_gpus(spec, opts)
    storage = check_storage(opts.storage_path)
    name = opts.name or spec.name
    exp = storage.child(name)
    if exp.exists(SPEC_FILE):
        raise ExperimentError(f"experiment {exp.uri} exists already: resume it with "
                              f"'tune-bench resume {exp.uri}' or choose another --name")
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
    # num_to_keep=1 forces a snapshot after each checkpoint (what makes resume exact); with
    # short epochs Tune warns about it on every epoch.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ[PROGRESS_ENV] = "1" if opts.progress else "0"
    phase(f"decoding {data_names(spec.points)}", opts.progress)
    splits = decode_datasets(spec.points, opts.data_dir, spec.plugin_paths)
    with RayLog() as log:
        return _run(spec, opts, storage, exp, splits, log, trainable_fn, forecast)


def _run(spec: SweepSpec, opts: SweepOptions, storage: Storage, exp: Storage,
         splits: dict[str, Any], log: RayLog, trainable_fn: Any,
         forecast: dict[str, Any] | None = None) -> SweepOutcome:
    name = exp.name
    started = start_ray(opts)
    try:
        cluster, nodes = cluster_view()
        check_shared(storage, nodes, opts.shared_storage)
        points, notes = plan_resources(spec, cluster, nodes, opts.drop_gpu_trials)
        used = set(map(data_key, points))
        datasets = put_datasets({k: v for k, v in splits.items() if k in used})
        save_spec(exp, spec, opts, points)
        if forecast is not None:  # through the same storage layer as the spec (s3:// too)
            exp.write_text(FORECAST_FILE, json.dumps(forecast, indent=1, default=str))
        _keep_log(log, exp)
        total = len(points) * spec.tune_num_samples
        phase(f"running {total} trial(s) on {_cluster_text(cluster, nodes)}; results in "
              f"{exp.uri}", opts.progress)
        if forecast is not None:  # once the pre-flight checks passed
            phase(forecast_lines(forecast)[0], opts.progress)
        progress = RichProgress(total, opts.progress,
                                forecast=ForecastEta(forecast) if forecast else None)
        tuner = tune.Tuner(
            build_trainable(spec, datasets, trainable_fn),
            param_space=param_space(spec, points),
            tune_config=tune.TuneConfig(
                num_samples=spec.tune_num_samples, scheduler=_scheduler(spec),
                search_alg=_searcher(spec),
                max_concurrent_trials=opts.max_concurrent or spec.max_concurrent,
                reuse_actors=True, trial_name_creator=lambda t: trial_label(t.config),
                trial_dirname_creator=lambda t: f"{trial_label(t.config)}_{t.trial_id}"),
            run_config=make_run_config(name, storage, opts, [progress, *(
                [] if opts.keep_checkpoints else [PruneFinishedCheckpoints()])]),
        )
        return _fit(tuner, exp, notes)
    finally:
        if started:
            _shutdown()


def _cluster_text(cluster: dict[str, float], nodes: list[dict[str, float]]) -> str:
    """e.g. "1 node, 2 CPUs, 0 GPUs"."""
    n = len(nodes)
    return (f"{n} node{'s' if n != 1 else ''}, {cluster.get('CPU', 0):g} CPUs, "
            f"{cluster.get('GPU', 0):g} GPUs")


def _saved_spec(exp: Storage) -> dict[str, Any]:
    """tune_bench_spec.json of the experiment (through its filesystem)."""
    if not exp.is_local:
        with readable(exp.uri) as local:
            return read_saved_spec(local)
    return read_saved_spec(Path(exp.path))


def resume_sweep(path: str | Path, retry_errored: bool = False, data_dir: str | None = None,
                 address: str | None = None, progress: bool = True,
                 num_cpus: int | None = None) -> SweepOutcome:
    """Continue an interrupted sweep with Tuner.restore: finished trials are kept. `path` is
    the experiment's local directory or its URI."""
    exp = parse_storage(path)
    shown = shown_path(exp)
    if not probe_dir(exp):
        raise ExperimentError(f"{shown}: no such experiment directory")
    saved = _saved_spec(exp)
    saved_options = saved["options"]
    import yaml

    overrides = saved_overrides(saved_options)
    spec = parse_space(yaml.safe_load(saved["source_text"]), saved["source"], overrides)
    if num_cpus is None:
        num_cpus = saved_options.get("num_cpus")
    opts = SweepOptions(storage_path=exp.parent.uri, name=exp.name,
                        address=address or saved_options.get("address"),
                        data_dir=data_dir or saved_options.get("data_dir"), progress=progress,
                        num_cpus=num_cpus, overrides=overrides,
                        shared_storage=bool(saved_options.get("shared_storage")))
    with readable(exp.uri) as local:
        snapshot = tune_dir.read_snapshot(local)
    if snapshot.file is None:
        # Stopped after tune-bench saved the space but before Tune's first snapshot (a kill
        # during start-up): with no trial directory either, nothing ran, so run the sweep from
        # the start with its saved options.
        if any(e.type == FileType.Directory for e in exp.entries()):
            raise ExperimentError(f"{shown}: stopped before Tune saved any state, so there is "
                                  "nothing to resume; delete it and run the sweep again")
        known = {f.name for f in dataclasses.fields(SweepOptions)}
        given = ("storage_path", "name", "address", "data_dir", "progress", "num_cpus",
                 "overrides", "shared_storage")
        rerun = SweepOptions(**{**{k: v for k, v in saved_options.items() if k in known},
                                **{k: getattr(opts, k) for k in given}})
        exp.delete_file(SPEC_FILE)
        return run_sweep(spec, rerun)
    if not tune.Tuner.can_restore(exp.uri):
        raise ExperimentError(f"{shown}: no Tune experiment state to restore from")
    expected = len(saved["points"]) * spec.tune_num_samples
    statuses = snapshot.statuses()
    if len(statuses) == expected and set(statuses) == {"TERMINATED"}:
        return SweepOutcome(shown, expected, {"TERMINATED": expected}, [],
                            notes=[f"nothing to resume: all {expected} trials of {shown} "
                                   "finished"])
    os.environ[PROGRESS_ENV] = "1" if progress else "0"
    phase(f"decoding {data_names(saved['points'])}", progress)
    splits = decode_datasets(saved["points"], opts.data_dir, spec.plugin_paths)
    done = statuses.count("TERMINATED")
    with RayLog() as log:
        started = start_ray(opts)
        try:
            cluster, nodes = cluster_view()
            check_shared(exp, nodes, opts.shared_storage)
            _keep_log(log, exp)
            datasets = put_datasets(splits)
            tuner = tune.Tuner.restore(exp.uri, trainable=build_trainable(spec, datasets),
                                       resume_unfinished=True, resume_errored=retry_errored)
            phase(f"resuming: {done} of {expected} trial(s) finished before; running the "
                  f"rest on {_cluster_text(cluster, nodes)}", progress)
            return _fit(tuner, exp, [])
        finally:
            if started:
                _shutdown()
