"""Ray Tune sweeps: trainables, per-trial resources, Tuner, restore and pre-flight checks.

This is the only module that imports Ray. The datasets a sweep needs are decoded once by the
driver and handed to every trial through the object store (`tune.with_parameters`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune

from tune_bench.config import flatten_config, trial_label
from tune_bench.errors import ConfigError, ExperimentError, ResourceError
from tune_bench.space import SweepSpec, parse_space

SPEC_FILE = "tune_bench_spec.json"
STATE_FILE = "state.pt"
DONE_MARKER = "COMPLETE"
DEFAULT_MAX_FAILURES = 2
MIN_FREE_BYTES = 200 * 2**20

log = logging.getLogger("tune_bench")


# --------------------------------------------------------------------------- configs


# --------------------------------------------------------------------------- trainable


def run_trial(config: dict[str, Any], datasets: dict[str, Any] | None = None,
              data_dir: str | None = None, resources: dict[str, dict[str, float]] | None = None,
              ) -> None:
    """Tune function trainable: train one ResNet or SVM and report to Tune.

    ResNet trials report every epoch with a checkpoint and, when restarted, continue from the
    newest complete checkpoint (Tune's, or a newer one found in the trial directory).
    """
    import torch

    from tune_bench.config import ResNetConfig, SVMConfig
    from tune_bench.data import load_split
    from tune_bench.train import train_resnet, train_svm

    flat = flatten_config(config)
    res = dict((resources or {}).get(flat.get("device", "cpu"), {"cpu": 1}))
    threads = max(1, int(res.get("cpu", 1)))
    ctx = tune.get_context()
    prov = {"node_id": ray.get_runtime_context().get_node_id(), "hostname": socket.gethostname(),
            "resources": res, "trial_name": trial_label(config),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "")}
    split = (datasets or {}).get(data_key(flat))
    if isinstance(split, ray.ObjectRef):
        split = ray.get(split)  # zero-copy from this node's object store
    prov["data_from"] = "driver" if split is not None else "disk"
    if split is None:
        split = load_split(*data_source(flat), data_dir)

    if flat["trainer"] == "svm":
        metrics = train_svm(SVMConfig.from_dict(flat), split, threads=threads)
        tune.report({**metrics, **prov})
        return

    cfg = ResNetConfig.from_dict(flat)
    state, restored_from, known = _load_newest_state(tune.get_checkpoint(),
                                                     _storage_trial_dir(ctx))
    prov["restored_from_epoch"] = state["epoch"] if state else 0
    prov["restored_from"] = restored_from
    if state is not None:
        # The trial's result.json holds the epochs of the checkpoint Tune knows (`known`), or
        # one more (Tune logs a result before it registers the result's checkpoint). Epochs of
        # a newer checkpoint found on disk that it lacks are reported again from the
        # checkpoint's history, so that result.json holds every epoch once. The last epoch
        # train_resnet reports itself.
        done = max(known, _recorded_epochs(ctx))
        if state["epoch"] >= cfg.epochs and done >= cfg.epochs:
            return  # killed after its final row was recorded: finished, nothing to report again
        for row in state["history"][done:min(state["epoch"], cfg.epochs - 1)]:
            tune.report({**row, **prov, "replayed": True})

    def on_epoch(metrics: dict[str, Any], st: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as d:
            torch.save(st, Path(d) / STATE_FILE)
            (Path(d) / DONE_MARKER).write_text(str(st["epoch"]))
            tune.report({**metrics, **prov}, checkpoint=tune.Checkpoint.from_directory(d))

    train_resnet(cfg, split, on_epoch=on_epoch, resume_state=state, threads=threads)


def _read_state(path: Path) -> dict[str, Any] | None:
    import torch

    if not (path / DONE_MARKER).exists() or not (path / STATE_FILE).exists():
        return None
    try:
        return torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
    except Exception:  # a checkpoint cut short by a kill: skip it
        return None


def _storage_trial_dir(ctx: Any) -> str | None:
    """The trial's directory under the (local) storage path, where its checkpoints persist.

    `get_trial_dir()` is the worker's working directory under /tmp/ray, which holds none.
    """
    try:
        import pyarrow.fs

        storage = ctx.get_storage()
        if isinstance(storage.storage_filesystem, pyarrow.fs.LocalFileSystem):
            return storage.trial_fs_path
    except Exception:  # not in a Tune session, or a Ray without this (developer) API
        pass
    return None


def _recorded_epochs(ctx: Any) -> int:
    """The last epoch in the trial's result.json as the driver is writing it, when the driver
    runs on this node (0 when it cannot be read)."""
    try:
        last = 0
        with open(Path(ctx.get_storage().trial_driver_staging_path, "result.json")) as f:
            for line in f:
                try:
                    last = max(last, int(json.loads(line).get("epoch") or 0))
                except (ValueError, TypeError, AttributeError):
                    continue
        return last
    except Exception:  # another node's driver, not written yet, or no such developer API
        return 0


def _marked_epoch(path: Path) -> int:
    try:
        return int((path / DONE_MARKER).read_text())
    except (OSError, ValueError):
        return -1


def _load_newest_state(ckpt: Any, trial_dir: str | None
                       ) -> tuple[dict[str, Any] | None, str, int]:
    """The newest complete training state: Tune's checkpoint or a newer one on disk.

    Returns (state, where it came from, the epoch of Tune's checkpoint or 0). After a hard kill
    of the driver, Tune's experiment snapshot can lag behind the checkpoints already persisted
    in the trial directory; those are complete when their marker exists. Checkpoint numbers
    restart when Tune restarts a trial it knew no checkpoint of, so the epoch in the marker,
    not the directory name, says which is newest.
    """
    best, where = None, ""
    if ckpt is not None:
        with ckpt.as_directory() as d:
            best, where = _read_state(Path(d)), "tune"
    known = best["epoch"] if best else 0
    if trial_dir and Path(trial_dir).is_dir():
        found = sorted(((_marked_epoch(d), d) for d in Path(trial_dir).glob("checkpoint_*")),
                       reverse=True)
        for epoch, d in found:
            if epoch <= known:
                break
            st = _read_state(d)
            if st is not None:
                best, where = st, f"disk:{d.name}"
                break
    return best, where, known


# --------------------------------------------------------------------------- sweep options


@dataclass
class SweepOptions:
    """What a sweep needs besides its search space; saved with the experiment for resume."""

    storage_path: str = "ray_results"
    name: str | None = None
    address: str | None = None
    data_dir: str | None = None
    max_concurrent: int | None = None
    max_failures: int = DEFAULT_MAX_FAILURES
    drop_gpu_trials: bool = False
    num_cpus: int | None = None
    num_gpus: float | None = None
    progress: bool = True
    keep_checkpoints: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def experiment_dir(spec: SweepSpec, opts: SweepOptions) -> Path:
    return Path(opts.storage_path).resolve() / (opts.name or spec.name)


def check_storage(path: Path) -> None:
    """Fail before any trial starts when the storage path is unwritable or nearly full."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".tune_bench_write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ResourceError(f"storage path {path}: not writable ({e.strerror or e})") from None
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_BYTES:
        raise ResourceError(f"storage path {path}: only {free / 2**20:.0f} MiB free "
                            f"(need at least {MIN_FREE_BYTES / 2**20:.0f} MiB)")


def plan_resources(spec: SweepSpec, cluster: dict[str, float], nodes: list[dict[str, float]],
                   drop_gpu: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Check every trial's request against the cluster; returns (points kept, warnings).

    Tune would leave a trial that no node can host PENDING forever, so such a request is an
    error here, before anything starts: GPU trials on a cluster without GPUs (or dropped, with a
    warning, when `drop_gpu` is set) and requests larger than the biggest node.
    """
    kept, notes = [], []
    gpus = cluster.get("GPU", 0)
    dropped = [p for p in spec.points if spec.resources_for(p).get("gpu", 0) > 0 and gpus <= 0]
    if dropped and not drop_gpu:
        raise ResourceError(
            f"{len(dropped)} trial(s) ask for a GPU but the Ray cluster has none "
            f"(first: {trial_label(dropped[0])}); use a cluster with GPUs or --drop-gpu-trials")
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


def _fits(req: dict[str, float], node: dict[str, float]) -> bool:
    return req.get("cpu", 0) <= node.get("CPU", 0) and req.get("gpu", 0) <= node.get("GPU", 0)


# --------------------------------------------------------------------------- Ray session


def start_ray(opts: SweepOptions) -> bool:
    """Start Ray locally (loopback only, no dashboard) or join `opts.address`.

    Returns True when this call started Ray (and so must shut it down).
    """
    if ray.is_initialized():
        return False
    # Trials' own output stays in Ray's logs; errors reach the user through Tune's error.txt.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                              "log_to_driver": False}
    if opts.address:
        try:
            ray.init(address=opts.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ResourceError(f"--address {opts.address}: cannot join the Ray cluster "
                                f"({str(e).splitlines()[0]})") from None
        return True
    loopback_only()
    # Ray 2.60 turns token authentication on for a new local cluster and says so with a
    # warning on stderr, which was a second line before every one-line error: keep it quiet.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR)
    # address="local": always a new local instance. Without it ray.init() joins whatever cluster
    # /tmp/ray/ray_current_cluster names (another user's `ray start` or test cluster), and the
    # sweep then runs on, and dies with, someone else's cluster.
    ray.init(address="local", num_cpus=opts.num_cpus, num_gpus=opts.num_gpus,
             _node_ip_address="127.0.0.1", dashboard_host="127.0.0.1", **kwargs)
    return True


def loopback_only() -> None:
    """Keep a local Ray on 127.0.0.1.

    Ray resolves "127.0.0.1" to the machine's outward address on Linux unless its cluster mode
    is off; off, every node address is the loopback one. The variable is inherited by the Ray
    processes this driver starts.
    """
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def cluster_view() -> tuple[dict[str, float], list[dict[str, float]]]:
    """Total resources and each alive node's resources."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return dict(ray.cluster_resources()), nodes


# --------------------------------------------------------------------------- building the Tuner


_PUT: dict[tuple[str, int], Any] = {}  # (Ray session, id(split)) -> (ObjectRef, split)


def data_source(point: dict[str, Any]) -> tuple[str, str]:
    """The (dataset, split) a trial (flat config) trains on."""
    return point["dataset"], point.get("split", "seeds")


def data_key(point: dict[str, Any]) -> str:
    """`<dataset>/<split>`: the key of a trial's decoded split in the datasets handed over."""
    return "/".join(data_source(point))


def decode_datasets(points: list[dict[str, Any]], data_dir: str | None) -> dict[str, Any]:
    """Decode each (dataset, split) the trials use, once: {data_key: Split}.

    Runs before Ray starts, so a missing or corrupt dataset file is reported at once, without
    the cost of starting (and stopping) a Ray instance first.
    """
    from tune_bench.data import load_split

    sources = {data_key(p): data_source(p) for p in points}
    return {key: load_split(*sources[key], data_dir) for key in sorted(sources)}


def put_datasets(splits: dict[str, Any]) -> dict[str, Any]:
    """Put decoded splits in Ray's object store once per Ray session; returns ObjectRefs.

    A split already put in this Ray session (an earlier sweep of the same driver) is not put
    again, so repeated sweeps do not grow the object store.
    """
    session = ray.get_runtime_context().get_node_id() + ray.get_runtime_context().gcs_address
    refs = {}
    for key, split in splits.items():
        if (session, id(split)) not in _PUT:
            _PUT[(session, id(split))] = (ray.put(split), split)  # keep split: id stays unique
        refs[key] = _PUT[(session, id(split))][0]
    return refs


def build_trainable(spec: SweepSpec, datasets: dict[str, Any], data_dir: str | None,
                    fn: Any = None):
    """`fn` (default run_trial) with its data and per-device resources attached."""
    resources = spec.resources
    trainable = tune.with_parameters(fn or run_trial, datasets=datasets, data_dir=data_dir,
                                     resources=resources)

    def request(config: dict[str, Any]) -> dict[str, float]:
        return dict(resources[flatten_config(config).get("device", "cpu")])

    return tune.with_resources(trainable, request)


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
    space["variant"] = tune.grid_search(points) if len(points) > 1 else points[0]
    return space


def _scheduler(spec: SweepSpec):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    s = dict(spec.scheduler)
    kind = s.pop("type", "fifo")
    if kind == "fifo":
        return FIFOScheduler()
    metric = s.pop("metric", "val_acc" if spec.metric == "test_acc" else spec.metric)
    return ASHAScheduler(time_attr="training_iteration", metric=metric, mode=spec.mode, **s)


def _searcher(spec: SweepSpec):
    s = dict(spec.search)
    if s.pop("type", "basic") != "optuna":
        return None
    try:
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise ConfigError(f"{spec.source}: search.type: optuna needs the optuna package "
                          "(pip install 'tune-bench[optuna]')") from None
    return OptunaSearch(metric=spec.metric, mode=spec.mode, **s)


def make_run_config(name: str, storage: Path, opts: SweepOptions, callbacks: list) -> Any:
    return tune.RunConfig(
        name=name, storage_path=str(storage),
        failure_config=tune.FailureConfig(max_failures=opts.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        callbacks=callbacks, verbose=0,
    )


# --------------------------------------------------------------------------- progress


class RichProgress(tune.Callback):
    """A Tune callback showing trials done / running / pending / errored, elapsed and ETA.

    The rich display is made on first use and left out of pickling (Tune pickles callbacks with
    the run config).
    """

    def __init__(self, total: int, enabled: bool = True, done: int = 0) -> None:
        self.total, self.enabled, self.done, self.errored = total, enabled, done, 0
        self.running: set[str] = set()
        self._progress: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_progress": None, "running": set()}

    def _refresh(self) -> None:
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[states]}"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), disable=not self.enabled)
            self._task = self._progress.add_task("trials", total=self.total, states="")
            self._progress.start()
        pending = max(self.total - self.done - self.errored - len(self.running), 0)
        states = (f"done {self.done}  running {len(self.running)}  pending {pending}  "
                  f"errored {self.errored}")
        self._progress.update(self._task, completed=self.done + self.errored, states=states)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.running.add(trial.trial_id)
        self._refresh()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.running.discard(trial.trial_id)
        self.done += 1
        self._refresh()

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.running.discard(trial.trial_id)
        self.errored += 1
        self._refresh()

    def on_experiment_end(self, trials, **info) -> None:
        if self._progress is not None:
            self._progress.stop()


class PruneFinishedCheckpoints(tune.Callback):
    """Delete the checkpoints of finished trials once Tune's snapshot knows they finished.

    A finished trial is never run again, so its checkpoint (model and optimizer state: about
    300 MB for a ResNet-50 with Adam) only costs disk. It is removed `grace_s` after the
    trial completed (several experiment snapshots later), and at the end of the sweep.
    """

    def __init__(self, grace_s: float = 30.0) -> None:
        self.grace_s = grace_s
        self.pending: dict[str, tuple[float, str]] = {}

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        # trial.path: the trial's directory in the storage path (pruned only when local)
        self.pending[trial.trial_id] = (time.monotonic(), trial.path or "")

    def on_step_end(self, iteration, trials, **info) -> None:
        self._prune(time.monotonic() - self.grace_s)

    def on_experiment_end(self, trials, **info) -> None:
        self._prune(float("inf"))

    def _prune(self, older_than: float) -> None:
        for tid, (t, path) in list(self.pending.items()):
            if t <= older_than:
                for d in Path(path).glob("checkpoint_*") if path else []:
                    shutil.rmtree(d, ignore_errors=True)
                del self.pending[tid]


# --------------------------------------------------------------------------- results


@dataclass
class SweepOutcome:
    """What a sweep or resume left behind."""

    path: Path
    n_trials: int
    states: dict[str, int]
    errored: list[tuple[str, str]]
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errored and not self.interrupted and \
            self.states.get("TERMINATED", 0) == self.n_trials


def _outcome(path: Path, grid: Any, wall_s: float, notes: list[str]) -> SweepOutcome:
    states: dict[str, int] = {}
    errored = []
    for r in grid:
        st = "ERROR" if r.error is not None else "TERMINATED"
        if r.error is None and not (r.metrics or {}).get("final"):
            st = "INCOMPLETE"
        states[st] = states.get(st, 0) + 1
        if r.error is not None:
            msg = str(r.error).strip().splitlines()
            errored.append((Path(r.path).name, _error_line(msg)))
    return SweepOutcome(path, len(grid), states, errored, notes=notes, wall_s=wall_s)


def _error_line(lines: list[str]) -> str:
    for line in reversed(lines):
        line = line.strip()
        if line and not line.startswith(("File ", "^", "~")) and ":" in line:
            return line[:300]
    return lines[-1][:300] if lines else "unknown error"


def save_spec(path: Path, spec: SweepSpec, opts: SweepOptions, points: list[dict]) -> None:
    """Record the validated space, the file's text and the options, so resume can rebuild."""
    src = Path(spec.source)
    options = {k: v for k, v in opts.__dict__.items() if k != "progress"}
    if options.get("data_dir"):  # resume may run from another working directory
        options["data_dir"] = str(Path(options["data_dir"]).expanduser().resolve())
    data = {"spec": spec.to_dict(), "points": points,
            "source": spec.source, "source_text": src.read_text() if src.is_file() else None,
            "options": options,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path.mkdir(parents=True, exist_ok=True)
    (path / SPEC_FILE).write_text(json.dumps(data, indent=1, default=str))


def run_sweep(spec: SweepSpec, opts: SweepOptions, trainable_fn: Any = None) -> SweepOutcome:
    """Run `spec` as a Ray Tune sweep; returns its outcome (errors raise TuneBenchError).

    `trainable_fn` replaces run_trial (tests use a light one where CUDA would be needed).
    """
    storage = Path(opts.storage_path).resolve()
    name = opts.name or spec.name
    path = storage / name
    check_storage(storage)
    if path.exists() and (path / SPEC_FILE).exists():
        raise ExperimentError(f"experiment {path} exists already: resume it with "
                              f"'tune-bench resume {path}' or choose another --name")
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
    # num_to_keep=1 forces a snapshot after each checkpoint (what makes resume exact); with
    # short epochs Tune warns about it on every epoch.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    splits = decode_datasets(spec.points, opts.data_dir)
    started = start_ray(opts)
    try:
        cluster, nodes = cluster_view()
        points, notes = plan_resources(spec, cluster, nodes, opts.drop_gpu_trials)
        for n in notes:
            warnings.warn(n, stacklevel=2)
        used = set(map(data_key, points))
        datasets = put_datasets({k: v for k, v in splits.items() if k in used})
        save_spec(path, spec, opts, points)
        progress = RichProgress(len(points) * spec.tune_num_samples, opts.progress)
        tuner = tune.Tuner(
            build_trainable(spec, datasets, opts.data_dir, trainable_fn),
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
        return _fit(tuner, path, notes)
    finally:
        if started:
            _shutdown()


def _fit(tuner: Any, path: Path, notes: list[str]) -> SweepOutcome:
    t0 = time.perf_counter()
    interrupted = False
    try:
        grid = tuner.fit()
    except KeyboardInterrupt:
        interrupted = True
        grid = None
    wall = time.perf_counter() - t0
    if grid is None:
        return SweepOutcome(path, 0, {}, [], interrupted=True, notes=notes, wall_s=wall)
    out = _outcome(path, grid, wall, notes)
    out.interrupted = interrupted or out.states.get("INCOMPLETE", 0) > 0 and _was_interrupted(grid)
    return out


def _was_interrupted(grid: Any) -> bool:
    return any(getattr(r, "error", None) is None and not (r.metrics or {}).get("final")
               for r in grid)


def _shutdown() -> None:
    ray.shutdown()


def read_saved_spec(path: Path) -> dict[str, Any]:
    f = path / SPEC_FILE
    if not f.exists():
        raise ExperimentError(f"{path}: not a tune-bench experiment (no {SPEC_FILE})")
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise ExperimentError(f"{f}: unreadable ({e.msg})") from None


def _snapshot_statuses(path: Path) -> list[str]:
    """The status of each trial in Tune's newest experiment snapshot (read as JSON)."""
    files = sorted(path.glob("experiment_state-*.json"))
    if not files:
        return []
    try:
        out = []
        for info, _runtime in json.loads(files[-1].read_text())["trial_data"]:
            out.append((json.loads(info) if isinstance(info, str) else info)["status"])
        return out
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return []


def resume_sweep(path: str | Path, retry_errored: bool = False, data_dir: str | None = None,
                 address: str | None = None, progress: bool = True,
                 num_cpus: int | None = None) -> SweepOutcome:
    """Continue an interrupted sweep with Tuner.restore: finished trials are kept."""
    path = Path(path).resolve()
    if not path.is_dir():
        raise ExperimentError(f"{path}: no such experiment directory")
    saved = read_saved_spec(path)
    o = saved["options"]
    import yaml

    spec = parse_space(yaml.safe_load(saved["source_text"]), saved["source"],
                       o.get("extra", {}).get("overrides"))
    opts = SweepOptions(storage_path=str(path.parent), name=path.name,
                        address=address or o.get("address"),
                        data_dir=data_dir or o.get("data_dir"), progress=progress,
                        num_cpus=num_cpus if num_cpus is not None else o.get("num_cpus"),
                        num_gpus=o.get("num_gpus"))
    if not any(path.glob("experiment_state-*.json")):
        # Stopped after tune-bench saved the space but before Tune's first snapshot (a kill
        # during start-up): with no trial directory either, nothing ran, so run the sweep from
        # the start with its saved options.
        if any(p.is_dir() for p in path.iterdir()):
            raise ExperimentError(f"{path}: stopped before Tune saved any state, so there is "
                                  "nothing to resume; delete it and run the sweep again")
        known = {f.name for f in dataclasses.fields(SweepOptions)}
        rerun = SweepOptions(**{**{k: v for k, v in o.items() if k in known},
                                **{k: getattr(opts, k) for k in ("storage_path", "name",
                                   "address", "data_dir", "progress", "num_cpus")}})
        (path / SPEC_FILE).unlink()
        return run_sweep(spec, rerun)
    if not tune.Tuner.can_restore(str(path)):
        raise ExperimentError(f"{path}: no Tune experiment state to restore from")
    expected = len(saved["points"]) * spec.tune_num_samples
    trials = _snapshot_statuses(path)
    if len(trials) == expected and set(trials) == {"TERMINATED"}:
        return SweepOutcome(path, expected, {"TERMINATED": expected}, [],
                            notes=[f"nothing to resume: all {expected} trials of {path} "
                                   "finished"])
    splits = decode_datasets(saved["points"], opts.data_dir)
    started = start_ray(opts)
    try:
        datasets = put_datasets(splits)
        tuner = tune.Tuner.restore(str(path), trainable=build_trainable(spec, datasets,
                                                                         opts.data_dir),
                                   resume_unfinished=True, resume_errored=retry_errored)
        return _fit(tuner, path, [])
    finally:
        if started:
            _shutdown()


