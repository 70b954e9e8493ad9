"""The two-host harness (tests/hosts.py) and a plain Ray Tune run on it with S3 storage.

Two hosts in network + mount namespaces on this machine, a Ray node on each (token auth), moto's
S3 server on the head. Needs root and iproute2: fails (never skips) without them.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.hosts import HEAD_IP, WORKER_IP, TwoHosts, netns_list

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
