"""Two hosts on one machine: a real two-node Ray cluster and an S3 server for the cluster tests.

Each host is a network namespace (joined to the other by a veth pair, 10.77.0.1 / 10.77.0.2)
and every process started on it also gets its own mount namespace and hostname
(``unshare --mount --uts``). Each host has a private home directory (its ``HOME`` and working
directory: local scratch such as ``~/ray_results``, ``~/.ray/auth_token``, the Ray temp dir, the
harness's logs), hidden under an empty private tmpfs on the other host; on the worker the given
directories (the dataset) are hidden too. The hosts share nothing but the network link and the
machine's installed files (Python, the repository).

What the harness does is what a user types on two machines (README "Running on a Ray
cluster"), every process with ``RAY_AUTH_MODE=token`` and AWS credentials in its environment:
  head:   ray get-auth-token --generate        (writes ~/.ray/auth_token)
          ray start --head --node-ip-address HEAD_IP --port 6379 --include-dashboard=false ...
  worker: copy the head's ~/.ray/auth_token to ~/.ray/auth_token
          ray start --address HEAD_IP:6379 --node-ip-address WORKER_IP ...
  drivers run on the head with ``--address HEAD_IP:6379`` and storage
  ``s3://BUCKET/PREFIX?endpoint_override=http://S3_HOST:PORT`` (see `TwoHosts.storage_uri`).
moto's S3 server runs on the head. Teardown stops exactly the processes in the two namespaces
(SIGTERM, then SIGKILL) and deletes the namespaces, which takes the veth pair with them.
Needs root, iproute2 (``ip``) and util-linux (``unshare``, ``mount``).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.version import Version

SUBNET = "10.77.0"
HEAD_IP = f"{SUBNET}.1"
WORKER_IP = f"{SUBNET}.2"
RAY_PORT = 6379
S3_PORT = 5000
STARTUP_TIMEOUT_S = 90.0
HEAD_RAY_CONFIG = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}
GRACE_S = 3.0
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Variables of the calling process that would point a host's processes at another cluster or
# forbid a multi-node cluster (tests/conftest.py sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0).
_NETNS_NAME = re.compile(r"tb-(\d+)-[0-9a-f]{4}-(head|work)")
_DROPPED_ENV = ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "AWS_PROFILE",
                "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")


class HarnessError(RuntimeError):
    """The two-host harness could not be set up, or something of it outlived teardown."""


def require_privileges() -> None:
    """Fail (never skip) with one clear line when the machine cannot host the two namespaces."""
    missing = [tool for tool in ("ip", "unshare", "mount") if shutil.which(tool) is None]
    if missing:
        raise HarnessError(f"the cluster tests need {', '.join(missing)} (iproute2/util-linux); "
                           "install them (.ci/run installs iproute2)")
    if os.geteuid() != 0:
        raise HarnessError("the cluster tests need root (network and mount namespaces)")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one `ip` command, time-bound; raise with its stderr when it fails and `check`."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise HarnessError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def netns_list() -> list[str]:
    """Names of the network namespaces on this machine."""
    return [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()]


def reap_stale_namespaces() -> list[str]:
    """Delete the namespaces a harness of a dead test process left (named ``tb-PID-xxxx-head``
    or ``-work`` with PID no longer running): their processes are killed first. Returns them."""
    stale = []
    for name in netns_list():
        match = _NETNS_NAME.fullmatch(name)
        if not match or _alive(int(match.group(1))):
            continue
        host = Host("stale", name, "", "", Path("/nonexistent"))
        host.kill_all(grace=1.0)
        _ip("netns", "del", name, check=False)
        stale.append(name)
        for home in Path("/tmp").glob(f"{name.rsplit('-', 1)[0]}-*"):
            shutil.rmtree(home, ignore_errors=True)  # its private directories
    return stale


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a text file (empty when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def ray_cli() -> str:
    """The `ray` command of the interpreter running the tests (not another install's)."""
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


def _alive(pid: int) -> bool:
    """Whether `pid` is a live (non-zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class Host:
    """One host: a network namespace, a hostname, and the directories its processes cannot see."""

    role: str
    netns: str
    ip: str
    hostname: str
    home: Path
    hidden: tuple[Path, ...] = ()
    procs: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The host's processes run in its home, so a relative path (e.g. the README's
        # TUNE_BENCH_DATA_DIR=../shared/data) would name another directory there, or none
        # ("mount point does not exist"): every path is made absolute against the caller's cwd.
        self.home = Path(self.home).resolve()
        self.hidden = tuple(Path(d).resolve() for d in self.hidden)

    @property
    def ray_temp_dir(self) -> Path:
        """This host's Ray `--temp-dir` (hidden from the other host)."""
        return self.home / "ray"

    @property
    def token_path(self) -> Path:
        """This host's copy of the cluster's auth token (Ray's default ``~/.ray/auth_token``)."""
        return self.home / ".ray" / "auth_token"

    @property
    def log_dir(self) -> Path:
        """Where the harness writes the output of this host's processes."""
        return self.home / "logs"

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """`argv` run on this host: its network namespace, a private mount namespace with the
        hidden directories under an empty tmpfs, and its own hostname."""
        steps = [f"hostname {shlex.quote(self.hostname)}"]
        steps += [f"mount -t tmpfs -o size=16m tb-hidden {shlex.quote(str(d))}"
                  for d in self.hidden]
        script = " && ".join([*steps, 'exec "$@"'])
        return ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts",
                "--propagation", "private", "sh", "-c", script, "sh", *argv]

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], log_name: str
              ) -> subprocess.Popen:
        """Start `argv` on this host in the background (working directory: the host's home);
        stdout and stderr go to a log file."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / log_name, "ab") as log:
            proc = subprocess.Popen(self.wrap(argv), env=dict(env), cwd=self.home, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, argv: Sequence[str], env: Mapping[str, str], timeout: float
            ) -> subprocess.CompletedProcess[str]:
        """Run `argv` on this host to completion in its home (text output captured); on
        `timeout` its process group is killed and ``subprocess.TimeoutExpired`` raised."""
        proc = subprocess.Popen(self.wrap(argv), env=dict(env), cwd=self.home,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(proc.args, timeout, out, err) from None
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def python(self, code: str, env: Mapping[str, str], timeout: float = 60
               ) -> subprocess.CompletedProcess[str]:
        """Run a Python snippet on this host with the interpreter running the tests."""
        return self.run([sys.executable, "-c", code], env, timeout)

    def pids(self) -> list[int]:
        """Live processes in this host's network namespace (whoever started them)."""
        done = _ip("netns", "pids", self.netns, check=False)
        return [int(p) for p in done.stdout.split() if p.strip().isdigit() and _alive(int(p))]

    def _reap(self) -> None:
        """Collect exit statuses of the processes this harness started (no zombies left)."""
        for proc in self.procs:
            proc.poll()

    def signal_all(self, sig: int) -> None:
        """Send `sig` to every process in the namespace."""
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def wait_empty(self, timeout: float) -> bool:
        """Wait until no process is left in the namespace; whether that happened in time."""
        deadline = time.monotonic() + timeout
        while True:
            self._reap()
            if not self.pids():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def kill_all(self, grace: float = GRACE_S) -> None:
        """SIGTERM every process in the namespace, SIGKILL what is left after `grace` seconds;
        raise when something survives even that."""
        self.signal_all(signal.SIGTERM)
        if self.wait_empty(grace):
            return
        for _ in range(5):  # processes forked during the grace period get killed too
            self.signal_all(signal.SIGKILL)
            if self.wait_empty(2.0):
                return
        raise HarnessError(f"{self.role}: processes survived SIGKILL: {self.pids()}")


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str,
              failure_hint: Callable[[], str]) -> None:
    """Poll `predicate` until true; on timeout raise with `what` and the text of `failure_hint()`
    (the tail of the logs)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}\n"
                               f"{failure_hint()}")
        time.sleep(0.2)


class TwoHosts:
    """A head and a worker host with a two-node Ray cluster and an S3 server on the head.

    Use as a context manager or call `start()` / `close()`; `close()` is idempotent and raises
    when a process or namespace of the harness is left behind.
    """

    def __init__(self, worker_hidden: Iterable[Path | str] = (), num_cpus: int = 1,
                 object_store_bytes: int = 200 * 1024**2,
                 base_env: Mapping[str, str] | None = None) -> None:
        require_privileges()
        tag = f"tb-{os.getpid()}-{secrets.token_hex(2)}"
        self.root = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir="/tmp"))
        self.num_cpus = num_cpus
        self.object_store_bytes = object_store_bytes
        self.base_env = {k: v for k, v in (base_env or os.environ).items()
                         if k not in _DROPPED_ENV}
        self.token = ""  # made on the head by `ray get-auth-token --generate` at start()
        head_home, worker_home = self.root / "head", self.root / "worker"
        self.head = Host("head", f"{tag}-head", HEAD_IP, f"{tag}-head", head_home,
                         hidden=(worker_home,))
        self.worker = Host("worker", f"{tag}-work", WORKER_IP, f"{tag}-work", worker_home,
                           hidden=(head_home, *(Path(p) for p in worker_hidden)))
        self.veth = (f"tbh{os.getpid() % 100000}", f"tbw{os.getpid() % 100000}")
        self.address = f"{HEAD_IP}:{RAY_PORT}"
        self.s3_endpoint = f"http://{HEAD_IP}:{S3_PORT}"
        self._buckets = 0
        self.bucket = ""  # set by the `two_hosts` fixture
        self._closed = False

    # --- setup -----------------------------------------------------------------------------

    def __enter__(self) -> TwoHosts:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Namespaces and link, the S3 server, the Ray head, the Ray worker; wait until the
        cluster shows two alive nodes."""
        atexit.register(self._close_at_exit)  # even when pytest itself dies of an exception
        reap_stale_namespaces()
        self._make_dirs()
        self._make_network()
        self._make_token()
        self.start_s3()
        self.start_head()
        self.start_worker()
        self.wait_nodes(2)

    def _make_dirs(self) -> None:
        for host in (self.head, self.worker):
            for d in (host.home, host.ray_temp_dir, host.log_dir):
                d.mkdir(parents=True, exist_ok=True)
        missing = [str(d) for d in self.worker.hidden if not d.is_dir()]
        if missing:
            raise HarnessError(f"directories to hide on the worker do not exist: {missing}")

    def _make_token(self) -> None:
        """`ray get-auth-token --generate` on the head (it lands in the head's
        ~/.ray/auth_token), then the file copied to the worker's ~/.ray/ (a user's scp)."""
        done = self.head.run([ray_cli(), "get-auth-token", "--generate"],
                             self.host_env(self.head), timeout=60)
        if done.returncode != 0 or not self.head.token_path.is_file():
            raise HarnessError(f"ray get-auth-token --generate failed: {done.stderr[-2000:]}")
        self.token = self.head.token_path.read_text().strip()
        self.worker.token_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.head.token_path, self.worker.token_path)
        for host in (self.head, self.worker):
            host.token_path.chmod(0o600)

    def _make_network(self) -> None:
        head, worker = self.head, self.worker
        vh, vw = self.veth
        _ip("netns", "add", head.netns)
        _ip("netns", "add", worker.netns)
        _ip("link", "add", vh, "netns", head.netns, "type", "veth",
            "peer", "name", vw, "netns", worker.netns)
        for host, dev in ((head, vh), (worker, vw)):
            _ip("-n", host.netns, "addr", "add", f"{host.ip}/24", "dev", dev)
            _ip("-n", host.netns, "link", "set", dev, "up")
            _ip("-n", host.netns, "link", "set", "lo", "up")

    def host_env(self, host: Host) -> dict[str, str]:
        """The environment of a process on `host`: its own HOME (holding its copy of the token
        in ``~/.ray/auth_token``), token auth on, the dummy AWS credentials (a user's ~/.aws)."""
        bin_dir = str(Path(sys.executable).parent)  # `python`, `ray`, `tune-bench` of the tests
        path = os.pathsep.join([bin_dir, self.base_env.get("PATH", os.defpath)])
        # the repository root: drivers on a host import the tests' helpers (`tests.*`)
        pythonpath = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                   self.base_env.get("PYTHONPATH")]))
        return {**self.base_env, **AWS_ENV, "HOME": str(host.home), "PATH": path,
                "PYTHONPATH": pythonpath,
                "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0",
                "PYTHONUNBUFFERED": "1"}

    @property
    def driver_env(self) -> dict[str, str]:
        """The environment a driver (e.g. `tune-bench sweep`) needs on the head host."""
        return self.host_env(self.head)

    def start_s3(self) -> None:
        """moto's S3 server on the head's address, as a separate process on the head."""
        import moto

        if Version(moto.__version__) < Version("5.2.2"):
            raise HarnessError(f"moto {moto.__version__} answers CompleteMultipartUpload with a "
                               "root element pyarrow rejects (getmoto/moto#10055): install "
                               "'moto[server]>=5.2.2' (pip install -e '.[test]')")
        code = ("import signal\n"
                "from moto.server import ThreadedMotoServer\n"
                f"ThreadedMotoServer(ip_address={HEAD_IP!r}, port={S3_PORT}, verbose=False)"
                ".start()\n"
                "print('moto ready', flush=True)\n"
                "signal.pause()\n")
        proc = self.head.spawn([sys.executable, "-c", code], self.host_env(self.head),
                               "moto.log")
        log = self.head.log_dir / "moto.log"
        _wait_for(lambda: self._exited(proc, log) or "moto ready" in tail(log),
                  30, "the S3 server on the head", lambda: tail(log))
        self._probe_s3()

    def _probe_s3(self) -> None:
        code = ("import urllib.request\n"
                f"urllib.request.urlopen({self.s3_endpoint!r}, timeout=5).read()\n")
        done = self.head.python(code, self.host_env(self.head), timeout=30)
        if done.returncode != 0:
            raise HarnessError(f"S3 server unreachable: {done.stderr[-2000:]}")

    def _ray_start(self, host: Host, extra: Sequence[str],
                   config: Mapping[str, str] | None = None) -> subprocess.Popen:
        argv = [ray_cli(), "start", "--block", "--node-ip-address", host.ip,
                "--temp-dir", str(host.ray_temp_dir), "--num-cpus", str(self.num_cpus),
                "--num-gpus", "0", "--object-store-memory", str(self.object_store_bytes),
                "--disable-usage-stats", *extra]
        log = host.log_dir / "ray-start.log"
        if log.exists():  # a restarted node: keep the previous run's output aside
            log.replace(log.with_suffix(".previous.log"))
        proc = host.spawn(argv, {**self.host_env(host), **(config or {})}, log.name)
        _wait_for(lambda: self._exited(proc, log) or "Ray runtime started" in tail(log, 200),
                  STARTUP_TIMEOUT_S, f"ray start on the {host.role}",
                  lambda: self.ray_logs(host))
        return proc

    def _exited(self, proc: subprocess.Popen, log: Path) -> bool:
        if proc.poll() is None:
            return False
        raise HarnessError(f"{shlex.join(proc.args[-8:])} exited with {proc.returncode}:\n"
                           f"{tail(log, 40)}")

    def start_head(self) -> None:
        """`ray start --head` on the head host. Its GCS declares a node dead after 3 failed
        health checks 1 s apart (Ray's default: 5 checks 3 s apart), so a node failure is seen
        in seconds; a check still waits up to Ray's default 10 s for a busy raylet."""
        self._ray_start(self.head, ["--head", "--port", str(RAY_PORT),
                                    "--include-dashboard=false"], HEAD_RAY_CONFIG)

    def start_worker(self) -> None:
        """`ray start --address HEAD:PORT` on the worker host."""
        self._ray_start(self.worker, ["--address", self.address])

    def ray_logs(self, host: Host, lines: int = 15) -> str:
        """The tail of the harness's and Ray's own logs of `host`, for error messages."""
        logs = [host.log_dir / "ray-start.log"]
        session = host.ray_temp_dir / "session_latest" / "logs"
        logs += [session / n for n in ("raylet.out", "raylet.err", "gcs_server.out",
                                       "gcs_server.err")]
        parts = [f"--- {p} ---\n{tail(p, lines)}" for p in logs if p.exists()]
        return "\n".join(parts) or f"(no logs under {host.home})"

    def wait_nodes(self, count: int, timeout: float = STARTUP_TIMEOUT_S) -> list[dict]:
        """Wait until the cluster shows `count` alive nodes (a driver on the head); return
        them as ``{"ip", "hostname", "node_id"}`` dicts."""
        code = (
            "import json, time, ray\n"
            f"ray.init(address={self.address!r}, logging_level='ERROR',"
            " log_to_driver=False)\n"
            f"deadline = time.monotonic() + {timeout}\n"
            "while True:\n"
            "    nodes = [n for n in ray.nodes() if n['Alive']]\n"
            f"    if len(nodes) == {count} or time.monotonic() > deadline: break\n"
            "    time.sleep(0.5)\n"
            "print(json.dumps([{'ip': n['NodeManagerAddress'], 'node_id': n['NodeID'],"
            " 'hostname': n['NodeManagerHostname']} for n in nodes]))\n")
        try:
            done = self.head.python(code, self.driver_env, timeout=timeout + 60)
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"driver on the head hung connecting to {self.address}\n"
                               f"{self.ray_logs(self.head)}") from exc
        if done.returncode != 0:
            raise HarnessError(f"driver on the head failed: {done.stderr[-3000:]}\n"
                               f"{self.ray_logs(self.head)}")
        nodes = json.loads(done.stdout.strip().splitlines()[-1])
        if len(nodes) != count:
            raise HarnessError(f"expected {count} alive nodes, got {nodes}\n"
                               f"{self.ray_logs(self.worker)}")
        return nodes

    # --- use -------------------------------------------------------------------------------

    def run_on_head(self, argv: Sequence[str] | str, timeout: float,
                    env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command (a list, or a shell line) on the head host with the driver's env."""
        if isinstance(argv, str):
            argv = ["sh", "-c", argv]
        return self.head.run(argv, {**self.driver_env, **(env or {})}, timeout)

    def run_on_worker(self, argv: Sequence[str] | str, timeout: float,
                      env: Mapping[str, str] | None = None
                      ) -> subprocess.CompletedProcess[str]:
        """Run a command (a list, or a shell line) on the worker host with that host's env."""
        if isinstance(argv, str):
            argv = ["sh", "-c", argv]
        return self.worker.run(argv, {**self.host_env(self.worker), **(env or {})}, timeout)

    def storage_uri(self, bucket: str, prefix: str = "") -> str:
        """An ``s3://`` URI (with the query pyarrow needs for this server) for `bucket/prefix`."""
        path = f"{bucket}/{prefix}".rstrip("/")
        return f"s3://{path}?endpoint_override={self.s3_endpoint}&scheme=http&region=us-east-1"

    def new_bucket(self) -> str:
        """Create a fresh, empty bucket (from the head host) and return its name."""
        self._buckets += 1
        name = f"tb-bucket-{self._buckets}-{secrets.token_hex(3)}"
        done = self.head.python(self._s3_code(f"fs.create_dir({name!r})"),
                                self.driver_env, timeout=60)
        if done.returncode != 0:
            raise HarnessError(f"could not create bucket {name}: {done.stderr[-2000:]}")
        return name

    def _s3_code(self, body: str) -> str:
        return ("import pyarrow.fs as pafs\n"
                f"fs = pafs.S3FileSystem(endpoint_override={self.s3_endpoint!r},"
                " scheme='http', region='us-east-1', allow_bucket_creation=True)\n" + body)

    def s3_list(self, bucket: str, prefix: str = "", host: Host | None = None) -> list[str]:
        """Every file under `bucket/prefix`, as paths relative to the bucket (read on `host`,
        the head by default)."""
        host = host or self.head
        path = f"{bucket}/{prefix}".rstrip("/")
        body = (f"sel = pafs.FileSelector({path!r}, recursive=True, allow_not_found=True)\n"
                "for info in fs.get_file_info(sel):\n"
                "    if info.type == pafs.FileType.File:\n"
                f"        print(info.path[len({bucket!r}) + 1:])\n")
        done = host.python(self._s3_code(body), self.host_env(host), timeout=60)
        if done.returncode != 0:
            raise HarnessError(f"listing s3://{path} failed: {done.stderr[-2000:]}")
        return sorted(done.stdout.split())

    def s3_download(self, bucket: str, prefix: str, dest: Path | str) -> Path:
        """Copy `bucket/prefix` into the local directory `dest` (through the head host)."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        path = f"{bucket}/{prefix}".rstrip("/")
        body = (f"pafs.copy_files({path!r}, {str(dest)!r}, source_filesystem=fs,"
                " destination_filesystem=pafs.LocalFileSystem())\n")
        done = self.head.python(self._s3_code(body), self.driver_env, timeout=120)
        if done.returncode != 0:
            raise HarnessError(f"copying s3://{path} failed: {done.stderr[-2000:]}")
        return dest

    def kill_node(self, host: Host) -> list[int]:
        """A node failure: SIGKILL every process on `host` (its raylet, its workers, the
        `ray start` process), no grace. Returns the PIDs killed."""
        pids = host.pids()
        host.signal_all(signal.SIGKILL)
        if not host.wait_empty(10):
            raise HarnessError(f"{host.role}: processes survived SIGKILL: {host.pids()}")
        return pids

    # --- teardown --------------------------------------------------------------------------

    def leftovers(self) -> list[str]:
        """What of the harness still exists: namespaces, the veth pair, processes."""
        left = []
        names = netns_list()
        for host in (self.head, self.worker):
            if host.netns in names:
                left.append(f"netns {host.netns} (pids {host.pids()})")
        for dev in self.veth:
            if _ip("link", "show", dev, check=False).returncode == 0:
                left.append(f"link {dev}")
        left += [f"pid {p.pid}" for p in self._all_procs() if p.poll() is None]
        return left

    def _all_procs(self) -> list[subprocess.Popen]:
        return [*self.head.procs, *self.worker.procs]

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except HarnessError as exc:
            print(f"tests/hosts.py: {exc}", file=sys.stderr)

    def close(self) -> None:
        """Stop every process on both hosts (SIGTERM, then SIGKILL), delete the namespaces and
        the link, remove the private directories; raise when anything is left."""
        if self._closed:
            return
        self._closed = True
        errors = []
        names = netns_list()
        for host in (self.worker, self.head):
            if host.netns not in names:
                continue
            try:
                host.kill_all()
            except HarnessError as exc:
                errors.append(str(exc))
        for proc in self._all_procs():
            try:
                proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                errors.append(f"pid {proc.pid} ({shlex.join(proc.args[-3:])}) did not exit")
        for host in (self.head, self.worker):
            if host.netns in names:
                _ip("netns", "del", host.netns, check=False)
        left = self.leftovers()
        if not left and not errors:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        raise HarnessError(f"teardown left {left} {errors}; logs under {self.root}")


def _hidden_on_worker(tiny_root: Path) -> list[Path]:
    """The dataset directories a test session uses: hidden on the worker host."""
    dirs = [Path(tiny_root).resolve()]
    real = os.environ.get("TUNE_BENCH_DATA_DIR")
    if real and Path(real).is_dir():
        dirs.append(Path(real).resolve())  # relative in the README's command
    return dirs


@pytest.fixture(scope="module")
def two_hosts(tiny_root: Path) -> Iterator[TwoHosts]:
    """A started `TwoHosts` (head + worker Ray nodes, S3 on the head) with a fresh bucket in
    ``.bucket``; the datasets are hidden on the worker. Torn down after the module; the
    teardown fails the module's last test if anything of the cluster is left."""
    cluster = TwoHosts(worker_hidden=_hidden_on_worker(tiny_root))
    with cluster:
        cluster.bucket = cluster.new_bucket()
        yield cluster
