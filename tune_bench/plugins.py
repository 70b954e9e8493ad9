"""The trainer catalog: every trainer, built-in or a user's, behind one contract.

A trainer is a function `train(config: dict) -> dict | None` with, optionally, a pydantic model
of its config and the metrics it reports (`Trainer`). A space file names one as

- a built-in name (`resnet`, `svm`: `BUILTIN`, a lazy import map like Ray Tune's searchers),
- an import path `my_module:train` (the space file's own directory is importable), or
- an entry point of an installed package in the group `tune_bench.trainers`.

`resolve` turns the name into a `Trainer` and turns every way a plug-in can be wrong (module
missing, function missing, wrong signature, module raising on import) into one `ConfigError`
line naming the culprit. Importing a plug-in runs its code: only `train` / `sweep` / `resume`
do it, never `analyze` or `status`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tune_bench.errors import ConfigError

ENTRY_POINT_GROUP = "tune_bench.trainers"
# Built-in trainers: name -> "module:attribute" of their `Trainer` (imported when first used).
BUILTIN: dict[str, str] = {
    "resnet": "tune_bench.train.builtin:RESNET",
    "svm": "tune_bench.train.builtin:SVM",
}
# Metrics Tune adds to every result row.
TUNE_METRICS = frozenset({"training_iteration", "time_total_s", "time_this_iter_s"})


@dataclass(frozen=True)
class Trainer:
    """A trainer's contract.

    `fn(config)` trains one trial: it returns its final metrics (numbers), or reports every
    epoch with `tune_bench.report_metrics(metrics, state=...)` and continues from
    `tune_bench.restored_state()` after a restart. `config`: a pydantic model checking the
    trial's keys before anything starts (None: any key). `metrics`: every metric it reports
    (None: not declared, any `metric:` is accepted); `per_epoch`: those in every per-epoch
    report (what ASHA compares trials on). `describe` / `show_epoch`: lines for `tune-bench
    train`. `path`: a directory workers put on sys.path before importing `ref`. `timing`: how
    `sweep --forecast` times its trials (`tune_bench.forecast.timing`; None: not forecast).
    """

    fn: Callable[[dict[str, Any]], Any]
    config: type[BaseModel] | None = None
    metrics: frozenset[str] | None = None
    per_epoch: frozenset[str] = frozenset()
    describe: Callable[[Any, Any], str] | None = None
    show_epoch: Callable[[dict[str, Any], Any], str] | None = None
    name: str = ""
    ref: str = ""
    path: str = ""
    builtin: bool = field(default=False, compare=False)
    timing: Any = None  # a tune_bench.forecast.timing.Timing, or the "module:attr" of one

    def __call__(self, config: dict[str, Any]) -> Any:
        return self.fn(config)

    @property
    def reported(self) -> frozenset[str] | None:
        """Every metric a trial's rows hold, Tune's own included (None: not declared)."""
        return None if self.metrics is None else self.metrics | self.per_epoch | TUNE_METRICS


def trainer(config: type[BaseModel] | None = None, metrics: Iterable[str] | None = None,
            per_epoch: Iterable[str] = (), timing: Any = None
            ) -> Callable[[Callable[..., Any]], Trainer]:
    """Decorator declaring a plug-in's config model and metrics:

    ``@tune_bench.trainer(config=MyConfig, metrics=["test_acc"])`` above ``def train(config)``;
    ``timing=`` a `tune_bench.forecast.timing.Timing` (or its "module:attr") lets
    `sweep --forecast` time its trials.
    """
    def wrap(fn: Callable[..., Any]) -> Trainer:
        _check_signature(fn, getattr(fn, "__qualname__", repr(fn)))
        return Trainer(fn, config, None if metrics is None else frozenset(metrics),
                       frozenset(per_epoch), timing=timing)

    return wrap


# --------------------------------------------------------------------------- resolving names


_SEARCH_PATH: list[Path] = []


@contextlib.contextmanager
def search_path(directory: str | Path | None) -> Iterator[None]:
    """While active, import paths are also looked up in `directory` (a space file's own)."""
    if directory is None:
        yield
        return
    _SEARCH_PATH.append(Path(directory).resolve())
    try:
        yield
    finally:
        _SEARCH_PATH.pop()


@contextlib.contextmanager
def search_paths(directories: Iterable[str | Path]) -> Iterator[None]:
    """`search_path` of each of `directories` (a sweep's space files' own)."""
    with contextlib.ExitStack() as stack:
        for d in directories:
            stack.enter_context(search_path(d))
        yield


def is_import_path(name: Any) -> bool:
    """`pkg.module:attribute`?"""
    return isinstance(name, str) and ":" in name


def load_object(ref: str, what: str, path: str | None = None) -> tuple[Any, str]:
    """The object `module:attribute` names and the directory it was imported from ('' when
    not from the search path); one-line ConfigError naming `what` when it cannot be had."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{what}: {ref!r} is not an import path (module:function)")
    dirs = [Path(path)] if path else list(reversed(_SEARCH_PATH))
    added = [str(d) for d in dirs if str(d) not in sys.path]
    sys.path[:0] = added
    _forget_shadowed(module_name.split(".")[0], dirs)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            where = f" (looked in {', '.join(map(str, dirs))} and the installed packages)" \
                if dirs else ""
            raise ConfigError(f"{what}: no module named {e.name!r}{where}") from None
        raise ConfigError(f"{what}: module {module_name!r} failed to import: "
                          f"{_one_line(e)}") from None
    except Exception as e:  # noqa: BLE001 - the plug-in's own error, in one line
        raise ConfigError(f"{what}: module {module_name!r} raised on import: "
                          f"{_one_line(e)}") from None
    finally:
        for d in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(d)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{what}: module {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    file = Path(getattr(module, "__file__", "") or "").resolve()
    origin = next((str(d) for d in dirs if d in file.parents), "")
    return obj, origin


def _forget_shadowed(top: str, dirs: list[Path]) -> None:
    """Forget an imported `top` module when a directory searched first holds another one of the
    same name (two space files, each with its own `train.py`, in one process)."""
    importlib.invalidate_caches()
    loaded = sys.modules.get(top)
    if loaded is None:
        return
    file = Path(getattr(loaded, "__file__", "") or "/").resolve()
    for d in dirs:
        if (d / f"{top}.py").is_file() or (d / top / "__init__.py").is_file():
            if d.resolve() not in file.parents:
                for name in [n for n in sys.modules if n == top or n.startswith(f"{top}.")]:
                    del sys.modules[name]
            return


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def _check_signature(fn: Any, what: str) -> None:
    """`fn` must be callable with one positional argument, the trial config."""
    if not callable(fn):
        raise ConfigError(f"{what}: is not a function (got {type(fn).__name__})")
    try:
        inspect.signature(fn).bind({})
    except TypeError:
        raise ConfigError(f"{what}: wrong signature {getattr(fn, '__name__', 'fn')}"
                          f"{inspect.signature(fn)}: a trainer takes one argument, the trial "
                          "config (def train(config: dict) -> dict)") from None
    except ValueError:  # no signature to inspect (a builtin): trust it
        return


def _entry_point(name: str) -> str | None:
    """`module:attr` of the installed entry point `name` in ENTRY_POINT_GROUP, if any."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return str(ep.value)
    return None


def known_names() -> list[str]:
    """The built-in trainers and the installed entry points (what an error lists)."""
    return list(BUILTIN) + sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
                                  - set(BUILTIN))


_RESOLVED: dict[tuple[str, str], Trainer] = {}  # (name, where from) -> Trainer


def resolve(name: Any, what: str = "trainer", path: str | None = None) -> Trainer:
    """The `Trainer` a space file's `trainer:` value names (cached per name and search path).

    `path`: the directory to import from (a worker's, from `Trainer.path`); default: the
    active `search_path`. Raises ConfigError in one line naming the culprit.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{what}: must be one of {', '.join(known_names())} (got {name!r}) "
                          "or an import path module:function")
    key = (name, path or ":".join(map(str, _SEARCH_PATH)))
    if key in _RESOLVED:
        return _RESOLVED[key]
    ref = BUILTIN.get(name) or (name if is_import_path(name) else _entry_point(name))
    if ref is None:
        raise ConfigError(f"{what}: must be one of {', '.join(known_names())} (got {name!r}) "
                          "or an import path module:function")
    obj, origin = load_object(ref, f"{what} {name}", path)
    if not isinstance(obj, Trainer):
        _check_signature(obj, f"{what} {name}")
        obj = Trainer(obj)
    else:
        _check_signature(obj.fn, f"{what} {name}")
    builtin = name in BUILTIN
    found = replace(obj, name=name, ref=ref, path="" if builtin else origin or (path or ""),
                    builtin=builtin)
    _RESOLVED[key] = found
    return found
