"""Write the comparative tables: markdown, LaTeX and one self-contained HTML file show them as
text (`format.display`); CSV and the parquet trials export keep the numbers. The pipeline that
loads experiments and writes a whole report is `tune_bench.api` (`Experiment.report`)."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tune_bench.errors import ConfigError
from tune_bench.report.format import STATE_WORDS, display, present

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

    The one check of both: `api.analyze` (the CLI's `analyze`) and `Experiment.report` call it.
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
    """All tables in `fmt`, one after the other. For a person (markdown, html) a table with
    nothing to show is left out and named once in a closing line, a note said under an
    earlier table is not said again, and trial states read "finished", "errored"... (CSV and
    LaTeX keep every note and Tune's state names)."""
    if fmt in ("markdown", "html"):
        shown = for_reading(tables)
        text = "\n".join(render_table(t, fmt) for t in shown)
        line = not_shown(tables)
        if line:
            text += (f"\n_{line}_\n" if fmt == "markdown"
                     else f'\n<p class="notes" id="not-shown">{html.escape(line)}</p>')
        return text
    return "\n".join(render_table(t, fmt) for t in tables)


def not_shown(tables: Sequence[Table]) -> str:
    """One line naming the tables with nothing to show, grouped by why."""
    why: dict[str, list[str]] = {}
    for t in tables:
        if t.df.empty:
            reason = "; ".join(n.removeprefix("not available: ") for n in t.notes) or "empty"
            why.setdefault(reason, []).append(t.title)
    if not why:
        return ""
    return "Not shown, nothing to show: " + "; ".join(
        f"{', '.join(titles)} ({reason})" for reason, titles in why.items()) + "."


def for_reading(tables: Sequence[Table]) -> list[Table]:
    """The tables with rows, each note said once, the trials-per-state headers in words."""
    seen: set[str] = set()
    out = []
    for t in tables:
        if t.df.empty:
            continue
        t = dataclasses.replace(t, notes=[n for n in t.notes if n not in seen])
        seen.update(t.notes)
        if t.key == "trial_states" and t.shown is None:
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
table.forecast td:first-child{text-align:left}
"""


def provenance_html(rows: Sequence[tuple[str, str]]) -> str:
    """The head of the report: where its numbers come from, one row per fact."""
    if not rows:
        return ""
    return ('<table class="prov" id="provenance">' + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        + "</table>")


def _toc(tables: Sequence[Table], has_plots: bool, has_forecast: bool = False) -> str:
    items = [f'<li><a href="#{html.escape(t.key)}">{html.escape(t.title)}</a></li>'
             for t in tables if not t.df.empty]
    if has_forecast:
        items.append(f'<li><a href="#forecast">{FORECAST_TITLE}</a></li>')
    if has_plots:
        items.append('<li><a href="#plots">Plots</a></li>')
    return '<nav class="toc"><h2>Contents</h2><ol>' + "".join(items) + "</ol></nav>"


Claims = tuple[list[tuple[str, str]], list[str]]  # (verdict, sentence) per claim; notes


def claims_markdown(c: Claims | None) -> str:
    """The Claims section in markdown ('' without claims): verdict first, then the rule."""
    if not c or not c[0]:
        return ""
    lines = ["## Claims", ""] + [f"- **{v}**: {s}" for v, s in c[0]] + [""]
    return "\n".join(lines + [f"_{n}_" for n in c[1]] + [""])


def claims_html(c: Claims | None) -> str:
    """The Claims section in HTML ('' without claims)."""
    if not c or not c[0]:
        return ""
    items = "".join(f"<li><b>{html.escape(v)}</b>: {html.escape(s)}</li>" for v, s in c[0])
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in c[1])
    return (f'<section id="claims-section"><h2>Claims</h2><ul>{items}</ul>'
            f'<ul class="notes">{notes}</ul></section>\n')


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


FORECAST_TITLE = "Forecast against actual"
Comparisons = Sequence[tuple[str, dict[str, Any]]]  # (experiment, forecast.compare_rows)


def forecast_html(comparisons: Comparisons) -> str:
    """The section 'Forecast against actual' in HTML ('' when no experiment was run with a
    forecast): per experiment, the wall and per-trial error in total, then a table per kind
    of trial (forecast.compare_rows' data, as the markdown's text lines say it)."""
    if not comparisons:
        return ""
    from tune_bench.forecast.compare import KIND_COLUMNS, kind_cells, median_line, wall_line

    parts = [f'<section id="forecast"><h2>{FORECAST_TITLE}</h2>']
    for name, cmp in comparisons:
        parts.append(f"<h3>{html.escape(name)}</h3>")
        total = [x for x in (wall_line(cmp), median_line(cmp)) if x]
        if total:
            parts.append('<ul class="forecast-total">'
                         + "".join(f"<li>{html.escape(x)}</li>" for x in total) + "</ul>")
        if not cmp["kinds"]:
            parts.append('<p class="notes">no finished trial to compare</p>')
            continue
        head = "".join(f"<th>{html.escape(c)}</th>" for c in KIND_COLUMNS)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in kind_cells(k))
                       + "</tr>" for k in cmp["kinds"])
        parts.append(f'<div class="scroll"><table class="tbl forecast"><thead><tr>{head}'
                     f"</tr></thead><tbody>{rows}</tbody></table></div>")
    parts.append('<ul class="notes"><li>error: (forecast - actual) / actual; a trial\'s '
                 "actual time is its last result's time_total_s</li></ul></section>")
    return "\n".join(parts)


def html_document(tables: Sequence[Table], images: Sequence[Path], header: str = "",
                  findings: Findings | None = None,
                  provenance: Sequence[tuple[str, str]] = (),
                  claims: Claims | None = None, forecast: Comparisons = ()) -> str:
    """One self-contained HTML page (inline CSS, PNGs as base64 data URIs), the answer first:
    the provenance, the findings, the best model table; then a table of contents, the other
    tables, the forecast against actual (`forecast`: forecast_comparisons) and the plots."""
    figures = []
    for p in images:
        data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
        figures.append(f'<figure><img alt="{html.escape(p.stem)}" '
                       f'src="data:image/png;base64,{data}">'
                       f"<figcaption>{html.escape(p.stem.replace('_', ' '))}</figcaption></figure>")
    plots = "<section id=\"plots\"><h2>Plots</h2>" + "".join(figures) + "</section>"
    answer = [t for t in tables if t.key == "best_models" and not t.df.empty]
    rest = [t for t in tables if t not in answer]
    head = provenance_html(provenance) or f"<p>{html.escape(header)}</p>"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tune-bench report</title><style>{_CSS}</style></head><body>"
        f"<h1>tune-bench report</h1>{head}\n"
        + claims_html(claims)
        + (findings_html(findings) + "\n" if findings is not None else "")
        + (render(answer, "html") + "\n" if answer else "")
        + _toc(rest, bool(figures), bool(forecast)) + "\n"
        + render(rest, "html") + ("\n" + forecast_html(forecast) if forecast else "")
        + ("\n" + plots if figures else "") + "\n</body></html>\n"
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
