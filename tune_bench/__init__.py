"""tune-bench: Ray Tune sweeps for ResNet and SVM studies, and the tables they produce."""

__version__ = "0.1.0"

# What a trainer calls (tune_bench.report(...)), imported when first used: name -> module.
_LAZY = {"report": "tune_bench.session", "restored_state": "tune_bench.session",
         "dataset": "tune_bench.session", "threads": "tune_bench.session",
         "trainer": "tune_bench.plugins", "Trainer": "tune_bench.plugins"}


def __getattr__(name: str) -> object:
    """`tune_bench.report` & co. without importing torch or Ray at `import tune_bench`."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tune_bench' has no attribute {name!r}")
