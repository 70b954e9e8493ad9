"""Render the comparative tables as markdown, CSV, LaTeX or one self-contained HTML file."""

from __future__ import annotations

import base64
import html
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tune_bench import analysis as an
from tune_bench import tune_dir
from tune_bench.analysis import Table
from tune_bench.errors import ConfigError

FORMATS = ("markdown", "csv", "latex", "html")
EXPORTS = ("parquet", "csv")
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


# --------------------------------------------------------------------------- rendering


def _is_marked(cell: Any) -> bool:
    return isinstance(cell, str) and len(cell) > 1 and cell.endswith("*")


def _cells(df: pd.DataFrame, conv: Callable[[Any], str]) -> pd.DataFrame:
    out = df.astype(object).map(conv)
    out.columns = [conv(str(c)) for c in df.columns]
    return out


def render_table(table: Table, fmt: str = "markdown") -> str:
    """One table (title, body, notes) in `fmt` (markdown, csv, latex or html)."""
    renderer = {"markdown": _markdown, "csv": _csv, "latex": _latex, "html": _html}.get(fmt)
    if renderer is None:
        raise ConfigError(f"format: must be one of {', '.join(FORMATS)} (got {fmt!r})")
    return renderer(table)


def render(tables: Sequence[Table], fmt: str = "markdown") -> str:
    """All tables in `fmt`, one after the other."""
    return "\n".join(render_table(t, fmt) for t in tables)


def _markdown(t: Table) -> str:
    lines = [f"## {t.title}", ""]
    if t.df.empty:
        lines += [f"_{n}_" for n in t.notes] + [""]
        return "\n".join(lines)
    body = t.df.astype(object).map(lambda c: f"**{c[:-1]}**" if _is_marked(c) else c)
    lines += [body.to_markdown(index=False, disable_numparse=True), ""]
    lines += [f"- {n}" for n in t.notes] + [""]
    return "\n".join(lines)


def _csv(t: Table) -> str:
    return t.df.to_csv(index=False)


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters; ± becomes $\\pm$."""
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    return out.replace("±", r"$\pm$")


def _latex_cell(c: Any) -> str:
    if _is_marked(c):
        return r"\textbf{" + latex_escape(c[:-1]) + "}"
    return latex_escape(c)


def _latex(t: Table) -> str:
    if t.df.empty:
        return f"% {latex_escape(t.title)}: " + "; ".join(latex_escape(n) for n in t.notes) + "\n"
    body = _cells(t.df, _latex_cell)
    tex = body.to_latex(index=False, escape=False, caption=latex_escape(t.title),
                        label=f"tab:{t.key}", position="htbp")
    notes = "".join(f"\\par\\noindent\\footnotesize {latex_escape(n)}\n" for n in t.notes)
    return tex + notes


def _html_cell(c: Any) -> str:
    if _is_marked(c):
        return f"<b>{html.escape(c[:-1])}</b>"
    return html.escape(str(c))


def _html(t: Table) -> str:
    parts = [f'<section id="{html.escape(t.key)}"><h2>{html.escape(t.title)}</h2>']
    if not t.df.empty:
        body = _cells(t.df, _html_cell)
        parts.append(body.to_html(index=False, escape=False, border=0, classes="tbl"))
    parts.append("<ul class=\"notes\">" + "".join(
        f"<li>{html.escape(n)}</li>" for n in t.notes) + "</ul></section>")
    return "\n".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#222;
background:#fff}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table.tbl{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
table.tbl th,table.tbl td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
table.tbl th{background:#eef2f7}table.tbl tr:nth-child(even) td{background:#fafafa}
ul.notes{font-size:.8rem;color:#555}figure{margin:1rem 0}figure img{max-width:100%;
border:1px solid #eee}figcaption{font-size:.8rem;color:#555}
"""


def html_document(tables: Sequence[Table], images: Sequence[Path], header: str = "") -> str:
    """One self-contained HTML page: inline CSS, tables, PNGs as base64 data URIs."""
    figures = []
    for p in images:
        data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
        figures.append(f'<figure><img alt="{html.escape(p.stem)}" '
                       f'src="data:image/png;base64,{data}">'
                       f"<figcaption>{html.escape(p.stem.replace('_', ' '))}</figcaption></figure>")
    plots = "<section id=\"plots\"><h2>Plots</h2>" + "".join(figures) + "</section>"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>tune-bench report</title><style>{_CSS}</style></head><body>"
        f"<h1>tune-bench report</h1><p>{html.escape(header)}</p>\n"
        + render(tables, "html") + ("\n" + plots if figures else "") + "\n</body></html>\n"
    )


# --------------------------------------------------------------------------- export


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def tidy_for_export(df: pd.DataFrame) -> pd.DataFrame:
    """A copy that parquet can store: list/dict cells as JSON strings, mixed scalars unified."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype != object:
            continue
        values = [v for v in out[col] if _present(v)]
        if any(isinstance(v, (list, dict, tuple)) for v in values):
            out[col] = out[col].map(
                lambda v: json.dumps(v, default=str) if _present(v) else None).astype(object)
            continue
        kinds = {type(v) for v in values}
        if kinds and kinds <= {int, float}:
            out[col] = pd.to_numeric(out[col], errors="coerce")
        elif len(kinds) > 1:
            out[col] = out[col].map(lambda v: str(v) if _present(v) else None).astype(object)
    return out


def export_trials(df: pd.DataFrame, out: Path, kind: str = "parquet") -> Path:
    """Write the tidy trials DataFrame to `out/trials.parquet` (or `.csv`)."""
    if kind not in EXPORTS:
        raise ConfigError(f"export: must be one of {', '.join(EXPORTS)} (got {kind!r})")
    out.mkdir(parents=True, exist_ok=True)
    tidy = tidy_for_export(df)
    path = out / f"trials.{kind}"
    if kind == "parquet":
        tidy.attrs = {}
        try:
            tidy.to_parquet(path, index=False)
        except ImportError as exc:
            raise ConfigError(f"export parquet: {exc} (pip install 'tune-bench[parquet]')") from exc
    else:
        tidy.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- entry points


def _header(df: pd.DataFrame) -> str:
    per = df.groupby("experiment", sort=False).size()
    return "Experiments: " + ", ".join(f"{e} ({n} trials)" for e, n in per.items())


def _check_out(paths: Sequence[str | Path], out: Path) -> None:
    target = out.resolve()
    for p in paths:
        exp = Path(p).resolve()
        if target == exp or exp in target.parents:
            raise ConfigError(f"out: {out} is inside the experiment directory {p}; "
                              "choose a directory outside it")


def write_report(
    paths: Sequence[str | Path],
    fmt: str = "markdown",
    out: Path | None = None,
    export: str | None = None,
) -> str:
    """Load the experiments, build every table and write the report.

    markdown: returned (and written to `out/report.md` when `out` is given); csv / latex: one
    file per table in `out`; html: one self-contained `out/report.html` with the plots
    embedded. `export` ("parquet" or "csv") also writes the tidy trials table to `out`.
    Returns the markdown text, or a summary of the files written.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format: must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if export is not None and export not in EXPORTS:
        raise ConfigError(f"export: must be one of {', '.join(EXPORTS)} (got {export!r})")
    if out is None and (fmt != "markdown" or export):
        raise ConfigError(f"an output directory is required for {export or fmt} output")
    out = Path(out) if out is not None else None
    if out is not None:
        _check_out(paths, out)
        out.mkdir(parents=True, exist_ok=True)
    df = an.load_experiments(paths)
    tables = an.all_tables(df)
    header = _header(df)
    warnings = [f"warning: {w}" for w in df.attrs.get("warnings", [])]
    if fmt == "markdown":
        text = "\n".join(["# tune-bench report", "", header, *warnings, "", render(tables)])
        if out is not None:
            (out / "report.md").write_text(text)
    else:
        text = "\n".join([header, *warnings, *_write_files(df, tables, fmt, out)])
    if export:
        text += f"\nwrote {export_trials(df, out, export)}"
    return text


def _write_files(df: pd.DataFrame, tables: list[Table], fmt: str, out: Path) -> list[str]:
    lines = []
    if fmt == "html":
        from tune_bench.plots import make_plots

        with tempfile.TemporaryDirectory() as tmp:
            images = make_plots(df, Path(tmp))
            doc = html_document(tables, images, _header(df))
        path = out / "report.html"
        path.write_text(doc, encoding="utf-8")
        return [f"wrote {path} ({len(tables)} tables, {len(images)} plots)"]
    ext = {"csv": "csv", "latex": "tex"}[fmt]
    for t in tables:
        if t.df.empty:
            lines.append(f"{t.key}: " + "; ".join(t.notes))
            continue
        path = out / f"{t.key}.{ext}"
        path.write_text(render_table(t, fmt))
        lines.append(f"wrote {path}")
    notes = out / "notes.md"
    notes.write_text("\n".join(f"## {t.title}\n\n" + "".join(f"- {n}\n" for n in t.notes)
                               for t in tables))
    lines.append(f"wrote {notes}")
    return lines


def status_summary(path: str | Path) -> str:
    """Trials per state and the best trial so far, for `tune-bench status`."""
    df = an.load_experiments([path])
    counts = df["state"].value_counts()
    order = [s for s in an.STATES if s in counts] + [s for s in counts.index if s not in an.STATES]
    lines = [f"{df['experiment'].iloc[0]}: {len(df)} trials: "
             + ", ".join(f"{counts[s]} {s}" for s in order)]
    early = an.numeric(df[df["stopped_early"]], "epoch").fillna(0)
    if len(early):  # finished: the scheduler stopped them before their last epoch
        lines[0] += "; " + tune_dir.stopped_early_text(early, tune_dir.scheduler_name(path))
    lines += [f"warning: {w}" for w in df.attrs.get("warnings", [])]
    lines.append(_best_so_far(df))
    errors = df[df["state"] == "ERROR"]
    for _, r in errors.head(5).iterrows():
        lines.append(f"error in {r['trial_id']}: {r['error'] or '(no error.txt)'}")
    if len(errors) > 5:
        lines.append(f"... and {len(errors) - 5} more errored trials")
    return "\n".join(lines)


def _best_so_far(df: pd.DataFrame) -> str:
    cfg = [c for c in an.config_columns(df) if c not in ("trainer", "seed")]
    keys = an.varying(df, cfg) or [c for c in ("dataset", "model", "kernel") if c in cfg]
    best = an.best_trial(df)
    if best is not None:
        return (f"best so far: {best['trial_id']} ({an.describe_config(best, keys)}): "
                f"final test_acc {an.pct(best['test_acc'])}%")
    val = an.numeric(df, "val_acc")
    if val.notna().any():
        row = df.loc[val.idxmax()]
        return (f"best so far (no trial finished; by last val_acc): {row['trial_id']} "
                f"({an.describe_config(row, keys)}): val_acc {an.pct(row['val_acc'])}%")
    return "best so far: none (no results reported yet)"
