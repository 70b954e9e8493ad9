"""The sweep layer: resource planning, param spaces, real sweeps on the session's Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tune_bench.errors import ResourceError
from tune_bench.space import parse_space
from tune_bench.sweep import SweepOptions, param_space, plan_resources, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def _space(**extra) -> dict:
    base = {
        "name": "t",
        "fixed": {"n_train": 60, "split": "seeds"},
        "blocks": [
            {"fixed": {"trainer": "resnet", "model": "resnet18", "epochs": 2, "n_eval": 30,
                       "batch_size": 32},
             "axes": {"optimizer": ["sgd", "adam"]}},
            {"fixed": {"trainer": "svm", "kernel": "rbf", "n_test": 50},
             "axes": {"C": [1.0, 10.0]}},
        ],
        "axes": {"dataset": ["mnist"]},
    }
    base.update(extra)
    return base


def _results(trial_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]


def _trial_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and (p / "params.json").exists())


# ---------------------------------------------------------------- planning (no Ray)

def test_gpu_trials_on_a_cluster_without_gpus_fail_fast():
    spec = parse_space({**_space(), "fixed": {"n_train": 60, "device": "gpu"}}, "gpu.yaml")
    nodes = [{"CPU": 2.0}]
    with pytest.raises(ResourceError, match="ask for a GPU but the Ray cluster has none"):
        plan_resources(spec, {"CPU": 2.0}, nodes)


def test_drop_gpu_trials_keeps_the_cpu_ones():
    data = _space()
    data["axes"] = {"dataset": ["mnist"], "device": ["cpu", "gpu"]}
    spec = parse_space(data, "mixed.yaml")
    kept, notes = plan_resources(spec, {"CPU": 2.0}, [{"CPU": 2.0}], drop_gpu=True)
    assert len(kept) == len(spec.points) // 2 and all(p["device"] == "cpu" for p in kept)
    assert notes and "dropped" in notes[0]


def test_request_larger_than_any_node_is_refused():
    data = _space(resources={"cpu": {"cpu": 8}})
    spec = parse_space(data, "big.yaml")
    with pytest.raises(ResourceError, match="no node has that much"):
        plan_resources(spec, {"CPU": 8.0}, [{"CPU": 4.0}, {"CPU": 4.0}])


def test_param_space_puts_grid_points_under_variant():
    from ray import tune

    spec = parse_space(_space(), "s.yaml")
    ps = param_space(spec, spec.points)
    assert ps["variant"] == tune.grid_search(spec.points)
    data = _space()
    data["axes"] = {"dataset": ["mnist"], "lr": {"loguniform": [1e-4, 1e-2]}}
    data["blocks"] = data["blocks"][:1]
    data["num_samples"] = 3
    spec = parse_space(data, "r.yaml")
    ps = param_space(spec, spec.points)
    assert ps["lr"].lower == pytest.approx(1e-4) and spec.tune_num_samples == 3


# ---------------------------------------------------------------- real sweeps

def _light_trial(config, datasets=None):
    """Stands in for a GPU trainer on a machine without CUDA: reports what it was granted."""
    import ray
    from ray import tune

    start = time.time()
    time.sleep(1.5)
    granted = tune.get_context().get_trial_resources().required_resources
    tune.report({"granted": granted, "start": start, "end": time.time(), "final": True,
                 "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
                 "node_id": ray.get_runtime_context().get_node_id(), "test_acc": 0.5})


def test_cpu_and_gpu_trials_run_at_once_each_on_its_own_resources(ray_session, tmp_path,
                                                                   tiny_root):
    # one CPU trial fills 1.5 of the 2 CPUs: the rest of the sweep can only overlap with it
    # by running GPU trials beside it
    data = _space(resources={"cpu": {"cpu": 1.5}, "gpu": {"cpu": 0.5, "gpu": 0.5}})
    data["blocks"] = data["blocks"][1:]
    data["axes"] = {"dataset": ["mnist"], "device": ["cpu", "gpu"]}
    spec = parse_space(data, "mixed.yaml")
    opts = SweepOptions(storage_path=str(tmp_path), data_dir=str(tiny_root), progress=False)
    out = run_sweep(spec, opts, trainable_fn=_light_trial)
    assert out.ok, out
    rows = [(json.loads((d / "params.json").read_text()), _results(d)[-1])
            for d in _trial_dirs(out.path)]
    gpu = [r for c, r in rows if c["variant"]["device"] == "gpu"]
    cpu = [r for c, r in rows if c["variant"]["device"] == "cpu"]
    assert len(gpu) == len(cpu) == 2
    assert all(r["granted"].get("GPU") == 0.5 and r["cuda_visible_devices"] for r in gpu)
    assert all(not r["granted"].get("GPU") and r["cuda_visible_devices"] == "" for r in cpu)
    assert all(r["granted"]["CPU"] == 1.5 for r in cpu)
    overlap = any(g["start"] < c["end"] and c["start"] < g["end"] for g in gpu for c in cpu)
    assert overlap, "a CPU trial and a GPU trial should have run at the same time"


def test_real_sweep_records_provenance_and_checkpoints(ray_session, tmp_path, tiny_root,
                                                       monkeypatch):
    spec = parse_space(_space(), "small.yaml")
    opts = SweepOptions(storage_path=str(tmp_path), data_dir=str(tiny_root), progress=False)
    out = run_sweep(spec, opts)
    assert out.ok and out.n_trials == 4 and out.states == {"TERMINATED": 4}
    saved = json.loads((out.path / "tune_bench_spec.json").read_text())
    assert len(saved["points"]) == 4 and saved["options"]["data_dir"] == str(tiny_root)
    for d in _trial_dirs(out.path):
        res = _results(d)
        last = res[-1]
        assert last["final"] and last["data_from"] == "driver"  # handed over, not re-read
        assert last["node_id"] and last["hostname"] and last["versions"]["torch"]
        assert last["resources"] == {"cpu": 1} and last["seed"] == 0
        if json.loads((d / "params.json").read_text())["variant"]["trainer"] == "resnet":
            assert [r["epoch"] for r in res] == [1, 2] and last["torch_threads"] == 1
            assert not list(d.glob("checkpoint_*"))  # finished: its checkpoint was pruned
    # the same name again is refused instead of mixing two sweeps
    from tune_bench.errors import ExperimentError

    with pytest.raises(ExperimentError, match="exists already"):
        run_sweep(spec, opts)


def _epochs_trial(config, datasets=None):
    """Reports a ResNet trial's epochs like run_trial (`final` and test_acc on the last one
    only), with val_acc = lr: which trials ASHA stops does not depend on training."""
    from ray import tune

    from tune_bench.tune_dir import flatten_config

    c = flatten_config(config)
    for epoch in range(1, c["epochs"] + 1):
        row = {"epoch": epoch, "val_acc": c["lr"]}
        if epoch == c["epochs"]:
            row.update(final=True, test_acc=c["lr"])
        tune.report(row)


ASHA_SPACE = textwrap.dedent("""
    name: asha
    metric: val_acc
    fixed: {trainer: resnet, model: resnet18, dataset: mnist, n_train: 60, n_eval: 30,
            epochs: 3, device: cpu}
    axes: {lr: [0.9, 0.2, 0.3, 0.1]}
    scheduler: {type: asha, max_t: 3, grace_period: 1, reduction_factor: 2}
    max_concurrent: 1
""")


def test_sweep_with_trials_stopped_by_asha_exits_0(ray_session, tmp_path, tiny_root, capsys,
                                                   monkeypatch):
    """Issue 15: a sweep whose trials ASHA stopped early finished: exit 0, not 130
    ("interrupted"); the summary line, `status` and the trials frame say which stopped early."""
    from tune_bench.analysis import load_experiments
    from tune_bench.cli import main
    from tune_bench.sweep import run as sweep_run

    monkeypatch.setattr(sweep_run, "run_trial", _epochs_trial)
    space = tmp_path / "asha.yaml"
    space.write_text(ASHA_SPACE)
    main(["sweep", str(space), "--storage-path", str(tmp_path / "rr"), "--data-dir",
          str(tiny_root), "--no-progress", "--no-tables"])  # exits (SystemExit) unless 0
    out = capsys.readouterr()
    assert "interrupted" not in out.err and ": 4 trials: 4 finished;" in out.out, out
    exp = tmp_path / "rr" / "asha"
    df = load_experiments([exp]).set_index("lr")
    early = df[df["stopped_early"]]
    # run one at a time in grid order, 0.9 is never below ASHA's cutoff; the others are
    assert df.loc[0.9, "epoch"] == 3 and not df.loc[0.9, "stopped_early"]
    assert sorted(early.index) == [0.1, 0.2, 0.3] and set(early["epoch"]) == {1}
    assert (df["state"] == "TERMINATED").all()
    assert "; 3 stopped early (ASHA) at epoch 1" in out.out
    main(["status", str(exp)])
    status = capsys.readouterr().out
    assert "4 trials: 4 finished; 3 stopped early (ASHA) at epoch 1" in status, status


CLUSTER_SCRIPT = textwrap.dedent("""
    import sys
    from ray.cluster_utils import Cluster
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    c.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    c.wait_for_nodes()
    print(c.address, flush=True)
    sys.stdin.read()   # until the test closes our stdin
    c.shutdown()
""")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_node_cluster_runs_trials_on_both_nodes(tmp_path, tiny_root):
    space = tmp_path / "svm.yaml"
    space.write_text(textwrap.dedent("""
        name: two_nodes
        fixed: {trainer: svm, dataset: mnist, n_train: 100, n_test: 50, kernel: rbf}
        axes: {C: [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]}
    """))
    head = subprocess.Popen([sys.executable, "-c", CLUSTER_SCRIPT], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        address = head.stdout.readline().strip()
        assert address, "the local cluster did not start"
        args = [sys.executable, "-m", "tune_bench.cli", "sweep", str(space), "--address",
                address, "--storage-path", str(tmp_path / "rr"), "--data-dir", str(tiny_root),
                "--no-progress", "--no-tables"]
        # a local storage path on two nodes: refused (issue 16) before anything is written,
        # unless the user says it is a shared mount (as it is here: one machine)
        run = subprocess.run(args, capture_output=True, text=True, timeout=180)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 4 and len(lines) == 1, run.stderr[-2000:]
        assert "has 2 nodes" in lines[0] and "--shared-storage" in lines[0], lines
        assert not (tmp_path / "rr" / "two_nodes").exists()
        run = subprocess.run([*args, "--shared-storage"], capture_output=True, text=True,
                             timeout=180)
        assert run.returncode == 0, run.stderr[-2000:]
        nodes = {_results(d)[-1]["node_id"] for d in _trial_dirs(tmp_path / "rr" / "two_nodes")}
        assert len(nodes) == 2
    finally:
        head.stdin.close()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)  # whatever of ours is left
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------- options and resources (no Ray)

def test_saved_overrides_old_and_new_format():
    from tune_bench.sweep.options import saved_overrides

    assert saved_overrides({"overrides": {"n_train": 300}}) == {"n_train": 300}
    assert saved_overrides({"extra": {"overrides": {"lr": 0.1}}}) == {"lr": 0.1}  # before #15
    assert saved_overrides({"num_gpus": None}) is None


def test_trial_reads_its_resources_from_tunes_context():
    from types import SimpleNamespace

    from tune_bench.sweep.trainable import granted_resources

    def ctx(**granted):
        factory = SimpleNamespace(required_resources=granted)
        return SimpleNamespace(get_trial_resources=lambda: factory)

    assert granted_resources(ctx(CPU=1.0)) == {"cpu": 1}
    assert granted_resources(ctx(CPU=0.5, GPU=0.25, memory=0)) == {"cpu": 0.5, "gpu": 0.25}
    assert granted_resources(ctx(CPU=2.0, GPU=0.0)) == {"cpu": 2}
