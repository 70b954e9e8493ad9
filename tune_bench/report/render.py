"""Write the comparative tables: markdown, LaTeX and one self-contained HTML file show them as
text (`format.display`); CSV and the parquet trials export keep the numbers."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from tune_bench import analysis as an
from tune_bench.errors import ConfigError
from tune_bench.report.format import STATE_WORDS, display, present
from tune_bench.storage import is_uri

if TYPE_CHECKING:
    from tune_bench.analysis.findings import Findings
    from tune_bench.analysis.tables import Table

FORMATS = ("markdown", "csv", "latex", "html")
EXPORTS = ("parquet", "csv")
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
# CSV numbers: 15 significant digits (99.06, not 99.06000000000002); parquet keeps every bit.
_CSV_FLOAT = "%.15g"


def _one_of(choices: Sequence[str]) -> str:
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


def check_choices(fmt: str, export: str | None = None) -> None:
    """Refuse an unknown output format or trials export (ConfigError naming the option).

    The one check of both: `write_report`, the entry point of the CLI's `analyze`, calls it.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format: must be {_one_of(FORMATS)} (got {fmt!r})")
    if export is not None and export not in EXPORTS:
        raise ConfigError(f"--export: must be {_one_of(EXPORTS)} (got {export!r})")


# --------------------------------------------------------------------------- rendering


def _cells(table: Table, conv: Callable[[str], str],
           bold: Callable[[str], str]) -> pd.DataFrame:
    """The table's text with `conv` applied to every cell and header, `bold` to the
    emphasized cells."""
    text, emphasis = display(table)
    out = pd.DataFrame({c: [bold(v) if b else conv(v) for v, b in
                            zip(text[c], emphasis[c], strict=True)] for c in text.columns},
                       index=text.index, dtype=object)
    out.columns = [conv(str(c)) for c in text.columns]
    return out


def render_table(table: Table, fmt: str = "markdown") -> str:
    """One table (title, body, notes) in `fmt` (markdown, csv, latex or html)."""
    return {"markdown": _markdown, "csv": _csv, "latex": _latex, "html": _html}[fmt](table)


def render(tables: Sequence[Table], fmt: str = "markdown") -> str:
    """All tables in `fmt`, one after the other. For a person (markdown, html) a note said
    under an earlier table is not said again, and trial states read "finished", "errored"...
    (CSV and LaTeX keep every note and Tune's state names)."""
    if fmt in ("markdown", "html"):
        tables = for_reading(tables)
    return "\n".join(render_table(t, fmt) for t in tables)


def for_reading(tables: Sequence[Table]) -> list[Table]:
    """`tables` with each note said once (a table with no rows keeps its reason) and the
    trials-per-state headers in words."""
    seen: set[str] = set()
    out = []
    for t in tables:
        if not t.df.empty:
            t = dataclasses.replace(t, notes=[n for n in t.notes if n not in seen])
            seen.update(t.notes)
        if t.key == "trials" and t.shown is None:
            words = {s: w for s, w in STATE_WORDS.items() if s in t.df.columns}
            t = dataclasses.replace(
                t, df=t.df.rename(columns=words),
                emphasis=None if t.emphasis is None else t.emphasis.rename(columns=words))
        out.append(t)
    return out


def _markdown(t: Table) -> str:
    lines = [f"## {t.title}", ""]
    if t.df.empty:
        lines += [f"_{n}_" for n in t.notes] + [""]
        return "\n".join(lines)
    body = _cells(t, str, lambda c: f"**{c}**")
    lines += [body.to_markdown(index=False, disable_numparse=True), ""]
    lines += [f"- {n}" for n in t.notes] + [""]
    return "\n".join(lines)


def csv_frame(t: Table) -> pd.DataFrame:
    """The table's numbers as written to CSV: its columns, plus a boolean `<column> best` for
    each column with emphasized cells."""
    mask = t.mask()
    marked = [c for c in mask.columns if mask[c].any()]
    best = {f"{str(c).removesuffix(' (%)')} best": mask[c].astype(bool) for c in marked}
    return t.df.assign(**best) if best else t.df


def _csv(t: Table) -> str:
    return csv_frame(t).to_csv(index=False, float_format=_CSV_FLOAT)


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters; ± becomes $\\pm$."""
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    return out.replace("±", r"$\pm$")


def _latex(t: Table) -> str:
    if t.df.empty:
        return f"% {latex_escape(t.title)}: " + "; ".join(latex_escape(n) for n in t.notes) + "\n"
    body = _cells(t, latex_escape, lambda c: r"\textbf{" + latex_escape(c) + "}")
    tex = body.to_latex(index=False, escape=False, caption=latex_escape(t.title),
                        label=f"tab:{t.key}", position="htbp")
    notes = "".join(f"\\par\\noindent\\footnotesize {latex_escape(n)}\n" for n in t.notes)
    return tex + notes


def _html(t: Table) -> str:
    parts = [f'<section id="{html.escape(t.key)}"><h2>{html.escape(t.title)}</h2>']
    if not t.df.empty:
        body = _cells(t, html.escape, lambda c: f"<b>{html.escape(c)}</b>")
        # in a box of its own that scrolls sideways when the table is wider than the page
        parts.append('<div class="scroll">'
                     + body.to_html(index=False, escape=False, border=0, classes="tbl")
                     + "</div>")
    parts.append("<ul class=\"notes\">" + "".join(
        f"<li>{html.escape(n)}</li>" for n in t.notes) + "</ul></section>")
    return "\n".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;
max-width:1400px;padding:0 1rem;color:#222;background:#fff}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin-top:1.6rem;
border-bottom:1px solid #ddd}h3{font-size:1rem;margin:.8rem 0 .2rem}
.scroll{overflow-x:auto;max-width:100%}
table.tbl{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
table.tbl th,table.tbl td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
table.tbl th{background:#eef2f7}table.tbl tr:nth-child(even) td{background:#fafafa}
table.prov{border-collapse:collapse;font-size:.8rem;color:#333;margin:.3rem 0 1rem}
table.prov th{text-align:left;padding:.1rem .8rem .1rem 0;vertical-align:top;color:#555;
white-space:nowrap}table.prov td{padding:.1rem 0;white-space:pre-wrap;
overflow-wrap:anywhere}
nav.toc ol{columns:2 18rem;font-size:.9rem;margin:.3rem 0}
ul.notes{font-size:.8rem;color:#555}figure{margin:1rem 0}figure img{max-width:100%;
height:auto;border:1px solid #eee}figcaption{font-size:.8rem;color:#555}
#findings li{margin:.15rem 0}
"""


def provenance_html(rows: Sequence[tuple[str, str]]) -> str:
    """The head of the report: where its numbers come from, one row per fact."""
    if not rows:
        return ""
    return ('<table class="prov" id="provenance">' + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        + "</table>")


def _toc(tables: Sequence[Table], has_plots: bool) -> str:
    items = [f'<li><a href="#{html.escape(t.key)}">{html.escape(t.title)}</a></li>'
             for t in tables]
    if has_plots:
        items.append('<li><a href="#plots">Plots</a></li>')
    return '<nav class="toc"><h2>Contents</h2><ol>' + "".join(items) + "</ol></nav>"


def findings_markdown(f: Findings) -> str:
    """The Findings section in markdown: one list per block, then the notes."""
    lines = ["## Findings", ""]
    for name, sentences in f.sections:
        lines += [f"**{name}**", ""] + [f"- {s}" for s in sentences] + [""]
    lines += [f"_{n}_" for n in f.notes] + [""]
    return "\n".join(lines)


def findings_html(f: Findings) -> str:
    """The Findings section in HTML."""
    parts = ['<section id="findings"><h2>Findings</h2>']
    for name, sentences in f.sections:
        parts.append(f"<h3>{html.escape(name)}</h3><ul>"
                     + "".join(f"<li>{html.escape(s)}</li>" for s in sentences) + "</ul>")
    parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in f.notes)
                 + "</ul></section>")
    return "\n".join(parts)


def html_document(tables: Sequence[Table], images: Sequence[Path], header: str = "",
                  findings: Findings | None = None,
                  provenance: Sequence[tuple[str, str]] = ()) -> str:
    """One self-contained HTML page (inline CSS, PNGs as base64 data URIs), the answer first:
    the provenance, the findings, the best model table; then a table of contents, the other
    tables and the plots."""
    figures = []
    for p in images:
        data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
        figures.append(f'<figure><img alt="{html.escape(p.stem)}" '
                       f'src="data:image/png;base64,{data}">'
                       f"<figcaption>{html.escape(p.stem.replace('_', ' '))}</figcaption></figure>")
    plots = "<section id=\"plots\"><h2>Plots</h2>" + "".join(figures) + "</section>"
    answer = [t for t in tables if t.key == "best_models"]
    rest = [t for t in tables if t.key != "best_models"]
    head = provenance_html(provenance) or f"<p>{html.escape(header)}</p>"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tune-bench report</title><style>{_CSS}</style></head><body>"
        f"<h1>tune-bench report</h1>{head}\n"
        + (findings_html(findings) + "\n" if findings is not None else "")
        + (render(answer, "html") + "\n" if answer else "")
        + _toc(rest, bool(figures)) + "\n"
        + render(rest, "html") + ("\n" + plots if figures else "") + "\n</body></html>\n"
    )


# --------------------------------------------------------------------------- export


def tidy_for_export(df: pd.DataFrame) -> pd.DataFrame:
    """A copy that parquet can store: list/dict cells as JSON strings, mixed scalars unified."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype != object:
            continue
        values = [v for v in out[col] if present(v)]
        if any(isinstance(v, (list, dict, tuple)) for v in values):
            out[col] = out[col].map(
                lambda v: json.dumps(v, default=str) if present(v) else None).astype(object)
            continue
        kinds = {type(v) for v in values}
        if kinds and kinds <= {int, float}:
            out[col] = pd.to_numeric(out[col], errors="coerce")
        elif len(kinds) > 1:
            out[col] = out[col].map(lambda v: str(v) if present(v) else None).astype(object)
    return out


def export_trials(df: pd.DataFrame, out: Path, kind: str = "parquet") -> Path:
    """Write the tidy trials DataFrame to `out/trials.parquet` (or `.csv`)."""
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
        if is_uri(p):  # in object storage: never where a local report goes
            continue
        exp = Path(p).resolve()
        if target == exp or exp in target.parents:
            raise ConfigError(f"out: {out} is inside the experiment directory {p}; "
                              "choose a directory outside it")


def write_report(
    paths: Sequence[str | Path],
    fmt: str = "markdown",
    out: Path | None = None,
    export: str | None = None,
    metric: str | None = None,
    mode: str | None = None,
) -> str:
    """Load the experiments, build every table and write the report.

    The findings (first in markdown and HTML) and the effects / anova / importance tables
    analyze `metric` (`mode` max or min): given, else the saved tune-bench spec's, else
    test_acc / max. A metric no trial reports is a ConfigError.

    markdown: returned (and written to `out/report.md` when `out` is given); csv / latex: one
    file per table in `out`; html: one self-contained `out/report.html` with the plots
    embedded. `export` ("parquet" or "csv") also writes the tidy trials table to `out`.
    Returns the markdown text, or a summary of the files written.
    """
    check_choices(fmt, export)
    if out is None and (fmt != "markdown" or export):
        raise ConfigError(f"an output directory is required for {export or fmt} output")
    out = Path(out) if out is not None else None
    if out is not None:
        _check_out(paths, out)
        out.mkdir(parents=True, exist_ok=True)
    df = an.load_experiments(paths)
    set_target(df, paths, metric, mode)
    tables = an.all_tables(df)
    header = _header(df)
    warnings = [f"warning: {w}" for w in df.attrs.get("warnings", [])]
    if fmt == "markdown":
        from tune_bench.analysis.findings import findings
        from tune_bench.forecast.compare import forecast_markdown

        text = "\n".join(["# tune-bench report", "", header, *warnings, "",
                          findings_markdown(findings(df)), render(tables),
                          *forecast_markdown(list(paths))])
        if out is not None:
            (out / "report.md").write_text(text)
    else:
        text = "\n".join([header, *warnings, *_write_files(df, tables, fmt, out, paths)])
    if export:
        text += f"\nwrote {export_trials(df, out, export)}"
    return text


def set_target(df: pd.DataFrame, paths: Sequence[str | Path], metric: str | None,
               mode: str | None) -> None:
    """Record the analyzed metric and mode in df.attrs: the given ones (checked: a metric no
    trial reports, or a mode other than max/min, is a ConfigError), else the saved spec's."""
    from tune_bench.analysis.design import resolve_target, spec_target

    saved_metric, saved_mode = spec_target(paths)
    if metric is not None or mode is not None:
        t = resolve_target(df, metric or saved_metric, mode or saved_mode)
        df.attrs.update(metric=t.metric, mode=t.mode)
    elif saved_metric is not None:
        df.attrs.update(metric=saved_metric, mode=saved_mode)


def _provenance(df: pd.DataFrame, paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """The report head's provenance rows, read from local copies of the experiments."""
    from contextlib import ExitStack

    from tune_bench.report.provenance import provenance
    from tune_bench.storage import readable

    with ExitStack() as stack:
        dirs = [stack.enter_context(readable(p)) for p in paths]
        return provenance(df, dirs)


def _write_files(df: pd.DataFrame, tables: list[Table], fmt: str, out: Path,
                 paths: Sequence[str | Path] = ()) -> list[str]:
    lines = []
    if fmt == "html":
        from tune_bench.analysis.findings import findings
        from tune_bench.report.plots import make_plots

        with tempfile.TemporaryDirectory() as tmp:
            images = make_plots(df, Path(tmp))
            doc = html_document(tables, images, _header(df), findings(df),
                                _provenance(df, paths))
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


