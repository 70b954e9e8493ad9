"""The one reader of an experiment directory as Ray Tune 2.60 writes it (no Ray, no pickles).

Layout (checked against Ray Tune 2.60):

- `experiment_state-<date>.json`: `{"trial_data": [[info_json, runtime_json], ...], ...}`; each
  `info_json` is itself a JSON string with `trial_id`, `status`, `relative_logdir` and `config`.
  The newest file (by the date in its name) wins; pickled fields inside it are left alone. Tune
  rewrites it every few seconds and once more when `Tuner.fit()` ends, also when interrupted.
- one directory per trial: `params.json`, `result.json` (one JSON object per line),
  `progress.csv`, `error.txt` when it errored. Pending trials have an empty directory.
- `tune_bench_spec.json`: tune-bench's own record of the sweep (its space and options).

Trial states (`trial_state`): Tune's status from the snapshot when there is one; without it,
ERROR when error.txt exists, TERMINATED when the last result says `final`/`done`, INCOMPLETE
with results, PENDING without. A TERMINATED ResNet trial whose last result lacks `final` was
stopped early by the scheduler (ASHA): it is finished, not interrupted (`stopped_early`).
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tune_bench import datasets
from tune_bench.errors import ExperimentError

try:  # optional: a faster JSON parser; the stdlib is the fallback
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

SPEC_FILE = "tune_bench_spec.json"
TUNER_FILE = "tuner.pkl"
# The key under which tune-bench's sweeps put each grid point (sweep/run.py).
GRID_WRAPPER = "variant"
# tune-bench's record of the driver of the last run or resume: host, pid, started, and
# `ended` with `interrupted` once Tuner.fit() returned (see `run_state`).
DRIVER_FILE = "tune_bench_driver.json"
# Keys Tune adds to every result (ray.tune.result's AUTO_RESULT_KEYS and friends): bookkeeping,
# never a metric of the trainable.
AUTO_RESULT_KEYS = frozenset({
    "training_iteration", "time_this_iter_s", "time_total_s", "timestamp", "date", "done",
    "pid", "hostname", "node_ip", "time_since_restore", "iterations_since_restore",
    "timesteps_total", "timesteps_since_restore", "episodes_total", "experiment_id",
    "trial_id", "config", "should_checkpoint", "checkpoint_dir_name", "experiment_tag",
    "warmup_time", "episodes_this_iter", "timesteps_this_iter", "time_total"})
STATES = ("TERMINATED", "ERROR", "RUNNING", "PENDING", "INCOMPLETE")
# Tune statuses of a trial that has not finished: left so by an interrupted `Tuner.fit()`.
UNFINISHED = frozenset({"PENDING", "RUNNING", "PAUSED"})

_TRIAL_ID_RE = re.compile(r"_([0-9a-f]{5}_\d{5})(?:_|$)")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_EXC_RE = re.compile(
    r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning|Failure|Killed)\w*(\(.*?\))?(:|$)"
)


# --------------------------------------------------------------------------- configs


def flatten_config(config: dict) -> dict[str, Any]:
    """A trial's flat config: nested dicts become full dotted keys (`{"encoder": {"dropout":
    0.1}}` -> `encoder.dropout`); lists and other values are kept as they are.

    tune-bench's own sweeps put the grid point under `variant`: that prefix is dropped, and a
    key at the top level overrides the same key under `variant` (sampled axes at the top level
    override the grid point).
    """
    if not any(isinstance(v, dict) for v in config.values()):
        return dict(config)
    out: dict[str, Any] = {}
    for path, value in sorted(_walk(config), key=lambda pv: pv[0].count(".")):
        key = path.removeprefix(f"{GRID_WRAPPER}.")
        out.setdefault(key, value)
    return out


def _walk(d: dict, parent: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in d.items():
        path = f"{parent}.{key}" if parent else str(key)
        if isinstance(value, dict) and value and value.get("_type") != "CLOUDPICKLE_FALLBACK":
            yield from _walk(value, path)
        else:
            yield path, value


def trial_label(config: dict[str, Any]) -> str:
    """A short readable name for a trial, e.g. resnet18-mnist-bs16-sgd-lr0.001-e2-cpu-s0."""
    c = flatten_config(config)
    ds = c.get("dataset")
    ds = datasets.short(ds) if isinstance(ds, str) else ds
    if c.get("trainer") == "svm":
        parts = ["svm", c.get("kernel"), ds, f"C{c.get('C')}"]
        parts += [f"d{c.get('degree')}"] if c.get("kernel") == "poly" else [f"g{c.get('gamma')}"]
    else:
        parts = [c.get("model"), ds, f"bs{c.get('batch_size')}", c.get("optimizer"),
                 f"lr{_fmt(c.get('lr'))}", f"e{c.get('epochs')}"]
        if c.get("loader") == "dataloader":
            parts.append("pin" if c.get("pin_memory") else "nopin")
    parts += [c.get("device"), f"s{c.get('seed')}"]
    return "-".join(str(p) for p in parts)


def _fmt(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


# --------------------------------------------------------------------------- state rules


def trial_state(status: str | None, results: list[dict], error_text: str | None) -> str:
    """Tune's status when the snapshot has one, else inferred from the trial's files."""
    if isinstance(status, str) and status:
        return status
    if error_text is not None:
        return "ERROR"
    if results and (results[-1].get("final") or results[-1].get("done")):
        return "TERMINATED"
    return "INCOMPLETE" if results else "PENDING"


def is_stopped_early(state: str, config: dict[str, Any], results: list[dict],
                     budget: float | None = None, scheduler: str | None = None) -> bool:
    """Whether a TERMINATED trial (flat config) was stopped by a scheduler before its end.

    - tune-bench's ResNet trials mark their last epoch `final`: a last result without it;
    - under a scheduler that stops trials (ASHA, HyperBand, median stopping): fewer iterations
      than `budget`, the most any trial of the experiment reached (HyperBand stops paused
      trials without marking any result `done`);
    - under one that never does (FIFO, population-based training): never;
    - scheduler unknown: Tune marks a result `done` when a scheduler or a stopper stops the
      trial (a function that returns by itself leaves `done` false on every line), so a last
      result marked `done` before `budget`.
    Without `budget`, only the first rule applies.
    """
    if state != "TERMINATED" or not results:
        return False
    last = results[-1]
    if config.get("trainer") == "resnet":
        return not last.get("final")
    if config.get("trainer") == "svm" or budget is None or scheduler in NON_STOPPING_SCHEDULERS:
        return False
    if scheduler not in STOPPING_SCHEDULERS and last.get("done") is not True:
        return False
    reached = iteration(last)
    return reached is not None and reached < budget


def iteration(result: dict) -> float | None:
    """The result's `training_iteration` (Tune counts every report), None without one."""
    v = result.get("training_iteration")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def config_schedule(results: list[dict]) -> list[tuple[int, dict[str, Any]]]:
    """(first iteration, flat config) each time the `config` recorded in the trial's results
    changes, e.g. population-based training's perturbations; [] when it never changes."""
    out: list[tuple[int, dict[str, Any]]] = []
    for i, r in enumerate(results):
        cfg = r.get("config")
        if not isinstance(cfg, dict):
            continue
        flat = flatten_config(cfg)
        if not out or flat != out[-1][1]:
            it = iteration(r)
            out.append((int(it) if it is not None else i + 1, flat))
    return out if len(out) > 1 else []


def error_line(text: str) -> str | None:
    """The exception line of an error (error.txt): the last `SomethingError: ...` line."""
    lines = [_ANSI_RE.sub("", ln).rstrip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    for ln in reversed(lines):
        if _EXC_RE.match(ln.strip()):
            return ln.strip()
    for ln in reversed(lines):
        if not ln[0].isspace() and not ln.startswith(("Failure #", "Traceback")):
            return ln.strip()
    return lines[0].strip() if lines else None


# --------------------------------------------------------------------------- files


def loads(data: bytes | str) -> Any:
    """json.loads, through orjson when it is installed (it rejects NaN: then the stdlib)."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(data)


def _read_bytes(p: str) -> bytes | None:
    try:
        with open(p, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def read_text(p: str | Path) -> str | None:
    """A file's text (undecodable bytes replaced), None when it does not exist."""
    data = _read_bytes(str(p))
    return None if data is None else data.decode("utf-8", errors="replace")


def read_params(trial_dir: str) -> dict | None:
    """The trial's params.json (its config as Tune saved it)."""
    data = _read_bytes(os.path.join(trial_dir, "params.json"))
    if not data:
        return None
    try:
        value = loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_results(trial_dir: str) -> list[dict]:
    """result.json rows (a torn last line is skipped); progress.csv when result.json is absent."""
    data = _read_bytes(os.path.join(trial_dir, "result.json"))
    if data is None or not data.strip():
        return _read_progress_csv(os.path.join(trial_dir, "progress.csv"))
    return parse_results(data)


def parse_results(data: bytes | str) -> list[dict]:
    """The rows of a result.json's content (one JSON object per line; a torn line skipped)."""
    rows: list[dict] = []
    for line in data.splitlines():
        if line.strip():
            try:
                row = loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def _read_progress_csv(p: str) -> list[dict]:
    text = read_text(p)
    if not text:
        return []
    return [{k: _parse_scalar(v) for k, v in rec.items() if k is not None}
            for rec in csv.DictReader(text.splitlines())]


def _parse_scalar(v: str | None) -> Any:
    if v is None or v == "":
        return None
    if v in ("True", "False"):
        return v == "True"
    try:
        return json.loads(v)
    except ValueError:
        return v


def read_saved_spec(path: Path) -> dict[str, Any]:
    """tune-bench's record of the sweep in `path` (ExperimentError when absent or unreadable)."""
    f = Path(path) / SPEC_FILE
    if not f.exists():
        raise ExperimentError(f"{path}: not a tune-bench experiment (no {SPEC_FILE})")
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise ExperimentError(f"{f}: unreadable ({e.msg})") from None


def run_state(path: Path, unfinished: bool) -> str:
    """Whether the sweep in `path` is "finished", "running" (its driver is alive on this host),
    "interrupted" (Ctrl+C, or a driver that is gone) or "not finished" (driver elsewhere or
    unknown: older experiments have no DRIVER_FILE)."""
    if not unfinished:
        return "finished"
    text = read_text(Path(path) / DRIVER_FILE)
    try:
        rec = json.loads(text) if text else None
    except ValueError:
        rec = None
    if not isinstance(rec, dict):
        return "not finished"
    if rec.get("ended"):
        return "interrupted"
    if rec.get("host") == socket.gethostname():
        return "running" if _pid_alive(rec.get("pid")) else "interrupted"
    return "not finished"


def _pid_alive(pid: Any) -> bool:
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, ValueError, TypeError, IndexError):
        return False


# --------------------------------------------------------------------------- tuner.pkl

_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
                         "SHORT_BINSTRING", "BINSTRING", "STRING"})
_GET_OPS = frozenset({"BINGET", "LONG_BINGET", "GET"})
_MODES = frozenset({"max", "min"})


def _pickle_strings(data: bytes) -> list[str | None]:
    """The values a pickle pushes, in order: strings (memoized ones resolved), None for
    anything else. `pickletools.genops` only decodes opcodes: nothing is executed."""
    import pickletools

    out: list[str | None] = []
    memo: dict[int, str | None] = {}
    last: str | None = None
    for op, arg, _ in pickletools.genops(data):
        if op.name in _STRING_OPS:
            last = arg if isinstance(arg, str) else None
        elif op.name in _GET_OPS:
            last = memo.get(int(arg))
        elif op.name == "MEMOIZE":
            memo[len(memo)] = last
            continue
        elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(arg)] = last
            continue
        else:
            last = None
        out.append(last)
    return out


# Tune's schedulers that stop trials before the others (ASHA, HyperBand, median stopping), and
# those that never do (FIFO; population-based training replaces configs instead).
STOPPING_SCHEDULERS = frozenset({"AsyncHyperBandScheduler", "ASHAScheduler",
                                 "HyperBandScheduler", "HyperBandForBOHB", "MedianStoppingRule"})
NON_STOPPING_SCHEDULERS = frozenset({"FIFOScheduler", "PopulationBasedTraining",
                                     "PopulationBasedTrainingReplay", "PB2"})


def tuner_strings(path: str | Path) -> tuple[str | None, ...] | None:
    """The values tuner.pkl pushes (`_pickle_strings`), parsed once per version of the file;
    None when there is no readable tuner.pkl."""
    p = os.path.join(str(path), TUNER_FILE)
    try:
        st = os.stat(p)
    except OSError:
        return None
    return _tuner_strings(p, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=32)
def _tuner_strings(p: str, mtime_ns: int, size: int) -> tuple[str | None, ...] | None:
    data = _read_bytes(p)
    if not data:
        return None
    try:
        return tuple(_pickle_strings(data))
    except Exception:  # noqa: BLE001  (a torn or foreign file: nothing read from it)
        return None


def tuner_scheduler(path: str | Path) -> str | None:
    """The class name of the trial scheduler Tune was given (e.g. "AsyncHyperBandScheduler"),
    read from tuner.pkl's opcodes without unpickling; "FIFOScheduler" when tuner.pkl names
    Tune's TuneConfig but no scheduler; None when there is no readable tuner.pkl."""
    values = tuner_strings(path)
    if values is None:
        return None
    for i, v in enumerate(values[:-1]):
        if v and v.startswith("ray.tune.schedulers") and values[i + 1]:
            return values[i + 1]
    return "FIFOScheduler" if "ray.tune.tune_config" in values else None


def tuner_target(path: str | Path) -> tuple[str | None, str | None]:
    """The metric and mode Tune was given, read from the experiment's tuner.pkl without
    unpickling it: the value after a `metric` key (TuneConfig), else after a `_metric` key (a
    scheduler's or searcher's); the same for `mode`. (None, None) when absent, unreadable or
    not one metric (a multi-objective search gives a list)."""
    values = tuner_strings(path)
    if values is None:
        return None, None

    def after(keys: tuple[str, ...], ok) -> str | None:
        for key in keys:
            for i, v in enumerate(values[:-1]):
                if v == key and values[i + 1] is not None and ok(values[i + 1]):
                    return values[i + 1]
        return None

    metric = after(("metric", "_metric"), lambda v: v not in _MODES and v != "_mode")
    mode = after(("mode", "_mode"), lambda v: v in _MODES)
    return metric, mode if metric else None


_WRAPPERS = frozenset({"Searcher", "SearchAlgorithm", "ConcurrencyLimiter", "Repeater",
                       "SearchGenerator", "BasicVariantGenerator"})


def searcher_name(path: str | Path) -> str | None:
    """The search algorithm Tune was given when it is not its default random/grid generator
    (e.g. "OptunaSearch"), from the class tuner.pkl names (read without unpickling); None for
    the default or when unknown."""
    values = tuner_strings(path) or ()
    for i, v in enumerate(values[:-1]):
        name = values[i + 1]
        if v and v.startswith("ray.tune.search") and not v.startswith("ray.tune.search.sample") \
                and name and name[:1].isupper() and name not in _WRAPPERS:
            return name
    return None


PBT_LOG = "pbt_global.txt"


def pbt_perturbations(path: str | Path) -> int | None:
    """How many exploit-and-explore steps population-based training logged (one JSON line
    each in pbt_global.txt: target, source, iterations, old and new config); None without the
    file. result.json can miss rows of a PBT trial, so this is the count to trust."""
    text = read_text(Path(path) / PBT_LOG)
    if text is None:
        return None
    return sum(1 for line in text.splitlines() if line.strip().startswith("["))


# --------------------------------------------------------------------------- snapshot


@dataclass
class Snapshot:
    """Tune's newest experiment_state-*.json: trial info by trial directory name."""

    file: Path | None = None  # None: Tune saved no snapshot (yet)
    trials: dict[str, dict[str, Any]] | None = None  # None: no file, or unreadable
    problem: str | None = None  # why the file could not be read

    def statuses(self) -> list[str]:
        return [t["status"] for t in (self.trials or {}).values()]

    def unfinished(self) -> list[str]:
        """Trial directories Tune left pending, running or paused (an interrupted sweep)."""
        return [d for d, t in (self.trials or {}).items() if t["status"] in UNFINISHED]


def read_snapshot(path: Path) -> Snapshot:
    """The newest experiment_state-*.json in `path` (trial id, status and config per trial)."""
    files = sorted(Path(path).glob("experiment_state-*.json"))
    if not files:
        return Snapshot()
    newest = files[-1]
    try:
        data = loads(newest.read_bytes())
        trials: dict[str, dict[str, Any]] = {}
        for pair in data["trial_data"]:
            info = loads(pair[0]) if isinstance(pair[0], str) else pair[0]
            logdir = info.get("relative_logdir") or info["trial_id"]
            trials[logdir] = {"trial_id": info.get("trial_id"), "status": info.get("status"),
                              "config": info.get("config")}
        return Snapshot(newest, trials)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        return Snapshot(newest, None, f"{newest}: unreadable ({exc})")


# --------------------------------------------------------------------------- trials


@dataclass
class TrialRecord:
    """One trial as read from disk."""

    dirname: str
    path: str
    trial_id: str
    state: str
    error: str | None  # the one-line error of error.txt
    config: dict[str, Any]  # flat
    results: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    # (first iteration, flat config) per config a trial ran with, when it changed (PBT)
    schedule: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @property
    def last(self) -> dict[str, Any]:
        return self.results[-1] if self.results else {}


def read_trial(path: str, dirname: str, meta: dict | None = None) -> TrialRecord | None:
    """The trial in directory `path` (`meta`: its snapshot entry); None if it is not one."""
    results = read_results(path)
    error_text = read_text(os.path.join(path, "error.txt"))
    config = meta.get("config") if meta else None
    if not isinstance(config, dict):
        config = read_params(path)
    if config is None and results:
        config = results[-1].get("config")
    id_match = _TRIAL_ID_RE.search(dirname)
    if meta is None and not results and config is None and error_text is None and not id_match:
        return None
    last = results[-1] if results else {}
    trial_id = (meta or {}).get("trial_id") or last.get("trial_id")
    trial_id = trial_id or (id_match.group(1) if id_match else dirname)
    flat = flatten_config(config or {})
    state = trial_state((meta or {}).get("status"), results, error_text)
    return TrialRecord(dirname, path, trial_id, state,
                       error_line(error_text) if error_text else None, flat, results,
                       is_stopped_early(state, flat, results), config_schedule(results))


def read_experiment(path: Path) -> tuple[list[TrialRecord], list[str]]:
    """Every trial of the experiment in `path`, by directory name; and warnings.

    Raises ExperimentError (one line naming `path`) when it is not an experiment directory.
    """
    path = Path(path)
    if not path.is_dir():
        raise ExperimentError(f"{path}: not an experiment directory (no such directory)")
    entries = list(os.scandir(path))
    if not entries:
        raise ExperimentError(f"{path}: no trials (empty directory)")
    snap = read_snapshot(path)
    warnings = [f"{snap.problem}; trial states inferred from trial files"] if snap.problem else []
    marked = snap.file is not None or any(e.name in ("tuner.pkl", SPEC_FILE) for e in entries)
    meta_by_dir = snap.trials or {}
    dirs = {e.name for e in entries if e.is_dir()} | set(meta_by_dir)
    trials = [t for name in sorted(dirs)
              if (t := read_trial(os.path.join(str(path), name), name, meta_by_dir.get(name)))]
    reached = [it for t in trials if (it := iteration(t.last)) is not None]
    if reached:
        budget, scheduler = max(reached), tuner_scheduler(path)
        for t in trials:
            t.stopped_early = is_stopped_early(t.state, t.config, t.results, budget, scheduler)
    if not trials:
        if marked:
            raise ExperimentError(f"{path}: no trials in this experiment")
        raise ExperimentError(f"{path}: not a Ray Tune experiment directory "
                              "(no experiment_state-*.json and no trial directories)")
    return trials, warnings


def experiments_under(path: Path) -> list[str]:
    """Names of the experiment directories right below `path` (a storage root)."""
    try:
        entries = sorted((e for e in os.scandir(path) if e.is_dir()), key=lambda e: e.name)
    except OSError:
        return []
    return [e.name for e in entries
            if (Path(e.path) / SPEC_FILE).exists() or any(Path(e.path).glob("experiment_state-*"))]


def check_not_storage_root(path: Path, command: str) -> None:
    """A storage root given where an experiment directory is expected: ExperimentError listing
    the experiments in it and the command for one of them."""
    path = Path(path)
    if not path.is_dir() or (path / SPEC_FILE).exists() or \
            any(path.glob("experiment_state-*")):
        return
    names = experiments_under(path)
    if not names:
        return
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    newest = max(names, key=lambda n: (path / n).stat().st_mtime)
    raise ExperimentError(
        f"{path} holds {len(names)} experiment(s), not one: {shown}; the newest: 'tune-bench "
        f"{command} {path / newest}'" + (f" (several: 'tune-bench analyze {path}/*')"
                                 if command == "analyze" and len(names) > 1 else ""))


def stopped_early_text(epochs: Iterable[float], scheduler: str | None = None,
                       unit: str = "epoch", total: int | None = None) -> str:
    """e.g. "3 stopped early (ASHA) at epoch 1", "17 stopped early at iterations 5 (13), 20
    (4)" for the last epochs (iterations) of stopped trials; with `total`, "17 of 20 trials
    stopped early ..."."""
    at = sorted(int(e) for e in epochs)
    if not at:
        return ""
    by = f" ({scheduler})" if scheduler else ""
    counts = {k: at.count(k) for k in dict.fromkeys(at)}
    if len(counts) == 1:
        where = f"{unit} {at[0]}"
    elif len(counts) <= 4 and unit != "epoch":
        where = f"{unit}s " + ", ".join(f"{k} ({n})" for k, n in counts.items())
    else:
        where = f"{unit}s {at[0]}-{at[-1]}"
    of = f" of {total} trials" if total is not None else ""
    return f"{len(at)}{of} stopped early{by} at {where}"


def scheduler_name(path: Path) -> str | None:
    """The scheduler of a tune-bench sweep as its users name it (ASHA), from its saved spec."""
    try:
        kind = read_saved_spec(path)["spec"]["scheduler"].get("type")
    except (ExperimentError, KeyError, TypeError, AttributeError, OSError):
        return None
    return {"asha": "ASHA", "fifo": "FIFO"}.get(kind, kind)
