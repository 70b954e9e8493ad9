"""tune-bench: Ray Tune sweeps for ResNet and SVM studies, and the tables they produce."""

__version__ = "0.1.0"

# What a trainer calls, imported when first used: name -> module. NOTE: `tune_bench.report`
# is the report subpackage (tables, plots), so a trainer reports with
# `tune_bench.report_metrics(metrics, state=...)` (tune_bench.session.report).
_ALIASES = {"report_metrics": "report"}
_LAZY = {"report_metrics": "tune_bench.session", "restored_state": "tune_bench.session",
         "dataset": "tune_bench.session", "threads": "tune_bench.session",
         "trainer": "tune_bench.plugins", "Trainer": "tune_bench.plugins",
         # the Python API: import tune_bench as tb; tb.load(...), tb.sweep(...)
         "load": "tune_bench.api", "analyze": "tune_bench.api",
         "open_experiment": "tune_bench.api", "Experiment": "tune_bench.api"}


def __getattr__(name: str) -> object:
    """`tune_bench.report` & co. without importing torch or Ray at `import tune_bench`."""
    import importlib

    if name == "sweep":  # the subpackage, callable as the API's sweep (tune_bench/sweep)
        return importlib.import_module("tune_bench.sweep")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), _ALIASES.get(name, name))
    raise AttributeError(f"module 'tune_bench' has no attribute {name!r}")
