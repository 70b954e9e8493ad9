"""Experiments in object storage: `--storage-path s3://...` on one machine, with moto's S3
server on 127.0.0.1 (dummy credentials in the environment, a bucket made by the test).

Fast tests: parsing, the pre-flight errors (each one line, the right exit code, nothing
written, bounded in time), checkpoint pruning and recovery through the storage filesystem.
Slow tests: a real sweep with its results in the bucket, `status` / `analyze` / `resume` on
its URI, and a resume after a SIGKILL of the driver.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_reliability import (
    SPACES,
    Processes,
    continued_from,
    data_root,  # noqa: F401  (fixture)
    kill_hard,
    ordered_epochs_once,
    procs,  # noqa: F401  (fixture)
    wait_for,
)
from tests.tune_layout import write_experiment
from tune_bench.errors import ConfigError, ResourceError
from tune_bench.storage import check_writable, parse_storage, readable

BUCKET = "tbench"
QUIET = ["--no-progress", "--no-tables"]


# --------------------------------------------------------------------------- S3 server


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with bucket `tbench`; yields its endpoint URL.

    The dummy credentials are put in this process's environment (the standard place), which
    the CLIs the tests start inherit."""
    moto_server = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import pyarrow.fs

    pyarrow.fs.S3FileSystem(endpoint_override=endpoint, region="us-east-1",
                            allow_bucket_creation=True).create_dir(BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def s3_uri(endpoint: str, prefix: str, bucket: str = BUCKET) -> str:
    return f"s3://{bucket}/{prefix}?endpoint_override={endpoint}&region=us-east-1"


def listing(uri: str) -> dict[str, Any]:
    """Relative path -> FileInfo of everything under `uri` in the bucket."""
    st = parse_storage(uri)
    return {i.path[len(st.path) + 1:]: i for i in st.entries(recursive=True)}


def download(uri: str, dest: Path) -> Path:
    """A full local copy (checkpoints too) of the directory `uri`."""
    import pyarrow.fs

    st = parse_storage(uri)
    dest.mkdir(parents=True)
    pyarrow.fs.copy_files(st.path, str(dest), source_filesystem=st.fs,
                          destination_filesystem=pyarrow.fs.LocalFileSystem())
    return dest


def no_local_s3_dir(root: Path) -> None:
    """The defect of issue 16: an s3 URI turned into a local directory named `s3:`."""
    bad = [p for p in root.rglob("*") if p.name.startswith(("s3:", "s3%3A"))]
    assert not bad, f"a URI became a local path: {bad}"


# --------------------------------------------------------------------------- parsing


def test_local_paths_and_uris_parse_to_a_filesystem(tmp_path: Path, s3: str):
    local = parse_storage(tmp_path / "rr")
    assert local.is_local and local.uri == str(tmp_path / "rr") == local.path
    assert parse_storage(f"file://{tmp_path}/rr").uri == str(tmp_path / "rr")
    uri = s3_uri(s3, "results/deep")
    st = parse_storage(uri)
    assert not st.is_local and st.uri == uri and st.path == f"{BUCKET}/results/deep"
    assert type(st.fs).__name__ == "S3FileSystem"
    exp = st.child("exp")
    # the experiment keeps the URI's query: `resume`/`status` take it as printed
    assert exp.uri == s3_uri(s3, "results/deep/exp") and exp.path == f"{BUCKET}/results/deep/exp"
    assert exp.name == "exp" and exp.parent.uri == uri


@pytest.mark.parametrize("uri, says", [
    ("s3:/bucket/results", "expected s3://"),
    ("s3://", "no bucket"),
    ("s3:///results", "no bucket"),
    ("s3://bucket/x?foo=1", "Unexpected query parameter"),
    ("ftp://host/x", "Unrecognized filesystem"),
    ("s3://bucket/x?endpoint_override=http://127.0.0.1:port&region=us-east-1", "host:port"),
])
def test_malformed_uri_is_a_config_error(uri: str, says: str):
    with pytest.raises(ConfigError, match="malformed URI") as e:
        parse_storage(uri, "--storage-path")
    assert says in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(f"--storage-path {uri}: ")


@pytest.mark.parametrize("uri", [
    "s3://AKIDSECRETX:hunter2secret@bucket/x",
    "s3://bucket/x?secret_key=hunter2secret&access_key=AKIDSECRETX",
])
def test_credentials_in_the_uri_are_refused_and_not_repeated(uri: str):
    with pytest.raises(ConfigError, match="holds credentials") as e:
        parse_storage(uri, "--storage-path")
    assert "hunter2secret" not in str(e.value) and "AKIDSECRETX" not in str(e.value)


def test_local_storage_path_on_several_nodes_needs_shared_storage(tmp_path: Path, s3: str):
    from tune_bench.sweep.run import check_shared

    two = [{"CPU": 1.0}, {"CPU": 1.0}]
    with pytest.raises(ResourceError, match="--shared-storage") as e:
        check_shared(parse_storage(tmp_path), two, shared=False)
    assert str(tmp_path) in str(e.value) and "2 nodes" in str(e.value)
    check_shared(parse_storage(tmp_path), two, shared=True)
    check_shared(parse_storage(tmp_path), two[:1], shared=False)
    check_shared(parse_storage(s3_uri(s3, "x")), two, shared=False)


# --------------------------------------------------------------------------- pre-flight


TINY = """\
name: tiny
fixed: {device: cpu, split: seeds, dataset: mnist, trainer: svm, kernel: rbf, n_train: 100,
        n_test: 50}
"""


def _cli_error(args: list[str], capsys: pytest.CaptureFixture, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, float]:
    """Run the CLI in this process (cwd: tmp_path); (exit code, its one stderr line, seconds).
    No Ray may be started."""
    import ray

    from tune_bench.cli import main

    monkeypatch.chdir(tmp_path)
    ray_before = ray.is_initialized()  # the session's Ray, when an earlier test started it
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as e:
        main(args)
    took = time.monotonic() - t0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert ray.is_initialized() == ray_before  # the CLI started no Ray of its own
    return e.value.code, err[0], took


def _sweep_args(space: Path, storage: str, data: Path) -> list[str]:
    return ["sweep", str(space), "--storage-path", storage, "--data-dir", str(data), *QUIET]


@pytest.fixture
def space(tmp_path: Path) -> Path:
    p = tmp_path / "spaces" / "tiny.yaml"
    p.parent.mkdir()
    p.write_text(TINY)
    return p


def _written(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                  if not p.is_relative_to(tmp_path / "spaces"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_closed_port(space, tiny_root, tmp_path, capsys, monkeypatch, s3):
    uri = s3_uri(f"http://127.0.0.1:{_closed_port()}", "results")
    code, line, took = _cli_error(_sweep_args(space, uri, tiny_root), capsys, tmp_path,
                                  monkeypatch)
    assert code == 4 and uri in line and "cannot reach the endpoint" in line, line
    assert took < 15, took
    assert _written(tmp_path) == []


def test_endpoint_that_never_answers_is_bounded(space, tiny_root, tmp_path, capsys,
                                                monkeypatch, s3):
    """A server that accepts connections and never answers (a stuck proxy, a firewall that
    drops): the pre-flight gives up within its timeouts instead of hanging."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)  # connections complete in the kernel; nothing ever reads them
        uri = s3_uri(f"http://127.0.0.1:{hole.getsockname()[1]}", "results")
        code, line, took = _cli_error(_sweep_args(space, uri, tiny_root), capsys, tmp_path,
                                      monkeypatch)
    assert code == 4 and uri in line and "cannot reach the endpoint" in line, line
    assert took < 15, took
    assert _written(tmp_path) == []


def test_unroutable_endpoint_is_bounded(space, tiny_root, tmp_path, capsys, monkeypatch, s3):
    """10.255.255.1: no route on most networks (a connect timeout); a sandbox's transparent
    proxy may answer for it instead (then the bucket is not found). Either way: one line,
    exit 4, within a few seconds, nothing written."""
    uri = s3_uri("http://10.255.255.1:9000", "results")
    code, line, took = _cli_error(_sweep_args(space, uri, tiny_root), capsys, tmp_path,
                                  monkeypatch)
    assert code == 4 and uri in line, line
    assert took < 25, took
    assert _written(tmp_path) == []


def test_missing_bucket(space, tiny_root, tmp_path, capsys, monkeypatch, s3):
    uri = s3_uri(s3, "results", bucket="no-such-bucket")
    code, line, took = _cli_error(_sweep_args(space, uri, tiny_root), capsys, tmp_path,
                                  monkeypatch)
    assert code == 4 and line == f"error: storage path {uri}: bucket 'no-such-bucket' " \
                                 "does not exist", line
    assert _written(tmp_path) == [] and not listing(s3_uri(s3, "results"))


@pytest.mark.parametrize("uri", ["s3:/tbench/results", "s3://tbench/x?nope=1",
                                 "s3://AKIDSECRETX:hunter2secret@tbench/results"])
def test_malformed_storage_uri_exit_2(uri, space, tiny_root, tmp_path, capsys, monkeypatch, s3):
    code, line, _ = _cli_error(_sweep_args(space, uri, tiny_root), capsys, tmp_path,
                               monkeypatch)
    assert code == 2 and line.startswith("error: --storage-path ") and "hunter2" not in line
    assert _written(tmp_path) == []


def test_preflight_writes_and_deletes_a_probe(s3: str):
    uri = s3_uri(s3, "probe/here")
    check_writable(parse_storage(uri))
    assert listing(uri) == {}  # the probe object was deleted again


def test_status_of_a_missing_remote_experiment(s3: str, capsys):
    from tune_bench.cli import main

    uri = s3_uri(s3, "nothing/here")
    with pytest.raises(SystemExit) as e:
        main(["status", uri])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 5 and err == f"error: {uri}: not an experiment directory " \
                                        "(no such directory)", err


@pytest.mark.parametrize("command", ["status", "analyze", "resume"])
def test_reading_commands_on_an_endpoint_that_never_answers(command, s3, capsys):
    """status / analyze / resume of an experiment behind a dead endpoint: one line, exit 4,
    bounded in time (no Ray started)."""
    from tune_bench.cli import main

    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        uri = s3_uri(f"http://127.0.0.1:{hole.getsockname()[1]}", "results/exp")
        t0 = time.monotonic()
        with pytest.raises(SystemExit) as e:
            main([command, uri])
        took = time.monotonic() - t0
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 4 and len(err) == 1 and uri in err[0], err
    assert "cannot reach the storage" in err[0] and took < 15, (err, took)


# --------------------------------------------------------------------------- the filesystem


def _put(uri: str, files: dict[str, bytes]) -> None:
    st = parse_storage(uri)
    for rel, data in files.items():
        with st.fs.open_output_stream(f"{st.path}/{rel}") as f:
            f.write(data)


def test_pruning_and_recovery_through_the_storage_filesystem(s3: str, tmp_path: Path):
    """Pruning deletes a trial's checkpoint directories in the bucket; the trainable's
    recovery finds the newest complete checkpoint there (its marker's epoch, not its
    number) and downloads it; `readable` copies no checkpoint."""
    import torch

    from tune_bench.sweep.callbacks import delete_checkpoints
    from tune_bench.sweep.trainable import DONE_MARKER, STATE_FILE, _load_newest_state

    uri = s3_uri(s3, "fs/exp/trial_1")

    def state(epoch: int) -> bytes:
        p = tmp_path / f"s{epoch}.pt"
        torch.save({"epoch": epoch, "rows": [], "state": None}, p)
        return p.read_bytes()

    _put(uri, {
        "params.json": b"{}", "result.json": b"",
        f"checkpoint_000000/{STATE_FILE}": state(3), f"checkpoint_000000/{DONE_MARKER}": b"3",
        f"checkpoint_000001/{STATE_FILE}": state(1), f"checkpoint_000001/{DONE_MARKER}": b"1",
        f"checkpoint_000002/{STATE_FILE}": b"torn",  # no marker: incomplete
    })
    st = parse_storage(uri)
    best, where, known = _load_newest_state(None, (st.fs, st.path))
    assert best["epoch"] == 3 and where == "disk:checkpoint_000000" and known == 0
    with readable(s3_uri(s3, "fs/exp")) as local:
        assert local.name == "exp"
        assert sorted(p.name for p in (local / "trial_1").iterdir()) == ["params.json",
                                                                           "result.json"]
    delete_checkpoints(st.fs, st.path)
    assert sorted(listing(uri)) == ["params.json", "result.json"]


def test_recorded_epochs_read_from_the_trial_directory_in_the_bucket(s3: str):
    """On a node other than the driver's a restarted trial learns which epochs result.json
    holds from the bucket's copy (which Tune restores the driver's copy from on resume): its
    last epoch, a torn last line skipped; 0 without the file."""
    from tune_bench.sweep.trainable import _stored_epochs

    uri = s3_uri(s3, "fs/exp/trial_rows")
    st = parse_storage(uri)
    assert _stored_epochs((st.fs, st.path)) == 0 and _stored_epochs(None) == 0
    rows = [json.dumps({"epoch": e, "val_acc": 0.5}) for e in (1, 2, 3)]
    _put(uri, {"result.json": ("\n".join(rows) + '\n{"epoch": 4, "val_').encode()})
    assert _stored_epochs((st.fs, st.path)) == 3


def test_remote_and_local_experiments_analyzed_together(s3: str, tmp_path: Path, capsys):
    """`analyze URI DIR`: the same report as with both experiments local; the trials frame
    names the remote trials by URI."""
    import pyarrow.fs

    from tests.test_analysis import resnet, svm
    from tune_bench.analysis import load_experiments
    from tune_bench.cli import main

    a = write_experiment(tmp_path / "local", "svms", [svm(0.9, C=1.0), svm(0.95, C=10.0)])
    b = write_experiment(tmp_path / "local", "nets", [resnet(0.8), resnet(0.85, lr=0.01)])
    st = parse_storage(s3_uri(s3, "mixed/svms"))
    pyarrow.fs.copy_files(str(a), st.path, source_filesystem=pyarrow.fs.LocalFileSystem(),
                          destination_filesystem=st.fs)
    main(["analyze", str(a), str(b)])
    both_local = capsys.readouterr().out
    main(["analyze", st.uri, str(b)])
    mixed = capsys.readouterr().out
    assert mixed == both_local and "Experiments: svms (2 trials), nets (2 trials)" in mixed
    df = load_experiments([st.uri, b])
    remote = df[df["experiment"] == "svms"]["trial_dir"]
    assert len(remote) == 2 and all(d.startswith(s3_uri(s3, "mixed/svms/").split("?")[0])
                                    and d.endswith("&region=us-east-1") for d in remote)


# --------------------------------------------------------------------------- real sweeps

MINI = """\
name: mini
fixed: {device: cpu, split: seeds, dataset: mnist}
blocks:
  - fixed: {trainer: svm, kernel: rbf, n_train: 100, n_test: 50}
  - fixed: {trainer: resnet, model: resnet18, n_train: 40, n_eval: 20, batch_size: 20,
            optimizer: sgd, lr: 0.01, epochs: 3}
resources:
  cpu: {cpu: 1}
"""


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_sweep_to_s3_then_status_and_analyze(procs: Processes, data_root: Path,  # noqa: F811
                                             tmp_path: Path, s3: str):
    """A ResNet trial (3 epochs) and an SVM trial with `--storage-path s3://...`: everything
    lands in the bucket, nothing local is named `s3:`; the finished trials' checkpoints are
    pruned in the bucket; `status` and `analyze` read the URI, and `analyze` gives the same
    tables as on a local copy, also together with it."""
    space = tmp_path / "mini.yaml"
    space.write_text(MINI)
    root = s3_uri(s3, "sweeps")
    exp = s3_uri(s3, "sweeps/mini")
    run = procs.cli("sweep", str(space), "--storage-path", root, "--data-dir", str(data_root),
                    "--num-cpus", "2", "--no-progress", name="sweep")
    assert run.wait() == 0, run.describe()
    assert f"experiment: {exp}: 2 trials: 2 finished (" in run.stdout
    no_local_s3_dir(tmp_path)
    files = listing(exp)
    assert {"tune_bench_spec.json", "tuner.pkl"} <= set(files)
    assert any(f.startswith("experiment_state-") for f in files)
    trials = {f.split("/")[0] for f in files if f.endswith("/result.json")}
    assert len(trials) == 2 and {t[:3] for t in trials} == {"svm", "res"}
    assert not [f for f in files if "checkpoint_" in f], "finished trials' checkpoints kept"
    spec = json.loads(parse_storage(exp).read_bytes("tune_bench_spec.json"))
    assert spec["options"]["storage_path"] == root
    resnet = next(t for t in trials if t.startswith("resnet"))
    rows = [json.loads(r) for r in parse_storage(exp).read_bytes(
        f"{resnet}/result.json").splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[-1]["final"]

    st = procs.cli("status", exp, name="status")
    assert st.wait(timeout=60) == 0, st.describe()
    assert st.stdout.startswith("mini: 2 trials: 2 finished"), st.stdout

    copy = download(exp, tmp_path / "copy" / "mini")
    remote = procs.cli("analyze", exp, name="an_remote")
    local = procs.cli("analyze", str(copy), name="an_local")
    assert remote.wait(timeout=90) == 0 and local.wait(timeout=90) == 0, remote.describe()
    assert remote.stdout == local.stdout and "Experiments: mini (2 trials)" in remote.stdout


def _bucket_state(exp: str) -> dict[str, str]:
    """trial dir -> status from Tune's newest snapshot in the bucket."""
    st = parse_storage(exp)
    names = sorted(f for f in listing(exp) if f.startswith("experiment_state-"))
    if not names:
        return {}
    try:
        data = json.loads(st.read_bytes(names[-1]))
        out = {}
        for info, _ in data["trial_data"]:
            info = json.loads(info) if isinstance(info, str) else info
            out[info["relative_logdir"]] = info["status"]
        return out
    except (OSError, ValueError, KeyError):
        return {}


def _bucket_checkpoints(exp: str) -> dict[str, int]:
    """Unfinished ResNet trials with a complete checkpoint (marker and state.pt in the bucket)
    at least two epochs before their last: trial dir -> newest such epoch (rel_kill.yaml)."""
    status = _bucket_state(exp)
    files = listing(exp)
    st = parse_storage(exp)
    out: dict[str, int] = {}
    for f in files:
        parts = f.split("/")
        if len(parts) != 3 or not parts[0].startswith("resnet") or parts[2] != "COMPLETE":
            continue
        if status.get(parts[0]) in (None, "TERMINATED") or \
                f"{parts[0]}/{parts[1]}/state.pt" not in files:
            continue
        try:
            epoch = int(st.read_bytes(f))
            last = json.loads(st.read_bytes(f"{parts[0]}/params.json"))["variant"]["epochs"]
        except (OSError, ValueError, KeyError):
            continue
        if epoch < last - 1:
            out[parts[0]] = max(out.get(parts[0], 0), epoch)
    return out


def _finished_files(exp: str) -> dict[str, tuple]:
    """Finished trials' result files in the bucket: (size, mtime) each."""
    done = [d for d, s in _bucket_state(exp).items() if s == "TERMINATED"]
    return {f: (i.size, i.mtime) for f, i in listing(exp).items()
            if f.split("/")[0] in done and f.endswith(("result.json", "progress.csv"))}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkill_driver_then_resume_from_s3(procs: Processes, data_root: Path,  # noqa: F811
                                            tmp_path: Path, s3: str):
    """The driver is SIGKILLed once a trial finished and an unfinished ResNet trial has a
    checkpoint in the bucket; `resume s3://...` completes the sweep (exit 0): the finished
    trials are untouched, the ResNet trial goes on from its checkpoint in the bucket, every
    epoch is recorded once."""
    root = s3_uri(s3, "killed")
    exp = s3_uri(s3, "killed/rel_kill")
    run = procs.cli("sweep", str(SPACES / "rel_kill.yaml"), "--storage-path", root,
                    "--data-dir", str(data_root), "--num-cpus", "2", *QUIET, name="sweep")

    def point():
        state = _bucket_state(exp)
        return "TERMINATED" in state.values() and _bucket_checkpoints(exp)

    wait_for(point, 200, "a finished trial and a checkpointed ResNet trial in the bucket", run,
             every=0.2)
    kill_hard(procs, run)
    done = _finished_files(exp)
    ckpt = _bucket_checkpoints(exp)
    assert done and ckpt

    run = procs.cli("resume", exp, "--num-cpus", "2", *QUIET, name="resume")
    assert run.wait() == 0, run.describe()
    no_local_s3_dir(tmp_path)
    assert sorted(_bucket_state(exp).values()) == ["TERMINATED"] * 3
    after = _finished_files(exp)
    assert {f: after.get(f) for f in done} == done, "a finished trial ran again"
    copy = download(exp, tmp_path / "copy" / "rel_kill")
    for d, epoch in ckpt.items():
        epochs = json.loads((copy / d / "params.json").read_text())["variant"]["epochs"]
        continued_from(copy / d, epoch, epochs)
    for d in copy.iterdir():
        if d.name.startswith("resnet"):
            epochs = json.loads((d / "params.json").read_text())["variant"]["epochs"]
            ordered_epochs_once(d, epochs)


def test_a_trial_whose_known_checkpoint_is_gone_is_restored_as_a_fresh_start(tmp_path: Path):
    """Tune's snapshot can name a checkpoint Tune already deleted (a newer one replaced it
    before the snapshot reached the bucket): the wrapped trainable starts without it (the
    trial's own scan of its directory takes over) instead of failing on every retry; other
    restore errors still raise."""
    from ray import tune
    from ray.train._internal.session import _TrainingResult

    from tune_bench.sweep.trainable import tolerate_missing_checkpoint

    class Steps(tune.Trainable):
        def step(self) -> dict:
            return {"x": 1}

    gone = _TrainingResult(checkpoint=tune.Checkpoint.from_directory(str(tmp_path / "gone")),
                           metrics={"training_iteration": 3})
    with pytest.raises(ValueError, match="does not exist on storage anymore"):
        Steps(config={}).restore(gone)
    tolerant = tolerate_missing_checkpoint(Steps)
    assert tolerant.__name__ == "Steps" and issubclass(tolerant, Steps)
    trial = tolerant(config={})
    assert trial.restore(gone) is None
    assert trial.iteration == 3 and not trial._restored  # bookkeeping only, no state loaded
    with pytest.raises(AssertionError):
        trial.restore(42)  # not a checkpoint at all: Tune's own error passes through


def test_forecast_probes_a_remote_storage_and_adds_checkpoint_uploads(s3: str, tmp_path: Path):
    """The forecast of a sweep to s3:// writes a probe file there (timed, then deleted) and
    adds each trial's checkpoint uploads (epochs x checkpoint size / write speed) to it; a
    local storage path is not probed, an unreachable one is the pre-flight's one-line error."""
    from tune_bench.forecast import upload_speed
    from tune_bench.forecast.plan import TrialPlan, build
    from tune_bench.forecast.resnet import TIMING as RESNET
    from tune_bench.forecast.timing import shape_key, shape_of, trial_key

    uri = s3_uri(s3, "fc_probe")
    got = upload_speed(uri)
    assert got is not None and got["s_per_mb"] > 0 and got["probe_mb"] == 16
    assert listing(uri) == {}  # the probe file is gone
    assert upload_speed(str(tmp_path)) is None
    with pytest.raises(ResourceError, match="cannot reach the endpoint"):  # (the pre-flight's)
        upload_speed(s3_uri("http://127.0.0.1:1", "fc_probe"))  # nothing listens there

    point = {"trainer": "resnet", "model": "resnet18", "batch_size": 16, "optimizer": "sgd",
             "device": "cpu", "epochs": 3, "n_train": 64, "n_eval": 32}
    res = {"cpu": 1}
    sizes = RESNET.sizes(point, {"train": 64, "val": 32, "test": 32})
    shape = shape_key(shape_of(point, res, RESNET))
    trial = TrialPlan(point, res, sizes, shape, trial_key(point, res, list(RESNET.shape_keys)),
                      "k", RESNET)
    rec = {"setup_s": 1.0, "epoch_fixed_s": 0.0, "checkpoint_s": 0.1, "step_s": [0.5],
           "eval_img_s": [0.0], "checkpoint_mb": 40.0}
    spec = type("Spec", (), {"name": "t", "resources": {}, "scheduler": {},
                             "random_axes": {}})()
    cal = {"shapes": {shape: rec}, "overheads": {}}
    plain = build(spec, [trial], cal, [(2.0, 0.0)], None, 0)
    slow = build(spec, [trial], cal, [(2.0, 0.0)], None, 0,
                 storage={"uri": uri, "s_per_mb": 0.05, "probe_mb": 16})
    assert slow["trials"][0]["s"] == pytest.approx(plain["trials"][0]["s"] + 3 * 40 * 0.05)
    assert any("uploaded to" in n and "at 20 MB/s" in n for n in slow["notes"])
