"""Where experiments live: a local directory or an object-store URI, through `pyarrow.fs`.

`--storage-path` (and the experiment given to `resume`, `status`, `analyze`) is a local path,
a `file://` URI, or a URI of any filesystem `pyarrow.fs.FileSystem.from_uri` knows, as Ray Tune
itself parses it: `s3://bucket/prefix?endpoint_override=http://host:port&region=...`,
`gs://bucket/prefix`. Tune gets the URI as given (`RunConfig(storage_path=URI)`, `Tuner.restore
(URI)`), so tune-bench and Tune resolve the same filesystem.

Credentials come from the standard places (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
~/.aws/credentials, an instance role; GOOGLE_APPLICATION_CREDENTIALS). A URI that carries them
(`s3://KEY:SECRET@bucket`, `?secret_key=...`) is refused: the URI is saved with the experiment
(tune_bench_spec.json, Tune's tuner.pkl).

Experiments in object storage are read (`readable`) from a temporary local copy of their JSON,
CSV and text files - never checkpoints, never pickles - with `tune_dir`, the one reader of
Tune's layout. No Ray here.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from tune_bench.errors import ConfigError, ExperimentError, ResourceError

MIN_FREE_BYTES = 200 * 2**20
PROBE = ".tune_bench_write_test"
# Files copied from object storage for reading: Tune's state and trial files, our spec.
READ_SUFFIXES = (".json", ".csv", ".txt")
# Schemes a user may mistype with one slash (`s3:/bucket`): refused instead of becoming a
# local directory named `s3:`.
KNOWN_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "file")
_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "signature")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(//)?")
_AWS_ERROR_RE = re.compile(r"AWS Error (\w+) during \w+ operation: ([^;]*)")

# Object-store timeouts (seconds): an endpoint that does not answer must not hang a command.
# (curl's request timeout is a low-speed limit, not a cap on a large transfer's duration)
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
ATTEMPTS = 2
PREFLIGHT_CONNECT_S = 2.0
PREFLIGHT_REQUEST_S = 4.0
PREFLIGHT_LIMIT_S = 20.0  # the whole pre-flight check, whatever the filesystem

T = TypeVar("T")


# --------------------------------------------------------------------------- the location


@dataclass(frozen=True)
class Storage:
    """A directory on a filesystem: `uri` as shown and given to Tune (an absolute local path,
    or a URI without credentials), `fs` and `path` on it."""

    uri: str
    fs: Any  # pyarrow.fs.FileSystem
    path: str

    def __str__(self) -> str:
        return self.uri

    @property
    def is_local(self) -> bool:
        import pyarrow.fs

        return isinstance(self.fs, pyarrow.fs.LocalFileSystem)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/"))

    def child(self, name: str) -> Storage:
        """The directory `name` inside this one (a URI keeps its query)."""
        path = posixpath.join(self.path, name)
        return replace(self, uri=path if self.is_local else _with_path(self.uri, path_of(
            self.uri).rstrip("/") + "/" + name), path=path)

    @property
    def parent(self) -> Storage:
        path = posixpath.dirname(self.path.rstrip("/"))
        uri = path if self.is_local else _with_path(
            self.uri, posixpath.dirname(path_of(self.uri).rstrip("/")))
        return replace(self, uri=uri, path=path)

    def join(self, rel: str) -> str:
        return posixpath.join(self.path, rel) if rel else self.path

    def file_type(self, rel: str = "") -> Any:
        """pyarrow.fs.FileType of `rel` (NotFound when absent)."""
        return self.fs.get_file_info(self.join(rel)).type

    def exists(self, rel: str = "") -> bool:
        import pyarrow.fs

        return self.file_type(rel) != pyarrow.fs.FileType.NotFound

    def is_dir(self, rel: str = "") -> bool:
        import pyarrow.fs

        return self.file_type(rel) == pyarrow.fs.FileType.Directory

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.join(rel)) as f:
            return f.read()

    def write_text(self, rel: str, text: str) -> None:
        self.fs.create_dir(self.path, recursive=True)
        with self.fs.open_output_stream(self.join(rel)) as f:
            f.write(text.encode())

    def delete_file(self, rel: str) -> None:
        self.fs.delete_file(self.join(rel))

    def entries(self, recursive: bool = False) -> list[Any]:
        """FileInfo of what is inside (empty when the directory does not exist)."""
        import pyarrow.fs

        return self.fs.get_file_info(pyarrow.fs.FileSelector(
            self.path, recursive=recursive, allow_not_found=True))


def path_of(uri: str) -> str:
    return urlsplit(uri).path


def _with_path(uri: str, path: str) -> str:
    return urlunsplit(urlsplit(uri)._replace(path=path))


def is_uri(text: str | Path) -> bool:
    """A URI (`scheme://...`) rather than a local path."""
    m = _SCHEME_RE.match(str(text))
    return bool(m and m.group(2))


def base_name(text: str | Path) -> str:
    """The last component of a local path or a URI's path (an experiment's name)."""
    if is_uri(text):
        return posixpath.basename(path_of(str(text)).rstrip("/"))
    return Path(text).resolve().name


def child_uri(text: str | Path, name: str) -> str:
    """`name` inside the local path or URI `text`."""
    if is_uri(text):
        return _with_path(str(text), path_of(str(text)).rstrip("/") + "/" + name)
    return str(Path(text) / name)


# --------------------------------------------------------------------------- parsing


def parse_storage(text: str | Path, option: str = "") -> Storage:
    """A local path or a URI as a `Storage` (ConfigError, one line, when malformed).

    `option` ("--storage-path") prefixes the error messages.
    """
    import pyarrow
    import pyarrow.fs

    raw = str(text).strip()
    where = f"{option} {raw}" if option else raw
    if not raw:
        raise ConfigError(f"{option or 'storage path'}: empty")
    m = _SCHEME_RE.match(raw)
    if m and not m.group(2):
        if m.group(1).lower() in KNOWN_SCHEMES:
            raise ConfigError(f"{where}: malformed URI (expected {m.group(1)}://...)")
        m = None
    if m is None:
        path = str(Path(raw).expanduser().resolve())
        return Storage(path, pyarrow.fs.LocalFileSystem(), path)
    _refuse_credentials(raw, option)
    _check_uri_form(raw, where)
    try:
        fs, path = pyarrow.fs.FileSystem.from_uri(raw)
    except (ValueError, NotImplementedError, pyarrow.ArrowException) as e:
        if isinstance(e, OSError):
            raise ResourceError(f"{where}: cannot reach the storage ({cause(e)})") from None
        raise ConfigError(f"{where}: malformed URI ({_one_line(str(e))})") from None
    except OSError as e:  # e.g. resolving an S3 bucket's region
        raise ResourceError(f"{where}: cannot reach the storage ({cause(e)})") from None
    if isinstance(fs, pyarrow.fs.LocalFileSystem):
        return Storage(path, fs, path)
    fs = bounded(fs, CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S, ATTEMPTS)
    return Storage(raw, fs, path.rstrip("/"))


def _refuse_credentials(raw: str, option: str) -> None:
    parts = urlsplit(raw)
    secret = "@" in parts.netloc or any(
        any(w in key.lower() for w in _SECRET_WORDS)
        for key, _ in parse_qsl(parts.query, keep_blank_values=True))
    if secret:
        # the message must not repeat the secret either
        shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        raise ConfigError(
            f"{option + ' ' if option else ''}{shown}: the URI holds credentials, which "
            "would be saved with the experiment; "
            "give them through the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or "
            "~/.aws/credentials instead")


def _check_uri_form(raw: str, where: str) -> None:
    """What pyarrow would accept but cannot work: no bucket, an endpoint without a port
    number."""
    parts = urlsplit(raw)
    if parts.scheme.lower() != "file" and not parts.netloc:
        raise ConfigError(f"{where}: malformed URI (no bucket or host after {parts.scheme}://)")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "endpoint_override":
            continue
        try:
            ep = urlsplit(value if "://" in value else f"http://{value}")
            ep.port  # noqa: B018 - raises ValueError when the port is not a number
        except ValueError:
            raise ConfigError(f"{where}: malformed URI (endpoint_override {value!r} is not "
                              "host:port)") from None
        if not ep.hostname:
            raise ConfigError(f"{where}: malformed URI (endpoint_override {value!r} has no "
                              "host)")


def bounded(fs: Any, connect_s: float, request_s: float, attempts: int | None = None) -> Any:
    """An S3 filesystem like `fs` with connect/request timeouts (other filesystems as they are).

    `from_uri` gives none: an endpoint that accepts connections and never answers would hang
    every call.
    """
    import pyarrow.fs

    if not isinstance(fs, pyarrow.fs.S3FileSystem):
        return fs
    try:
        kwargs = dict(fs.__reduce__()[1][0])
        kwargs.update(connect_timeout=connect_s, request_timeout=request_s)
        if attempts is not None:
            kwargs["retry_strategy"] = pyarrow.fs.AwsStandardS3RetryStrategy(
                max_attempts=attempts)
        return pyarrow.fs.S3FileSystem(**kwargs)
    except (TypeError, ValueError, IndexError, AttributeError):  # another pyarrow's layout
        return fs


# --------------------------------------------------------------------------- pre-flight


def check_writable(storage: Storage) -> None:
    """Before anything starts: the storage path exists or can be made, takes a file (written
    and deleted again) and, when local, has room. ResourceError (one line) otherwise."""
    if storage.is_local:
        _check_local(Path(storage.path))
    else:
        _within(PREFLIGHT_LIMIT_S, lambda: _check_remote(storage),
                f"storage path {storage.uri}: no answer within {PREFLIGHT_LIMIT_S:g} s")


def _check_local(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / PROBE
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ResourceError(f"storage path {path}: not writable ({e.strerror or e})") from None
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_BYTES:
        raise ResourceError(f"storage path {path}: only {free / 2**20:.0f} MiB free "
                            f"(need at least {MIN_FREE_BYTES / 2**20:.0f} MiB)")


def _check_remote(storage: Storage) -> None:
    import pyarrow.fs

    fs = bounded(storage.fs, PREFLIGHT_CONNECT_S, PREFLIGHT_REQUEST_S, attempts=1)
    bucket = storage.path.split("/", 1)[0]
    where = f"storage path {storage.uri}"
    try:
        if fs.get_file_info(bucket).type == pyarrow.fs.FileType.NotFound:
            raise ResourceError(f"{where}: bucket {bucket!r} does not exist")
        probe = posixpath.join(storage.path, f"{PROBE}-{os.getpid()}")
        with fs.open_output_stream(probe) as f:
            f.write(b"ok")
        fs.delete_file(probe)
    except OSError as e:
        reason = cause(e)
        if "NETWORK_CONNECTION" in reason or "curlCode" in reason:
            raise ResourceError(f"{where}: cannot reach the endpoint ({reason})") from None
        if "NO_SUCH_BUCKET" in reason:
            raise ResourceError(f"{where}: bucket {bucket!r} does not exist") from None
        raise ResourceError(f"{where}: not writable ({reason})") from None


def probe_dir(storage: Storage) -> bool:
    """Whether the directory exists, asked with the pre-flight's short timeouts (one line,
    ResourceError, within seconds when the storage does not answer)."""
    import pyarrow.fs

    if storage.is_local:
        return storage.is_dir()
    fs = bounded(storage.fs, PREFLIGHT_CONNECT_S, PREFLIGHT_REQUEST_S, attempts=1)

    def ask() -> bool:
        try:
            return fs.get_file_info(storage.path).type == pyarrow.fs.FileType.Directory
        except OSError as e:
            raise ResourceError(f"{storage.uri}: cannot reach the storage ({cause(e)})") from None

    return _within(PREFLIGHT_LIMIT_S, ask,
                   f"{storage.uri}: no answer within {PREFLIGHT_LIMIT_S:g} s")


def _within(limit_s: float, fn: Callable[[], T], message: str) -> T:
    """`fn()` in a daemon thread; ResourceError(`message`) when it takes over `limit_s`."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=target, daemon=True, name="tune-bench-storage-check")
    t.start()
    t.join(limit_s)
    if t.is_alive():
        raise ResourceError(message)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def cause(e: BaseException) -> str:
    """A pyarrow filesystem error in one short line, e.g. `NETWORK_CONNECTION: curlCode: 7,
    Could not connect to server`."""
    text = str(e)
    m = _AWS_ERROR_RE.search(text)
    return _one_line(f"{m.group(1)}: {m.group(2)}" if m else text)


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- reading


@contextmanager
def readable(text: str | Path) -> Iterator[Path]:
    """A local directory holding the experiment `text` for reading: the directory itself when
    it is local; else a temporary copy, named like the experiment, of its JSON/CSV/text files
    (no checkpoints, no pickles), deleted afterwards. An ExperimentError raised while reading
    the copy names `text`, not the copy."""
    if not is_uri(text):
        yield Path(text)
        return
    exp = parse_storage(text)
    with tempfile.TemporaryDirectory(prefix="tune_bench_read_") as tmp:
        local = Path(tmp) / (exp.name or "experiment")
        _copy_readable(exp, local)
        try:
            yield local
        except ExperimentError as e:
            raise ExperimentError(str(e).replace(str(local), exp.uri)) from None


def _copy_readable(exp: Storage, local: Path) -> None:
    import pyarrow.fs

    if not probe_dir(exp):
        raise ExperimentError(f"{exp.uri}: not an experiment directory (no such directory)")
    t0 = time.monotonic()
    try:
        infos = exp.entries(recursive=True)
        local.mkdir(parents=True)
        for info in infos:
            rel = info.path[len(exp.path):].lstrip("/")
            if not rel or any(part.startswith("checkpoint_") for part in rel.split("/")):
                continue
            if info.type == pyarrow.fs.FileType.Directory:
                (local / rel).mkdir(parents=True, exist_ok=True)
            elif rel.endswith(READ_SUFFIXES) or (rel.endswith(".pkl") and "/" not in rel):
                # tuner.pkl, searcher-state-*.pkl: read as opcodes, never unpickled
                (local / rel).parent.mkdir(parents=True, exist_ok=True)
                (local / rel).write_bytes(exp.read_bytes(rel))
    except OSError as e:
        raise ResourceError(f"{exp.uri}: cannot read the storage ({cause(e)}, after "
                            f"{time.monotonic() - t0:.0f} s)") from None
