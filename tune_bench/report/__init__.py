"""The report: number formatting and labels (`format`), the markdown / CSV / LaTeX / HTML
writers (`render`), figures (`plots`, imported on use: matplotlib is slow to load) and
`tune-bench status` (`status`). The names callers use are re-exported here."""

from collections.abc import Sequence
from pathlib import Path

from tune_bench.report.format import describe_config, display, fmt, label, ms, pct, sort_key
from tune_bench.report.render import (
    EXPORTS,
    FORMATS,
    check_choices,
    csv_frame,
    export_trials,
    html_document,
    latex_escape,
    render,
    render_table,
    tidy_for_export,
)
from tune_bench.report.status import status_summary

__all__ = [
    "EXPORTS", "FORMATS", "check_choices", "csv_frame", "describe_config", "display",
    "export_trials", "fmt", "html_document", "label", "latex_escape", "ms", "pct", "render",
    "render_table", "sort_key", "status_summary", "tidy_for_export", "write_report",
]


def write_report(paths: Sequence[str | Path], fmt: str = "markdown", out: Path | None = None,
                 export: str | None = None, metric: str | None = None,
                 mode: str | None = None) -> str:
    """The whole report of the experiments at `paths`: `tune_bench.api.analyze` (kept here for
    callers of the former `report.render.write_report`)."""
    from tune_bench.api import analyze

    return analyze(paths, fmt, out, export, metric, mode)
