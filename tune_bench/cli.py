"""The `tune-bench` command line: a thin layer over trainers, sweep and analysis.

Exit codes: 0 success; 1 some trials errored; 2 invalid input (options, search-space file);
3 dataset missing or corrupted; 4 resources unavailable (GPU, storage); 5 experiment directory
unusable; 130 interrupted (state saved, resumable).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from tune_bench.errors import (
    EXIT_INTERRUPTED,
    EXIT_TRIALS_FAILED,
    ConfigError,
    ResourceError,
    TuneBenchError,
)
from tune_bench.sweep.options import DEFAULT_MAX_FAILURES

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Ray Tune sweeps for ResNet and SVM studies, and their comparative tables.")
out = Console(soft_wrap=True)
screen = Console()  # wraps at the terminal's width: the end of a sweep, sized to the screen
err = Console(stderr=True, soft_wrap=True)

# `train resnet` validates on at most this many images per epoch and tests on as many once at
# the end (stratified subsets, the same for every seed), unless --n-eval says otherwise
# (--n-eval null: all). Sweeps keep the trial default (null: all images).
TRAIN_N_EVAL = 2000


DataDir = Annotated[str | None, typer.Option(
    "--data-dir", help="Dataset root (<root>/MNIST/raw, <root>/FashionMNIST/raw, "
    "<root>/cifar-10-batches-py); "
    "default: $TUNE_BENCH_DATA_DIR, Debian's location, torchvision's download.")]
# The end of a sweep or resume (shared by both commands).
ShowTables = Annotated[bool, typer.Option(help="End with the best configuration per dataset.")]
FullReport = Annotated[bool, typer.Option(
    help="End with the full markdown report (what `analyze` prints) instead.")]
ShowProgress = Annotated[bool, typer.Option(help="Show the phases and a live progress bar.")]


def parse_extra_options(args: list[str]) -> dict[str, Any]:
    """`--key value`, `--key=value`, `--flag`, `--no-flag`, `--set key=value` -> {key: value}
    (values read by `_scalar`)."""
    opts: dict[str, Any] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("--") or len(a) < 3:
            raise ConfigError(f"unexpected argument {a!r} (options look like --key value)")
        if a == "--set":
            opts.update(_overrides(args[i + 1:i + 2] or [""]))
            i += 2
            continue
        name, _, value = a[2:].partition("=")
        key = name.replace("-", "_")
        if not _:
            nxt = args[i + 1] if i + 1 < len(args) else None
            if nxt is None or nxt.startswith("--"):
                value = "false" if key.startswith("no_") else "true"
                key = key[3:] if key.startswith("no_") else key
            else:
                value = nxt
                i += 1
        opts[key] = _scalar(value)
        i += 1
    return opts


def _overrides(items: list[str]) -> dict[str, Any]:
    """`--set key=value` items -> {key: value} (values read by `_scalar`)."""
    res = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        res[key.strip()] = _scalar(value)
    return res


def _scalar(value: str) -> Any:
    """A command-line value as YAML reads it, and `1e-4` as a number (YAML 1.1 says string)."""
    if value == "":
        return None
    try:
        v = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def _option_error(e: ConfigError) -> ConfigError:
    """A ConfigError about `metric`/`mode` worded with the option the user types."""
    key, _, reason = str(e).partition(": ")
    return ConfigError(f"{_as_option(key)}: {reason}") if key in ("metric", "mode") else e


def _as_option(key: str) -> str:
    """'batch_size' -> '--batch-size': the option as the user typed it."""
    return f"--{key.replace('_', '-')}"


def _check_options(values: dict[str, Any], trainers: tuple[str, ...],
                   option: Callable[[str], str]) -> None:
    """Command-line trial values (`train --lr 0.1`, `sweep --set lr=0.1`) against the trial
    config of `trainers` (see `config.check_overrides`); the error names `option(key)`."""
    from tune_bench.config import TrialValueError, check_overrides

    try:
        check_overrides(values, trainers)
    except TrialValueError as e:
        raise ConfigError(f"{option(e.key)}: {e.reason}") from None


def _train_epilog() -> str:
    """The config keys of each trainer with their defaults and allowed values, and examples."""
    from tune_bench.config import TRAINERS, key_help

    parts = ["[bold]Config keys[/bold] (--key value, or --set key=value; default: allowed "
             "values)"]
    for trainer in TRAINERS:
        lines = [f"[bold]{trainer}[/bold]:"]
        for k, d, a in key_help(trainer):
            if trainer == "resnet" and k == "n_eval":  # train's own default (TRAIN_N_EVAL)
                d = f"{TRAIN_N_EVAL} (in sweeps: {d})"
            lines.append(f"  {_as_option(k)} {d}: {a}")
        parts.append("\n".join(lines))
    parts.append("[bold]Examples[/bold]:\n"
                 "  tune-bench train resnet --epochs 1 --n-train 2000 --optimizer sgd\n"
                 "  tune-bench train svm --kernel poly --degree 2 --n-train 1000 --json\n"
                 "  tune-bench train resnet --n-eval null  (validate and test on every image)")
    return "\n\n".join(parts)


def _version(value: bool) -> None:
    if value:
        from tune_bench import __version__

        out.print(f"tune-bench {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main_options(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """Ray Tune sweeps for ResNet and SVM studies, and their comparative tables."""


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             epilog=_train_epilog())
def train(
    ctx: typer.Context,
    trainer: Annotated[str, typer.Argument(help="resnet or svm")],
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Final metrics as JSON.")] = False,
) -> None:
    """One run without Ray. Any config key is an option: --model resnet50 --lr 1e-4 ...
    (or --set lr=1e-4, as for sweep). A ResNet is validated on at most 2000 images per epoch
    and tested on 2000 once at the end unless --n-eval says otherwise (--n-eval null: all)."""
    from tune_bench import plugins, session
    from tune_bench.config import trainer_keys, validate_trial

    with plugins.search_path(Path.cwd()):  # `train my_module:train` from here
        spec = plugins.resolve(trainer, what="TRAINER")
    opts = parse_extra_options(ctx.args)
    threads = opts.pop("threads", None)
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"--threads: must be an integer >= 1 (got {threads!r})")
    _check_options(opts, (trainer,), _as_option)
    if "n_eval" in (trainer_keys(trainer) or ()):  # a quick look by default: see TRAIN_N_EVAL
        opts.setdefault("n_eval", TRAIN_N_EVAL)
    cfg = validate_trial(trainer, opts)
    config = {"trainer": trainer, **(cfg if isinstance(cfg, dict) else cfg.model_dump())}
    from tune_bench.data import load_split
    from tune_bench.sweep.options import phase

    say = not as_json
    split = None
    if config.get("dataset"):
        phase(f"decoding {config['dataset']} ({config.get('split', 'seeds')} split)", say)
        split = load_split(config["dataset"], config.get("split", "seeds"), data_dir)
        if spec.describe is not None:
            phase(spec.describe(cfg, split), say)

    def on_report(m: dict[str, Any], _state: Any) -> None:
        if say and spec.show_epoch is not None:
            out.print(spec.show_epoch(m, cfg), highlight=False)

    run = session.Session(split, threads, None, on_report)
    with session.running(run):
        result = spec(config)
    metrics = result if isinstance(result, dict) else run.reports[-1] if run.reports else {}
    if as_json:
        print(json.dumps(metrics, default=str))
        return
    out.print("[bold]final[/bold]  " + "  ".join(_final_items(metrics)), highlight=False)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _final_items(m: dict[str, Any]) -> list[str]:
    """The final metrics as the tables show them: accuracies in %, times in s."""
    items = []
    for key, text in (("test_acc", "test acc"), ("train_acc", "train acc")):
        if key in m:
            items.append(f"{text} {_pct(m[key])}")
    if "test_loss" in m:
        items.append(f"test loss {m['test_loss']:.4f}")
    for key, text in (("train_time_ms", "train time"), ("predict_time_ms", "predict time")):
        if key in m:
            items.append(f"{text} {m[key] / 1000:.2f} s")
    for key in ("macs", "params"):
        if key in m:
            items.append(f"{key} {m[key] / 1e6:.1f} M")
    for key in ("n_support", "svm_backend", "svm_predict", "device_name", "n_train_used",
                "n_test_used", "n_eval_used"):
        if key in m:
            items.append(f"{key.replace('_', ' ')} {m[key]}")
    return items


@app.command(epilog="[bold]Examples[/bold]:\n"
             "  tune-bench sweep search_spaces/smoke.yaml --drop-gpu-trials\n"
             "  tune-bench sweep search_spaces/q1a_resnet.yaml --dry-run --set lr=1e-3\n"
             "  tune-bench sweep space.yaml --address auto --storage-path s3://bucket/runs")
def sweep(
    space: Annotated[Path, typer.Argument(help="Search-space YAML file (see search_spaces/).")],
    name: Annotated[str | None, typer.Option(help="Experiment name (default: the file's).")] = None,
    storage_path: Annotated[str, typer.Option(
        help="Experiments' root: a local path or a URI (s3://bucket/prefix?endpoint_override="
        "http://host:port, gs://bucket/prefix); credentials from the environment.")
    ] = "ray_results",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster to join ('auto' or host:port); default: start Ray locally.")] = None,
    data_dir: DataDir = None,
    max_concurrent: Annotated[int | None, typer.Option(
        min=1, help="Trials running at once at most (default: the space's max_concurrent, "
        "else as many as the resources allow).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the trials; run nothing.")] = False,
    drop_gpu_trials: Annotated[bool, typer.Option(
        help="Drop GPU trials, with a warning, when the cluster has no GPU.")] = False,
    cpus_per_trial: Annotated[float | None, typer.Option(
        min=0.01, help="CPUs each trial asks Ray for, replacing the space's resources.")
    ] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(
        min=0.0, help="GPUs (or a fraction, e.g. 0.25) each GPU trial asks Ray for, "
        "replacing the space's resources.")] = None,
    max_failures: Annotated[int, typer.Option(
        min=0, help="Retries of a failed trial.")] = DEFAULT_MAX_FAILURES,
    num_cpus: Annotated[int | None, typer.Option(min=1, help="CPUs of the local Ray.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a value in every trial: --set n_train=500.")] = None,
    repeats: Annotated[int | None, typer.Option(
        min=1, help="Run every grid point N times, with seeds seed, seed+1, ... (replaces the "
        "space's num_samples; the tables then show mean ± CI).")] = None,
    keep_checkpoints: Annotated[bool, typer.Option(
        help="Keep finished trials' checkpoints (default: deleted once safe).")] = False,
    shared_storage: Annotated[bool, typer.Option(
        help="The local --storage-path is a shared mount, at the same place on every node of "
        "the cluster.")] = False,
    tables: ShowTables = True,
    full_report: FullReport = False,
    progress: ShowProgress = True,
    forecast: Annotated[bool, typer.Option(
        "--forecast", help="Print the forecast of the sweep's wall time (calibrating the trial "
        "shapes not in the cache, about a minute) and start nothing.")] = False,
    calibration: Annotated[Path | None, typer.Option(
        help="Calibration file from `tune-bench calibrate` (e.g. recorded on a machine with a "
        "GPU), used before this machine's cache.")] = None,
) -> None:
    """Run a search-space file as a Ray Tune sweep."""
    from tune_bench.config import TRAINERS
    from tune_bench.space import describe_trials, load_space, names_plugin
    from tune_bench.sweep.options import phase

    phase(f"checking {space}", progress and not dry_run)
    overrides = _overrides(set_ or [])
    try:
        _check_options(overrides, TRAINERS, lambda key: f"--set {key}")
    except ConfigError:
        if not names_plugin(space):
            raise  # else the plug-in's own config checks them with the file
    if cpus_per_trial is not None:
        overrides["cpus_per_trial"] = cpus_per_trial
    if gpus_per_trial is not None:
        overrides["gpus_per_trial"] = gpus_per_trial
    if repeats is not None:
        overrides["num_samples"] = repeats
    spec = load_space(space, overrides or None)
    for note in spec.notes:
        out.print(f"note: {note}", markup=False, highlight=False)
    if dry_run:
        _print_dry_run(spec, describe_trials(spec), drop_gpu_trials, address)
    fc = _forecast(spec, data_dir, drop_gpu_trials, num_cpus, max_concurrent, calibration,
                   calibrate=forecast, say=progress, address=address, join=not dry_run,
                   storage=None if dry_run else storage_path)
    if fc is not None and (dry_run or forecast):  # a sweep says its first line as it starts
        from tune_bench.forecast import lines

        for line in lines(fc):
            out.print(line, markup=False, highlight=False)
    elif dry_run:
        out.print("forecast: some trial shapes are not calibrated on this machine yet: add "
                  "--forecast to time them (about a minute)", markup=False, highlight=False)
    if dry_run or forecast:
        return
    from tune_bench import sweep as sw

    opts = sw.SweepOptions(storage_path=storage_path, name=name, address=address,
                           data_dir=data_dir, max_concurrent=max_concurrent,
                           max_failures=max_failures, drop_gpu_trials=drop_gpu_trials,
                           num_cpus=num_cpus, progress=progress,
                           keep_checkpoints=keep_checkpoints, overrides=overrides or None,
                           shared_storage=shared_storage)
    outcome = sw.run_sweep(spec, opts, forecast=fc)
    _finish(outcome, tables, full_report)


def _forecast(spec: Any, data_dir: str | None, drop_gpu: bool, num_cpus: int | None,
              max_concurrent: int | None, calibration: Path | None, calibrate: bool,
              say: bool = True, address: str | None = None, join: bool = True,
              storage: str | None = None) -> dict[str, Any] | None:
    """The sweep's forecast: printed when `calibrate` (--forecast: shapes not in the cache are
    timed now); else, for a sweep or a dry run, made only from the cache or the calibration
    file, quietly (None when some shape is not calibrated). With `address` and `join`, the
    cluster is joined (and left): its nodes are simulated, its cache read and shapes timed on
    them. A remote `storage`'s write speed is probed (checkpoint uploads)."""
    from tune_bench import forecast as fcm

    cluster = None
    try:
        if address and join:
            from tune_bench.sweep.calibration import Cluster

            cluster = Cluster(address)  # a cluster that cannot be joined: one line, exit
            nodes, gpus = cluster.nodes, cluster.gpus
        else:
            nodes, gpus = fcm.local_nodes(num_cpus)
        points = fcm.runnable_points(spec, drop_gpu, gpus)
        fc = fcm.forecast(spec, points, data_dir, nodes, gpus,
                          max_concurrent or spec.max_concurrent,
                          str(calibration) if calibration else None, calibrate, say, cluster,
                          storage)
    except (ConfigError, ResourceError):  # a bad --calibration file, no cluster: one line
        raise
    except Exception as e:  # a dry run or a sweep goes on without a forecast
        if calibrate:
            raise
        if not isinstance(e, TuneBenchError):  # (the sweep itself reports missing data)
            err.print(f"warning: no forecast ({type(e).__name__}: {e})", markup=False,
                      highlight=False)
        return None
    finally:
        if cluster is not None:
            cluster.close()
    if fc is not None and address and cluster is None:  # a dry run joins nothing
        fc["notes"].append("simulated on this machine's resources: --forecast joins the "
                           "cluster, simulates its nodes and times the shapes there")
    return fc


@app.command(epilog="[bold]Example[/bold]: tune-bench calibrate search_spaces/q1a_resnet.yaml "
             "--out gpu_host.json --data-dir ../shared/data")
def calibrate(
    space: Annotated[Path, typer.Argument(help="Search-space YAML file.")],
    out_file: Annotated[Path, typer.Option("--out", help="Calibration file to write.")],
    data_dir: DataDir = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a value in every trial, as for sweep.")] = None,
) -> None:
    """Time each trial shape of a space on this machine (what `sweep --forecast` does) and
    write the timings to a file that `sweep --calibration FILE` reads on another machine."""
    from tune_bench import forecast as fcm
    from tune_bench.config import TRAINERS
    from tune_bench.forecast import calibrate as cal
    from tune_bench.space import load_space

    overrides = _overrides(set_ or [])
    _check_options(overrides, TRAINERS, lambda key: f"--set {key}")
    spec = load_space(space, overrides or None)
    _, gpus = fcm.local_nodes()
    points = fcm.runnable_points(spec, True, gpus)
    data = fcm.calibration_for(spec, points, data_dir, gpus, say=True)
    cal.save_file(data, out_file)
    skipped = len(spec.points) - len(points)
    out.print(f"calibrated {len(data['shapes'])} trial shape(s) on {data['machine']['host']}; "
              f"wrote {out_file}" + (f" ({skipped} GPU point(s) skipped: no GPU here)"
                                     if skipped else ""), markup=False, highlight=False)


def _print_dry_run(spec: Any, trials: list[dict[str, Any]], drop_gpu: bool = False,
                   address: str | None = None) -> None:
    """The trials a sweep would run; with --drop-gpu-trials, the GPU trials it would drop
    (on this machine: when it has no GPU; on a cluster: if the cluster has none)."""
    from tune_bench.sweep.options import local_gpus
    from tune_bench.tune_dir import trial_label

    gpu = [float((t.get("resources") or {}).get("gpu", 0)) > 0 for t in trials]
    why = ""
    if drop_gpu and any(gpu):
        if address:
            why = "dropped if the cluster has no GPU"
        elif local_gpus() == 0:
            why = "dropped: no GPU here (--drop-gpu-trials)"
    n_drop = sum(gpu) * spec.tune_num_samples if why.startswith("dropped:") else 0
    runs = f"{spec.n_trials - n_drop} trial(s)" + (f" ({n_drop} GPU trial(s) dropped)"
                                                   if n_drop else "")
    out.print(f"{spec.name}: {runs} from {spec.source} (dry run: nothing started)",
              markup=False, highlight=False)
    for i, t in enumerate(trials):
        cfg = {k: v for k, v in t.items() if k != "resources"}
        mark = f"  {why}" if why and gpu[i] else ""
        out.print(f"{i:4d}  {trial_label(cfg):55s}  {t.get('resources', '')}{mark}",
                  markup=False, highlight=False)
    if spec.random_axes:
        axes = ", ".join(f"{k}~{v.kind}{tuple(v.args)}" for k, v in spec.random_axes.items())
        out.print(f"random axes: {axes}; {spec.tune_num_samples} sample(s) of each point",
                  markup=False)


def _finish(outcome: Any, tables: bool, full_report: bool = False) -> None:
    """Print a sweep's notes (each once), its trial counts, the best configuration per
    dataset (or, with `full_report`, the whole markdown report); exit 130 when interrupted, 1
    when trials errored."""
    from tune_bench import api
    from tune_bench.report.summary import headline

    for note in dict.fromkeys(outcome.notes):
        err.print(f"warning: {note}", markup=False, highlight=False)
    head = headline(outcome.path, outcome.states, outcome.wall_s, outcome.stopped_early,
                    outcome.interrupted)
    (screen if screen.is_terminal else out).print(head)
    if tables and outcome.states.get("TERMINATED"):
        if full_report:
            out.print(api.analyze([outcome.path], fmt="markdown", out=None), markup=False,
                      highlight=False)
        else:
            screen.print(api.open_experiment(outcome.path).summary())
    if outcome.interrupted:
        # quoted when it must be: a storage URI has '?' and '&'
        err.print("interrupted: state saved; continue with: tune-bench resume "
                  f"{shlex.quote(str(outcome.path))}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    if outcome.errored:
        err.print(f"{len(outcome.errored)} trial(s) errored:")
        for trial, msg in outcome.errored:
            err.print(f"  {trial}: {msg}")
        raise typer.Exit(EXIT_TRIALS_FAILED)


@app.command(epilog="[bold]Example[/bold]: tune-bench resume ray_results/smoke")
def resume(
    experiment_dir: Annotated[str, typer.Argument(
        help="The experiment directory, or its URI (s3://...).")],
    retry_errored: Annotated[bool, typer.Option(help="Run errored trials again.")] = False,
    data_dir: DataDir = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster to join.")] = None,
    num_cpus: Annotated[int | None, typer.Option(min=1, help="CPUs of the local Ray.")] = None,
    tables: ShowTables = True,
    full_report: FullReport = False,
    progress: ShowProgress = True,
) -> None:
    """Continue an interrupted sweep (Tuner.restore): finished trials are kept."""
    from tune_bench import sweep as sw

    outcome = sw.resume_sweep(experiment_dir, retry_errored=retry_errored, data_dir=data_dir,
                              address=address, progress=progress, num_cpus=num_cpus)
    _finish(outcome, tables, full_report)


@app.command(epilog="[bold]Example[/bold]: tune-bench status ray_results/smoke")
def status(
    experiment_dir: Annotated[str, typer.Argument(
        help="The experiment directory, or its URI (s3://...).")],
    metric: Annotated[str | None, typer.Option(
        help="Metric the best trial is chosen by (default: the sweep's, else Tune's own, "
        "else the only one the trials report).")] = None,
    mode: Annotated[str | None, typer.Option(
        help="max or min: whether a higher metric is better.")] = None,
) -> None:
    """Trials per state and the best so far, read from disk (no Ray needed)."""
    from tune_bench import api
    from tune_bench.storage import is_uri
    from tune_bench.tune_dir import check_not_storage_root

    if not is_uri(experiment_dir):
        check_not_storage_root(Path(experiment_dir), "status")
    try:
        out.print(api.load(experiment_dir, metric, mode).status())
    except ConfigError as e:
        raise _option_error(e) from None


@app.command(epilog="[bold]Examples[/bold]:\n"
             "  tune-bench analyze ray_results/smoke\n"
             "  tune-bench analyze ray_results/q1a ray_results/q1b --format html --out report")
def analyze(
    dirs: Annotated[list[str], typer.Argument(
        help="Experiment directories or URIs (s3://...), analyzed together.")],
    fmt: Annotated[str, typer.Option("--format", help="markdown|csv|latex|html")] = "markdown",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output directory.")] = None,
    export: Annotated[str | None, typer.Option(
        help="Also export the trials: parquet or csv.")] = None,
    metric: Annotated[str | None, typer.Option(
        help="Metric the findings analyze (default: the saved spec's, else test_acc).")] = None,
    mode: Annotated[str | None, typer.Option(
        help="max or min: whether a higher metric is better (default: the saved spec's, "
        "else max).")] = None,
    claims: Annotated[Path | None, typer.Option(
        help="A YAML file of claims to test (stated after the sweep).")] = None,
) -> None:
    """Findings, comparative tables (and plots, for html) from one or more experiments."""
    from tune_bench import api
    from tune_bench.storage import is_uri
    from tune_bench.tune_dir import check_not_storage_root

    for d in dirs:
        if not is_uri(d):
            check_not_storage_root(Path(d), "analyze")
    if (fmt != "markdown" or export) and out_dir is None:
        out_dir = Path("tune_bench_report")
    try:
        text = api.analyze(list(dirs), fmt=fmt, out=out_dir, export=export, metric=metric,
                           mode=mode, claims=claims)
    except ConfigError as e:
        raise _option_error(e) from None
    out.print(text, markup=False, highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; turn tune-bench errors into one line and an exit code."""
    try:
        # Not standalone, typer *returns* the code of a typer.Exit (and 130 for Ctrl+C) instead
        # of exiting with it.
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            sys.exit(code)
    except TuneBenchError as e:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:  # click usage errors and the like
        # typer >= 0.2x raises its vendored click's exceptions (typer._click), which are not
        # click.ClickException: recognise both by their interface, not their class.
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()
            sys.exit(e.exit_code)
        if callable(getattr(e, "format_message", None)) and isinstance(
                getattr(e, "exit_code", None), int):
            msg = " ".join(e.format_message().split())
            err.print(f"error: {msg}", markup=False, highlight=False)
            sys.exit(e.exit_code)
        if type(e).__name__ == "Abort":
            sys.exit(EXIT_INTERRUPTED)
        raise


if __name__ == "__main__":
    main()
