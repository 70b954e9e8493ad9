"""pytest plugin of the GPU check: one row per test in the step file named by
$TUNE_BENCH_CHECK_STEP_FILE, written as each test ends (a run cut off keeps what ended)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENV = "TUNE_BENCH_CHECK_STEP_FILE"


def outcome_row(report: Any) -> dict[str, Any] | None:
    """The row of a test's report, or None for a phase that says nothing new (a passed setup
    or teardown)."""
    if report.when != "call" and report.outcome == "passed":
        return None
    if report.when == "teardown" and report.outcome == "skipped":
        return None
    reason = ""
    if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    elif report.outcome == "failed":
        reason = str(report.longrepr).strip().splitlines()[-1][:300] if report.longrepr else ""
    outcome = "error" if report.outcome == "failed" and report.when != "call" else report.outcome
    return {"test": report.nodeid.split("::")[-1], "outcome": outcome,
            "seconds": round(report.duration, 2), "reason": reason}


def pytest_runtest_logreport(report: Any) -> None:
    path = os.environ.get(ENV)
    row = outcome_row(report)
    if not path or row is None:
        return
    p = Path(path)
    data = json.loads(p.read_text()) if p.exists() else {"rows": []}
    data["rows"].append(row)
    tmp = p.with_suffix(".rows.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(p)
