"""Write experiment directories in Ray Tune 2.60's on-disk format, without Ray (for tests).

Observed from a real `Tuner.fit()` with ray 2.60:

- `<root>/<name>/experiment_state-<date>.json` (compact): `{"trial_data": [[info, runtime],
  ...], "runner_data": {...}, "stats": {...}}` where `info` and `runtime` are JSON *strings*
  (indented by 2);
  `info` holds `trial_id`, `status`, `relative_logdir`, `config`, ... and hex-encoded pickles
  for some fields; `runtime` holds `last_result` (with `done: true` once finished),
  `error_filename`, `num_failures`, ...
- `basic-variant-state-<date>.json` and `tuner.pkl` are pickles; `.validate_storage_marker` empty.
- one directory per trial, `<trainable>_<5 hex>_<5 digit index>_<index>_<tag>_<date>`:
  `params.json` (sorted keys, indent 2), `params.pkl`, `result.json` (one object per line, Tune
  keys added, `done` false on every line of a function trainable), `progress.csv` (nested dicts
  flattened with `/`, lists as Python reprs), `events.out.tfevents.*`, `checkpoint_00000N/`,
  and `error.txt` + `error.pkl` when the trial errored. A PENDING trial's directory is empty.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import pickle
from pathlib import Path
from typing import Any

DATE = "2026-01-01_00-00-00"
START = 1_767_225_600.0
_NONE_PICKLE = pickle.dumps(None, protocol=5).hex()


def trial_id_for(name: str, index: int) -> str:
    """The trial id Tune would give trial `index` of experiment `name` (`<5 hex>_<00000>`)."""
    return f"{hashlib.sha1(name.encode()).hexdigest()[:5]}_{index:05d}"


def write_experiment(
    root: Path,
    name: str,
    trials: list[dict[str, Any]],
    *,
    trainable: str = "train_fn",
    write_state: bool = True,
    auxiliary_files: bool = True,
    indent: int | None = 2,
) -> Path:
    """Write `<root>/<name>` like Tune 2.60 does and return it.

    Each trial dict: `config` (dict), `results` (list of metric dicts, in report order),
    `state` (TERMINATED / ERROR / RUNNING / PENDING; default TERMINATED), optional `error`
    (the exception line, e.g. "ValueError: boom") and optional `checkpoints` (bool).
    `write_state=False` leaves out experiment_state-*.json (states must then be inferred);
    `auxiliary_files=False` skips params.pkl, progress.csv and the events file, and
    `indent=None` writes the per-trial JSON strings compactly (both only for speed).
    """
    exp = Path(root) / name
    exp.mkdir(parents=True, exist_ok=True)
    (exp / ".validate_storage_marker").write_bytes(b"")
    (exp / "tuner.pkl").write_bytes(pickle.dumps({"_tuner": name}))
    (exp / f"basic-variant-state-{DATE}.json").write_bytes(pickle.dumps({"_iterators": []}))
    trial_data = []
    for i, spec in enumerate(trials):
        trial_data.append(_write_trial(exp, name, trainable, i, spec, auxiliary_files, indent))
    if write_state:
        state = {"trial_data": trial_data, "runner_data": _runner_data(), "stats": {
            "start_time": START}}
        (exp / f"experiment_state-{DATE}.json").write_text(json.dumps(state))
    return exp


def _write_trial(
    exp: Path, name: str, trainable: str, index: int, spec: dict[str, Any], aux: bool,
    indent: int | None,
) -> list[str]:
    config = spec.get("config", {})
    status = spec.get("state", "TERMINATED")
    trial_id = spec.get("trial_id") or trial_id_for(name, index)
    # Tune names a trial by the last element of each key path; no "/" may reach the dirname
    tag = f"{index}_" + ",".join(f"{k.rsplit('/', 1)[-1]}={v}".replace("/", "_")
                                 for k, v in list(_flat(config).items())[:2])
    dirname = f"{trainable}_{trial_id}_{tag}_{DATE}"[:200]
    d = exp / dirname
    d.mkdir()
    results = [_tune_row(r, config, trial_id, n, tag) for n, r in enumerate(spec.get("results",
                                                                                   []))]
    if status != "PENDING":
        _write_trial_files(d, config, results, spec, aux)
    info = _trial_info(trainable, trial_id, config, tag, status, dirname)
    runtime = _trial_runtime(results, status, "error" in spec)
    return [json.dumps(info, indent=indent), json.dumps(runtime, indent=indent)]


def _write_trial_files(
    d: Path, config: dict, results: list[dict], spec: dict[str, Any], aux: bool
) -> None:
    (d / "params.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    (d / "result.json").write_text("".join(json.dumps(r) + "\n" for r in results))
    if aux:
        (d / "params.pkl").write_bytes(pickle.dumps(config))
        (d / "progress.csv").write_text(_progress_csv(results))
        (d / f"events.out.tfevents.{int(START)}.vm").write_bytes(b"")
    if spec.get("checkpoints"):
        for n in range(len(results)):
            ck = d / f"checkpoint_{n:06d}"
            ck.mkdir()
            (ck / "state.json").write_text(json.dumps({"iteration": n}))
    if "error" in spec:
        (d / "error.txt").write_text(_error_txt(spec["error"]))
        (d / "error.pkl").write_bytes(pickle.dumps(spec["error"]))


def _tune_row(metrics: dict, config: dict, trial_id: str, n: int, tag: str) -> dict:
    """A result row as Tune writes it: the reported metrics, then Tune's own keys (`done`,
    `training_iteration` and `config` may be given with the metrics: a scheduler's stop, a
    restored trial, PBT's changed config)."""
    row = {
        **metrics,
        "timestamp": int(START) + n,
        "checkpoint_dir_name": None,
        "done": False,
        "training_iteration": n + 1,
        "trial_id": trial_id,
        "date": DATE,
        "time_this_iter_s": 1.0,
        "time_total_s": float(n + 1),
        "pid": 4242,
        "hostname": "vm",
        "node_ip": "192.0.2.2",
        "config": config,
        "time_since_restore": float(n + 1),
        "iterations_since_restore": n + 1,
    }
    row.update({k: metrics[k] for k in ("done", "training_iteration", "config") if k in metrics})
    return row


def _trial_info(
    trainable: str, trial_id: str, config: dict, tag: str, status: str, dirname: str
) -> dict:
    fallback = {"_type": "CLOUDPICKLE_FALLBACK", "value": _NONE_PICKLE}
    return {
        "stub": False,
        "trainable_name": trainable,
        "trial_id": trial_id,
        "storage": fallback,
        "config": config,
        "_Trial__unresolved_config": config,
        "evaluated_params": {},
        "experiment_tag": tag,
        "stopping_criterion": {},
        "_setup_default_resource": True,
        "_default_placement_group_factory": _NONE_PICKLE,
        "placement_group_factory": _NONE_PICKLE,
        "log_to_file": [None, None],
        "max_failures": 0,
        "_default_result_or_future": None,
        "export_formats": [],
        "status": status,
        "relative_logdir": dirname,
        "trial_name_creator": None,
        "trial_dirname_creator": None,
        "custom_trial_name": None,
        "custom_dirname": None,
        "restore_path": None,
        "_restore_checkpoint_result": None,
        "_state_json": None,
        "results": _NONE_PICKLE,
        "extra_arg": _NONE_PICKLE,
        "_resources": _NONE_PICKLE,
    }


def _trial_runtime(results: list[dict], status: str, errored: bool) -> dict:
    last = dict(results[-1]) if results else {}
    if last and status == "TERMINATED":
        last["done"] = True
    return {
        "start_time": START if status != "PENDING" else None,
        "num_failures": int(errored),
        "num_failures_after_restore": 0,
        "error_filename": "error.txt" if errored else None,
        "pickled_error_filename": "error.pkl" if errored else None,
        "last_result": last,
        "last_result_time": START + len(results) if results else float("-inf"),
        "metric_analysis": {},
        "_n_steps": [5, 10],
        "metric_n_steps": {},
        "checkpoint_manager": _NONE_PICKLE,
    }


def _runner_data() -> dict:
    return {
        "_earliest_stopping_actor": 0.0,
        "_actor_cleanup_timeout": 600,
        "_reuse_actors": False,
        "_max_pending_trials": 200,
        "_metric": None,
        "_total_time": 1.0,
        "_iteration": 10,
        "_has_errored": False,
        "_fail_fast": False,
        "_start_time": START,
        "_session_str": DATE,
        "_checkpoint_period": "auto",
        "_resumed": False,
    }


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "/"))
        else:
            out[key] = v
    return out


def _progress_csv(results: list[dict]) -> str:
    rows = [_flat({k: v for k, v in r.items() if k != "config"}) for r in results]
    fields: dict[str, None] = {}
    for r in rows:
        fields.update(dict.fromkeys(r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue()


def _error_txt(error: str) -> str:
    return (
        f"Failure # 1 (occurred at {DATE})\n"
        "\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=4242, ip=192.0.2.2, "
        "actor_id=0123456789abcdef, repr=train_fn)\n"
        '  File "/site-packages/ray/tune/trainable/trainable.py", line 329, in train\n'
        "    raise skipped from exception_cause(skipped)\n"
        '  File "/site-packages/ray/tune/trainable/function_trainable.py", line 249, '
        "in _trainable_func\n"
        "    output = fn()\n"
        "             ^^^^\n"
        '  File "/work/tune_bench/sweep.py", line 1, in train_fn\n'
        "    raise exc\n"
        f"{error}\n"
    )
