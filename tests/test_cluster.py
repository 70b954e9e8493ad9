"""tune-bench on a real two-host Ray cluster with its results in object storage (issue 16).

Two hosts in network + mount namespaces on this machine (tests/hosts.py), a Ray node with 1 CPU
on each (token auth), moto's S3 server on the head; the worker sees neither the datasets nor the
head's files. First the harness itself and a plain Ray Tune run on it; then tune-bench's CLI
(`python -m tune_bench.cli`, what the `tune-bench` script runs) started on the head with
`--address 10.77.0.1:6379 --storage-path s3://...`: a sweep on both hosts and `analyze` of its
bucket, a SIGKILL of the driver and `resume`, bad storage, a node failure (the worker host
killed mid-sweep), in that order: the node failure restarts the worker afterwards. Needs root
and iproute2: fails (never skips) without them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.hosts import HEAD_IP, WORKER_IP, TwoHosts, netns_list, tail

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

TASKS_ON_EACH_NODE = """
import json, os, socket, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

@ray.remote(num_cpus=1)
def where(paths):
    return {"ip": ray.util.get_node_ip_address(), "hostname": socket.gethostname(),
            "sees": {p: os.path.exists(p) for p in paths}}

ray.init(address=ADDRESS, logging_level="ERROR", log_to_driver=False)
nodes = [n for n in ray.nodes() if n["Alive"]]
refs = [where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            n["NodeID"], soft=False)).remote(PATHS) for n in nodes]
print(json.dumps({n["NodeManagerAddress"]: r for n, r in zip(nodes, ray.get(refs))}))
"""

S3_WRITE_READ = """
import pyarrow.fs as pafs
fs, path = pafs.FileSystem.from_uri(URI)
with fs.open_output_stream(path + "/" + NAME) as out:
    out.write(PAYLOAD.encode())
with fs.open_input_stream(path + "/" + NAME) as src:
    print(src.read().decode())
"""

# A function trainable as Tune's docs write one; 1 CPU per trial, 2 CPUs in the cluster.
TUNE_RUN = """
import json, time
import ray
from ray import tune

def trainable(config):
    for step in range(3):
        time.sleep(0.5)
        tune.report({"score": config["x"] * (step + 1)})

ray.init(address=ADDRESS, logging_level="ERROR")
tuner = tune.Tuner(
    tune.with_resources(trainable, {"cpu": 1}),
    param_space={"x": tune.grid_search([1, 2, 3, 4])},
    run_config=tune.RunConfig(name=NAME, storage_path=URI, verbose=0),
)
grid = tuner.fit()
print(json.dumps({"errors": len(grid.errors), "path": grid.experiment_path,
                  "trials": [r.metrics["trial_id"] for r in grid]}))
"""


def script(template: str, **values: object) -> str:
    """`template` with its upper-case names bound to `values` (as Python literals)."""
    header = "".join(f"{k} = {v!r}\n" for k, v in values.items())
    return header + textwrap.dedent(template)


def run_python(cluster: TwoHosts, code: str, host: str = "head", timeout: float = 120) -> str:
    """Run `code` on a host; its stdout, or a failure with the output and Ray's logs."""
    runner = cluster.run_on_head if host == "head" else cluster.run_on_worker
    done = runner([sys.executable, "-c", code], timeout=timeout)
    assert done.returncode == 0, (f"exit {done.returncode}\n{done.stdout[-2000:]}\n"
                                  f"{done.stderr[-4000:]}\n{cluster.ray_logs(cluster.head)}")
    return done.stdout


def a_file_in(root: Path) -> Path:
    """Some file under `root` (the test checks the worker cannot see it)."""
    return next(p for p in sorted(root.rglob("*")) if p.is_file())


def test_two_alive_nodes_with_their_own_address_and_hostname(two_hosts: TwoHosts) -> None:
    nodes = two_hosts.wait_nodes(2, timeout=30)
    assert sorted(n["ip"] for n in nodes) == [HEAD_IP, WORKER_IP]
    assert len({n["hostname"] for n in nodes}) == 2
    assert {n["hostname"] for n in nodes} == {two_hosts.head.hostname,
                                              two_hosts.worker.hostname}


def test_tasks_run_on_each_node_and_the_worker_sees_no_hidden_directory(
        two_hosts: TwoHosts, tiny_root: Path) -> None:
    data_file = a_file_in(tiny_root)
    head_private = two_hosts.head.token_path
    worker_private = two_hosts.worker.token_path
    paths = [str(data_file), str(head_private), str(worker_private)]
    out = run_python(two_hosts, script(TASKS_ON_EACH_NODE, ADDRESS=two_hosts.address,
                                       PATHS=paths))
    seen = json.loads(out.strip().splitlines()[-1])
    assert set(seen) == {HEAD_IP, WORKER_IP}
    assert seen[HEAD_IP]["ip"] == HEAD_IP and seen[WORKER_IP]["ip"] == WORKER_IP
    assert seen[HEAD_IP]["hostname"] == two_hosts.head.hostname
    assert seen[WORKER_IP]["hostname"] == two_hosts.worker.hostname
    # A Ray worker process on the worker host: no dataset, no head-private files.
    assert seen[WORKER_IP]["sees"] == {str(data_file): False, str(head_private): False,
                                       str(worker_private): True}
    assert seen[HEAD_IP]["sees"] == {str(data_file): True, str(head_private): True,
                                     str(worker_private): False}
    # And a plain shell on the worker host: the dataset directory is empty there.
    listing = two_hosts.run_on_worker(["ls", "-A", str(tiny_root)], timeout=30)
    assert listing.returncode == 0 and listing.stdout == ""
    assert data_file.exists()  # ... while it is there for the machine itself


def test_the_worker_host_writes_and_reads_the_bucket(two_hosts: TwoHosts) -> None:
    uri = two_hosts.storage_uri(two_hosts.bucket, "from-worker")
    out = run_python(two_hosts, script(S3_WRITE_READ, URI=uri, NAME="hello.txt",
                                       PAYLOAD="written on the worker"), host="worker")
    assert out.strip() == "written on the worker"
    assert "from-worker/hello.txt" in two_hosts.s3_list(two_hosts.bucket)  # seen from the head


def test_a_tune_run_from_the_head_uses_both_nodes_and_stores_results_in_the_bucket(
        two_hosts: TwoHosts) -> None:
    bucket = two_hosts.new_bucket()
    uri = two_hosts.storage_uri(bucket, "runs")
    out = run_python(two_hosts, script(TUNE_RUN, ADDRESS=two_hosts.address, URI=uri,
                                       NAME="plain"), timeout=150)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["errors"] == 0 and len(summary["trials"]) == 4
    files = two_hosts.s3_list(bucket, "runs/plain")
    results = [f for f in files if f.endswith("/result.json")]
    assert len(results) == 4, files
    assert any(Path(f).name.startswith("experiment_state") for f in files), files
    # Nothing of the experiment went to a local directory on the head (e.g. a dir named 's3:').
    assert not list(two_hosts.head.home.glob("s3*"))
    local = two_hosts.s3_download(bucket, "runs/plain", two_hosts.head.home / "copy")
    rows = [json.loads(line) for f in local.rglob("result.json")
            for line in f.read_text().splitlines() if line.strip()]
    assert {r["trial_id"] for r in rows} == set(summary["trials"])
    assert {r["node_ip"] for r in rows} == {HEAD_IP, WORKER_IP}
    assert {r["hostname"] for r in rows} == {two_hosts.head.hostname,
                                            two_hosts.worker.hostname}
    assert max(r["training_iteration"] for r in rows) == 3


# --------------------------------------------------------------------------- tune-bench

SPACES = Path(__file__).parent / "spaces"
QUIET = ["--no-progress", "--no-tables"]
SWEEP_TIMEOUT = 240  # seconds a whole sweep may take here (2 busy cores)


def tune_bench(cluster: TwoHosts, *args: str, timeout: float = SWEEP_TIMEOUT
               ) -> subprocess.CompletedProcess[str]:
    """`tune-bench ARGS` on the head host, to completion."""
    return cluster.run_on_head([sys.executable, "-m", "tune_bench.cli", *args], timeout=timeout)


def start_tune_bench(cluster: TwoHosts, *args: str, log: str) -> subprocess.Popen:
    """`tune-bench ARGS` on the head host in the background (its pid is the CLI's own: `ip
    netns exec`, `unshare` and `sh -c 'exec ...'` all exec)."""
    return cluster.head.spawn([sys.executable, "-m", "tune_bench.cli", *args],
                              cluster.driver_env, log)


def said(cluster: TwoHosts, done: subprocess.CompletedProcess[str]) -> str:
    """A finished command's exit code and output, with the head's Ray logs, for a failure."""
    return (f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-4000:]}\n"
            f"{cluster.ray_logs(cluster.head)}")


def sweep_args(cluster: TwoHosts, space: str, root: str, data: Path, *extra: str) -> list[str]:
    return ["sweep", str(SPACES / space), "--address", cluster.address, "--storage-path", root,
            "--data-dir", str(data), *QUIET, *extra]


def trial_rows(exp_dir: Path) -> dict[str, list[dict]]:
    """trial directory name -> its result.json rows (a local copy of an experiment)."""
    return {d.name: [json.loads(line) for line in (d / "result.json").read_text().splitlines()
                     if line.strip()]
            for d in sorted(exp_dir.iterdir()) if (d / "result.json").is_file()}


def epochs_once(rows: list[dict]) -> list[int]:
    """The epochs of a trial's rows, asserted strictly increasing (none reported twice)."""
    epochs = [r.get("epoch", r["training_iteration"]) for r in rows]  # SVM rows: no epoch
    detail = [(r.get("epoch"), r.get("node_ip"), r.get("restored_from_epoch"),
               r.get("restored_from"), r.get("replayed")) for r in rows]
    assert epochs == sorted(set(epochs)), f"epochs reported twice or out of order: {detail}"
    return epochs


def normalised(markdown: str, *names: str) -> str:
    """`analyze` output with the experiment's URI / local path replaced by a placeholder."""
    for name in sorted(names, key=len, reverse=True):
        markdown = markdown.replace(name, "EXP")
    return markdown


def test_sweep_on_both_hosts_with_results_in_the_bucket_and_analyze_it(
        two_hosts: TwoHosts, tiny_root: Path) -> None:
    """`tune-bench sweep --address HEAD --storage-path s3://...` on the head: exit 0; the
    trials ran on both hosts; every trial's results are in the bucket, and each ResNet trial's
    checkpoint too (Tune keeps the newest; `--keep-checkpoints` turns off tune-bench's pruning
    of finished trials' checkpoints); `analyze s3://...` prints the tables that `analyze`
    prints for a local copy of the bucket. Before it, `sweep --forecast --address` joins the
    cluster, simulates its two nodes and times the 2 trial shapes there (as Ray tasks: the
    worker host sees no data directory); the sweep then finds them in the head's cache, saves
    its forecast in the bucket, and `analyze` shows it against what happened."""
    bucket = two_hosts.new_bucket()
    root = two_hosts.storage_uri(bucket, "sweeps")
    exp = two_hosts.storage_uri(bucket, "sweeps/cluster_small")
    fc = tune_bench(two_hosts, *sweep_args(two_hosts, "cluster_small.yaml", root, tiny_root,
                                           "--forecast"))
    assert fc.returncode == 0, said(two_hosts, fc)
    assert "forecast: 4 trial(s) in " in fc.stdout and " on 2 nodes, 2 CPUs, 0 GPUs" \
        in fc.stdout and "calibration: 2 shape(s) timed now" in fc.stdout, fc.stdout
    assert not two_hosts.s3_list(bucket, "sweeps")  # --forecast started nothing
    done = tune_bench(two_hosts, *sweep_args(two_hosts, "cluster_small.yaml", root, tiny_root,
                                             "--keep-checkpoints"))
    assert done.returncode == 0, said(two_hosts, done)
    assert f"experiment: {exp}: 4 trials: 4 finished (" in done.stdout, done.stdout
    assert not list(two_hosts.head.home.glob("s3*"))  # no URI turned into a local directory

    files = two_hosts.s3_list(bucket, "sweeps/cluster_small")
    trials = sorted({f.split("/")[2] for f in files if f.endswith("/result.json")})
    assert len(trials) == 4 and sorted(t[:3] for t in trials) == ["res", "res", "svm", "svm"]
    for t in trials:
        assert {f"sweeps/cluster_small/{t}/{n}" for n in ("params.json", "progress.csv")} \
            <= set(files), t
        ckpts = {f.split("/")[3] for f in files
                 if f.startswith(f"sweeps/cluster_small/{t}/checkpoint_")
                 and f.endswith("/state.pt")}
        # --keep-checkpoints: each ResNet trial's newest checkpoint stays in the bucket (Tune
        # keeps one per trial); SVM trials have none
        assert len(ckpts) == (1 if t.startswith("res") else 0), (t, files)
    local = two_hosts.s3_download(bucket, "sweeps/cluster_small",
                                  two_hosts.head.home / "copy" / "cluster_small")
    rows = trial_rows(local)
    assert sorted(rows) == trials
    assert {r["node_ip"] for rs in rows.values() for r in rs} == {HEAD_IP, WORKER_IP}
    assert {r["hostname"] for rs in rows.values() for r in rs} == {
        two_hosts.head.hostname, two_hosts.worker.hostname}
    for t, rs in rows.items():
        assert epochs_once(rs) == ([1, 2, 3] if t.startswith("res") else [1])
        if t.startswith("res"):  # ... and it is the final epoch's, complete
            (marker,) = (local / t).glob("checkpoint_*/COMPLETE")
            assert marker.read_text() == "3" and (marker.parent / "state.pt").stat().st_size

    remote = tune_bench(two_hosts, "analyze", exp, timeout=120)
    copy = tune_bench(two_hosts, "analyze", str(local), timeout=120)
    assert remote.returncode == 0 and copy.returncode == 0, said(two_hosts, remote)
    assert "Experiments: cluster_small (4 trials)" in remote.stdout, remote.stdout
    assert "## Forecast against actual" in remote.stdout and "forecast vs actual: wall " \
        in remote.stdout and "median absolute error per trial" in remote.stdout, remote.stdout
    assert normalised(remote.stdout, exp) == normalised(copy.stdout, str(local))


BUCKET_STATE = """
import json, time
from tests.test_storage import _bucket_checkpoints, _bucket_state, _finished_files
from tune_bench.storage import parse_storage

deadline = time.monotonic() + TIMEOUT
while True:
    state, ckpts = _bucket_state(EXP), _bucket_checkpoints(EXP)
    if not WAIT or ("TERMINATED" in state.values() and ckpts) or time.monotonic() > deadline:
        break
    time.sleep(0.2)
exp = parse_storage(EXP)
finished = {f: exp.read_bytes(f).decode() for f in _finished_files(EXP)}
print(json.dumps({"state": state, "checkpoints": ckpts, "finished": finished}))
"""


def bucket_state(cluster: TwoHosts, exp: str, wait_s: float = 0) -> dict:
    """Read on the head from the bucket (tests/test_storage.py's readers): trial states of
    Tune's newest snapshot, unfinished ResNet trials' newest complete checkpoint epochs, and
    finished trials' result files (size, mtime). With `wait_s`: first wait up to that long for
    a finished trial and a checkpointed unfinished ResNet trial. Finished trials' result files
    come with their text."""
    out = run_python(cluster, script(BUCKET_STATE, EXP=exp, WAIT=wait_s > 0, TIMEOUT=wait_s),
                     timeout=wait_s + 60)
    return json.loads(out.strip().splitlines()[-1])


def test_driver_sigkill_then_resume_from_the_bucket(two_hosts: TwoHosts, tiny_root: Path
                                                    ) -> None:
    """The driver on the head is SIGKILLed mid-sweep (a trial finished, an unfinished ResNet
    trial has a checkpoint in the bucket); `tune-bench resume s3://...` on the head completes
    the sweep (exit 0): finished trials untouched, the ResNet trial goes on from its
    checkpoint, every epoch recorded once."""
    from tests.test_reliability import continued_from, ordered_epochs_once

    bucket = two_hosts.new_bucket()
    root = two_hosts.storage_uri(bucket, "killed")
    exp = two_hosts.storage_uri(bucket, "killed/rel_kill")
    driver = start_tune_bench(two_hosts, *sweep_args(two_hosts, "rel_kill.yaml", root,
                                                     tiny_root), log="driver-kill.log")
    try:
        before = bucket_state(two_hosts, exp, wait_s=150)
    finally:
        driver.kill()  # SIGKILL
        driver.wait(timeout=30)
    assert driver.returncode == -9, tail(two_hosts.head.log_dir / "driver-kill.log", 40)
    assert "TERMINATED" in before["state"].values() and before["checkpoints"], before
    killed = bucket_state(two_hosts, exp)
    assert killed["finished"] and killed["checkpoints"], killed

    done = tune_bench(two_hosts, "resume", exp, *QUIET)
    assert done.returncode == 0, said(two_hosts, done)
    after = bucket_state(two_hosts, exp)
    assert sorted(after["state"].values()) == ["TERMINATED"] * 3, after
    # the finished trials' rows are unchanged (Tune uploads its copy of the files again on
    # resume: the same bytes, a newer mtime)
    assert {f: after["finished"].get(f) for f in killed["finished"]} == killed["finished"], \
        "a finished trial ran again"
    copy = two_hosts.s3_download(bucket, "killed/rel_kill", two_hosts.head.home / "rel_kill")
    for d, epoch in killed["checkpoints"].items():
        epochs = json.loads((copy / d / "params.json").read_text())["variant"]["epochs"]
        continued_from(copy / d, epoch, epochs)
    for d, rows in trial_rows(copy).items():
        if d.startswith("resnet"):
            epochs_once(rows)
            epochs = json.loads((copy / d / "params.json").read_text())["variant"]["epochs"]
            ordered_epochs_once(copy / d, epochs)


def test_bad_storage_on_the_cluster_one_line_nothing_started(two_hosts: TwoHosts,
                                                             tiny_root: Path) -> None:
    """Each bad --storage-path given with --address: one line naming the culprit, exit 4 (or 2
    for a malformed URI), before any trial starts and with nothing written - in the bucket,
    on the head's disk."""
    bucket = two_hosts.new_bucket()
    head_files = sorted(p for p in two_hosts.head.home.rglob("*")
                        if not p.is_relative_to(two_hosts.head.ray_temp_dir))
    local = two_hosts.head.home / "results"
    dead = (f"s3://{bucket}/r?endpoint_override=http://{WORKER_IP}:5999&scheme=http"
            "&region=us-east-1")  # the worker host, where nothing listens
    no_bucket = two_hosts.storage_uri("no-such-bucket", "r")
    cases = [
        (dead, 4, "cannot reach the endpoint"),
        (no_bucket, 4, "bucket 'no-such-bucket' does not exist"),
        (f"s3:/{bucket}/r", 2, "malformed URI"),
        (str(local), 4, "is local but the Ray cluster has 2 nodes"),
    ]
    for storage, code, says in cases:
        done = tune_bench(two_hosts, *sweep_args(two_hosts, "cluster_small.yaml", storage,
                                                 tiny_root), timeout=120)
        err = done.stderr.strip().splitlines()
        assert done.returncode == code and len(err) == 1, (storage, said(two_hosts, done))
        assert err[0].startswith("error: ") and storage in err[0] and says in err[0], err
        assert "trial" not in done.stdout.lower(), done.stdout
    assert "--shared-storage" in err[0] and "s3://" in err[0]  # the local path: what to do
    assert two_hosts.s3_list(bucket) == []
    assert not local.exists() or not any(local.iterdir())
    assert sorted(p for p in two_hosts.head.home.rglob("*")
                  if not p.is_relative_to(two_hosts.head.ray_temp_dir)
                  and p != local) == head_files


def driver_rows(cluster: TwoHosts, name: str) -> dict[str, list[dict]]:
    """trial directory name -> the rows of its result.json as the driver on the head writes
    it (Tune's staging directory under the head's Ray temp dir), before any upload."""
    out = {}
    for f in cluster.head.ray_temp_dir.glob(
            f"session_*/artifacts/*/{name}/driver_artifacts/*/result.json"):
        rows = []
        for line in f.read_text(errors="replace").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:  # a line being written
                break
        out[f.parent.name] = rows
    return out


def test_worker_host_killed_mid_sweep_trial_retried_on_the_head_from_the_bucket(
        two_hosts: TwoHosts, tiny_root: Path) -> None:
    """A node failure: once the ResNet trial on the worker host reported an epoch (each
    reported with its checkpoint, uploaded to the bucket before the report), every process of
    the worker host is SIGKILLed. The sweep completes (exit 0) with both trials: the lost one
    ran again on the head from its newest checkpoint in the bucket; no epoch is reported
    twice or lost; the checkpoints are pruned at the end. The worker is started again
    afterwards."""
    bucket = two_hosts.new_bucket()
    root = two_hosts.storage_uri(bucket, "failed")
    name = "cluster_node_loss"
    driver = start_tune_bench(two_hosts, *sweep_args(two_hosts, f"{name}.yaml", root,
                                                     tiny_root), log="driver-node-loss.log")
    log = two_hosts.head.log_dir / "driver-node-loss.log"
    deadline = time.monotonic() + 150
    on_worker: dict[str, int] = {}
    try:
        while not on_worker:
            assert driver.poll() is None, f"the sweep ended early:\n{tail(log, 40)}"
            assert time.monotonic() < deadline, f"no epoch on the worker:\n{tail(log, 40)}"
            time.sleep(0.1)
            on_worker = {t: rows[-1]["epoch"] for t, rows in driver_rows(two_hosts, name).items()
                         if rows and rows[-1].get("node_ip") == WORKER_IP}
        two_hosts.kill_node(two_hosts.worker)
        assert driver.wait(timeout=SWEEP_TIMEOUT) == 0, tail(log, 60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert ": 2 trials: 2 finished (" in log.read_text(), tail(log, 40)
    ((lost, epoch),) = on_worker.items()
    assert 1 <= epoch < 8

    copy = two_hosts.s3_download(bucket, f"failed/{name}", two_hosts.head.home / name)
    rows = trial_rows(copy)
    assert len(rows) == 2 and lost in rows
    for t, rs in rows.items():
        assert epochs_once(rs) == list(range(1, 9)), t  # none lost, none twice
    retried = [r for r in rows[lost] if r["node_ip"] == HEAD_IP]
    assert retried and all(r["hostname"] == two_hosts.head.hostname for r in retried)
    first = retried[0]
    # trained on the head from the newest checkpoint the worker had put in the bucket
    assert first["restored_from_epoch"] >= epoch and first["restored_from"], first
    assert [r["epoch"] for r in retried if not r.get("replayed")] == list(
        range(first["restored_from_epoch"] + 1, 9))
    assert {r["node_ip"] for r in rows[lost] if r["epoch"] <= epoch} == {WORKER_IP}
    # the finished trials' checkpoints were pruned in the bucket (no --keep-checkpoints)
    assert not [f for f in two_hosts.s3_list(bucket, f"failed/{name}") if "/checkpoint_" in f]

    two_hosts.start_worker()  # the host comes back for the tests after this one
    assert sorted(n["ip"] for n in two_hosts.wait_nodes(2, timeout=60)) == [HEAD_IP, WORKER_IP]


def test_kill_node_is_a_node_failure_the_cluster_sees(two_hosts: TwoHosts) -> None:
    killed = two_hosts.kill_node(two_hosts.worker)
    assert killed and not two_hosts.worker.pids()
    assert all(not os.path.exists(f"/proc/{pid}") or _zombie(pid) for pid in killed)
    assert [n["ip"] for n in two_hosts.wait_nodes(1, timeout=90)] == [HEAD_IP]
    two_hosts.start_worker()  # the node comes back
    assert sorted(n["ip"] for n in two_hosts.wait_nodes(2, timeout=60)) == [HEAD_IP, WORKER_IP]


def test_teardown_leaves_no_process_namespace_or_link(two_hosts: TwoHosts) -> None:
    pids = two_hosts.head.pids() + two_hosts.worker.pids()
    names = {two_hosts.head.netns, two_hosts.worker.netns}
    assert pids and names <= set(netns_list())
    two_hosts.close()
    assert two_hosts.leftovers() == []
    assert not names & set(netns_list())
    assert [p for p in pids if os.path.exists(f"/proc/{p}") and not _zombie(p)] == []
    assert not two_hosts.root.exists()


def _zombie(pid: int) -> bool:
    """Whether `pid` is a zombie (dead, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
