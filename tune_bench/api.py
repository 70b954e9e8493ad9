"""tune-bench from Python: load any Ray Tune experiment (or run a sweep) and get its trials,
tables, findings, best trial and report as Python objects.

    import tune_bench as tb

    exp = tb.load("ray_results/q1b_svm")        # any Tune experiment: a path, URI or list
    exp.findings()                               # one row per inferred effect, with its sentence
    exp.tables()["effects"]                      # the numbers of the CSV export, as DataFrames
    exp.best()                                   # the best trial (as Ray's get_best_trial)
    exp.report("out", format="html")             # what `tune-bench analyze` writes

The CLI's `analyze`, `status` and the end of a sweep go through this module; `report/` holds
the writers (markdown, CSV, LaTeX, HTML) and `analysis/` the numbers.
"""

from __future__ import annotations

import copy
import html
import math
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tune_bench import analysis as an
from tune_bench.analysis import findings as fd
from tune_bench.analysis.target import Target, set_target, target_of
from tune_bench.errors import ConfigError
from tune_bench.report.render import (
    Claims,
    check_choices,
    claims_markdown,
    csv_frame,
    export_trials,
    findings_html,
    findings_markdown,
    html_document,
    render,
    render_table,
)
from tune_bench.storage import is_uri

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tune_bench.analysis.tables import Table
    from tune_bench.sweep.run import SweepOutcome

PathLike = str | Path
# the columns of `Experiment.findings()`
FINDING_COLUMNS = ["block", "design", "kind", "factor", "levels", "effect", "unit", "ci_low",
                   "ci_high", "n", "method", "p_holm", "significant", "sentence", "in_text"]


def _as_list(paths: PathLike | Sequence[PathLike]) -> list[PathLike]:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def load(paths: PathLike | Sequence[PathLike], metric: str | None = None,
         mode: str | None = None, claims: PathLike | None = None) -> Experiment:
    """The experiment(s) at `paths` (local directories or URIs, analyzed together), analyzing
    `metric` / `mode`: given, else the saved tune-bench spec's, else Tune's own, else the only
    candidate; a ConfigError naming the metrics the trials report when it cannot tell."""
    exp = open_experiment(paths)
    set_target(exp._df, metric, mode)
    # the claims saved with the sweeps and those of `claims` (a YAML file: stated after the
    # sweep), checked against the trials before any work (`Experiment.claims()`)
    from tune_bench.analysis.claims import attach_claims

    attach_claims(exp._df, exp.paths, claims)
    return exp


def open_experiment(paths: PathLike | Sequence[PathLike]) -> Experiment:
    """The experiment(s) at `paths` without resolving the analyzed metric (the end of a sweep
    shows the best test accuracy of its trainers whatever the metric)."""
    paths = _as_list(paths)
    return Experiment(paths, an.load_experiments(paths))


def sweep(space: PathLike | dict[str, Any], **options: Any) -> Experiment:
    """Run a search space (a YAML file or the same content as a dict, checked by the same
    schema) as a Ray Tune sweep, as `tune-bench sweep` does, and return its Experiment.

    Options, as the CLI's: name, storage_path ("ray_results"), address, data_dir,
    max_concurrent, max_failures, drop_gpu_trials, num_cpus, cpus_per_trial, gpus_per_trial,
    repeats, keep_checkpoints, shared_storage, progress (False), and `set` (a dict of values
    overriding every trial's, as `--set key=value`). The outcome (states, errored trials,
    notes) is `Experiment.outcome`."""
    from tune_bench.config import TRAINERS, TrialValueError, check_overrides
    from tune_bench.space import load_space, names_plugin, parse_space
    from tune_bench.sweep.options import DEFAULT_MAX_FAILURES, SweepOptions
    from tune_bench.sweep.run import run_sweep

    opts = dict(options)
    overrides = dict(opts.pop("set", None) or {})
    try:
        check_overrides(overrides, TRAINERS)
    except TrialValueError as e:
        if not names_plugin(space):  # else the plug-in's own config checks them with the space
            raise ConfigError(f"set {e.key}: {e.reason}") from None
    for key, name in (("cpus_per_trial", "cpus_per_trial"), ("gpus_per_trial", "gpus_per_trial"),
                      ("repeats", "num_samples")):
        value = opts.pop(key, None)
        if value is not None:
            overrides[name] = value
    if isinstance(space, dict):
        spec = parse_space(space, opts.pop("source", "<dict>"), overrides or None)
    else:
        spec = load_space(space, overrides or None)
    known = {"name", "storage_path", "address", "data_dir", "max_concurrent", "max_failures",
             "drop_gpu_trials", "num_cpus", "progress", "keep_checkpoints", "shared_storage"}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ConfigError(f"sweep: unknown option(s) {', '.join(unknown)} "
                          f"(known: set, repeats, cpus_per_trial, gpus_per_trial, "
                          f"{', '.join(sorted(known))})")
    run = SweepOptions(storage_path=str(opts.get("storage_path", "ray_results")),
                          name=opts.get("name"), address=opts.get("address"),
                          data_dir=opts.get("data_dir"),
                          max_concurrent=opts.get("max_concurrent"),
                          max_failures=opts.get("max_failures", DEFAULT_MAX_FAILURES),
                          drop_gpu_trials=bool(opts.get("drop_gpu_trials", False)),
                          num_cpus=opts.get("num_cpus"),
                          progress=bool(opts.get("progress", False)),
                          keep_checkpoints=bool(opts.get("keep_checkpoints", False)),
                          overrides=overrides or None,
                          shared_storage=bool(opts.get("shared_storage", False)))
    outcome = run_sweep(spec, run)
    exp = open_experiment(outcome.path)
    exp.outcome = outcome
    return exp


def analyze(paths: Sequence[PathLike], fmt: str = "markdown", out: Path | None = None,
            export: str | None = None, metric: str | None = None,
            mode: str | None = None, claims: PathLike | None = None) -> str:
    """`tune-bench analyze`: check the options, load the experiments and write the report
    (see `Experiment.report`); returns the markdown text or the lines naming the files."""
    check_choices(fmt, export)
    if out is None and (fmt != "markdown" or export):
        raise ConfigError(f"an output directory is required for {export or fmt} output")
    out = Path(out) if out is not None else None
    if out is not None:
        _check_out(paths, out)
    return load(paths, metric, mode, claims).report(out, fmt, export)


def _check_out(paths: Sequence[PathLike], out: Path) -> None:
    target = out.resolve()
    for p in paths:
        if is_uri(p):  # in object storage: never where a local report goes
            continue
        exp = Path(p).resolve()
        if target == exp or exp in target.parents:
            raise ConfigError(f"out: {out} is inside the experiment directory {p}; "
                              "choose a directory outside it")


class Experiment:
    """One or more Tune experiments, read from disk (JSON/CSV only: no code of theirs runs).

    The tidy trials DataFrame is held once, so the inference behind the tables, the findings
    and the plots is computed once."""

    def __init__(self, paths: Sequence[PathLike], df: pd.DataFrame) -> None:
        self.paths: list[PathLike] = list(paths)
        self._df = df
        self._tables: list[Table] | None = None
        self.outcome: SweepOutcome | None = None

    # ------------------------------------------------------------------ data

    @property
    def trials(self) -> pd.DataFrame:
        """The tidy DataFrame, one row per trial (a copy: changing it changes nothing here)."""
        out = self._df.copy()
        out.attrs = copy.deepcopy(self._df.attrs)
        return out

    @property
    def target(self) -> Target:
        """The analyzed metric and its direction."""
        return target_of(self._df)

    @property
    def states(self) -> dict[str, int]:
        """Trials per Tune state (TERMINATED, ERROR, ...)."""
        return {str(k): int(v) for k, v in self._df["state"].value_counts().items()}

    def _all_tables(self) -> list[Table]:
        if self._tables is None:
            self._tables = an.all_tables(self._df)
        return self._tables

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table with rows, by key (`effects`, `svm`, `trial_states`, ...): numeric
        DataFrames holding what the CSV export writes (mean, std, CI low/high, n in columns
        of their own; a boolean `... best` column for the highlighted cells)."""
        return {t.key: csv_frame(t).copy() for t in self._all_tables() if not t.df.empty}

    def findings(self) -> pd.DataFrame:
        """The findings as records, one per inferred quantity (`FINDING_COLUMNS`): its block
        and design, kind (effect, simple, rho, level, importance, anova, hardware, best), factor,
        levels (`B − A` for a difference), effect (in display units, `unit`), 95% interval,
        n, method, Holm-adjusted p, significant, the sentence saying it and whether that
        sentence is in the findings text (`in_text`: the text keeps the strongest per factor)."""
        s = fd.study(self._df)
        text = {x for _, sentences in fd.findings(self._df).sections for x in sentences}
        rows: list[dict[str, Any]] = []
        for b in s.blocks:
            rows += _block_records(b, self._df)
        for h in s.hardware:
            rows += _hardware_records(h)
        out = pd.DataFrame(rows, columns=FINDING_COLUMNS)
        out["in_text"] = out["sentence"].isin(text)
        return out

    def claims(self) -> pd.DataFrame:
        """The claims' verdicts, one row per test (`analysis.claims.COLUMNS`): estimate,
        95% interval, n, p and Holm p, verdict, the test; empty without claims."""
        from tune_bench.analysis.claims import claims_frame

        return claims_frame(self._df)

    def findings_text(self) -> list[tuple[str, list[str]]]:
        """The findings as the reports say them: (block, sentences) pairs."""
        return fd.findings(self._df).sections

    def best(self) -> pd.Series | None:
        """The trial with the best last reported value of the metric (Ray's
        get_best_trial(scope="last")); None when no trial reported it."""
        return fd.best_trial_by(self._df, self.target)

    # ------------------------------------------------------------------ output

    def report(self, path: PathLike | None = None, format: str = "markdown",
               export: str | None = None) -> str:
        """Write the report to the directory `path`: markdown (`report.md`, also returned;
        `path` may be None), csv / latex (one file per table and `notes.md`), html (one
        self-contained `report.html` with the plots). `export` ("parquet" or "csv") also
        writes the tidy trials table. Returns the markdown text or the lines naming the
        files written."""
        fmt = format
        check_choices(fmt, export)
        if path is None and (fmt != "markdown" or export):
            raise ConfigError(f"an output directory is required for {export or fmt} output")
        out = Path(path) if path is not None else None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        df, tables = self._df, self._all_tables()
        header = _header(df)
        warnings = [f"warning: {w}" for w in df.attrs.get("warnings", [])]
        if fmt == "markdown":
            from tune_bench.forecast.compare import forecast_comparisons, forecast_markdown

            text = "\n".join(["# tune-bench report", "", header, *warnings, "",
                              claims_markdown(_claims(df)),
                              findings_markdown(fd.findings(df)), render(tables),
                              *forecast_markdown(forecast_comparisons(list(self.paths)))])
            if out is not None:
                (out / "report.md").write_text(text)
        else:
            assert out is not None
            text = "\n".join([header, *warnings, *self._write_files(tables, fmt, out)])
        if export:
            assert out is not None
            text += f"\nwrote {export_trials(df, out, export)}"
        return text

    def _write_files(self, tables: list[Table], fmt: str, out: Path) -> list[str]:
        df = self._df
        if fmt == "html":
            from tune_bench.forecast.compare import forecast_comparisons
            from tune_bench.report.plots import make_plots

            with tempfile.TemporaryDirectory() as tmp:
                images = make_plots(df, Path(tmp))
                doc = html_document(tables, images, _header(df), fd.findings(df),
                                    self._provenance(), claims=_claims(df),
                                    forecast=forecast_comparisons(list(self.paths)))
            path = out / "report.html"
            path.write_text(doc, encoding="utf-8")
            n = sum(not t.df.empty for t in tables)
            return [f"wrote {path} ({n} tables, {len(images)} plots)"]
        ext = {"csv": "csv", "latex": "tex"}[fmt]
        lines = []
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

    def _provenance(self) -> list[tuple[str, str]]:
        """The report head's provenance rows, read from local copies of the experiments."""
        from tune_bench.report.provenance import provenance
        from tune_bench.storage import readable

        with ExitStack() as stack:
            dirs = [stack.enter_context(readable(p)) for p in self.paths]
            return provenance(self._df, dirs)

    def status(self) -> str:
        """`tune-bench status`: trials per state (an interrupted sweep says so, with the
        command that resumes it) and the best trial so far per dataset."""
        from tune_bench.report.status import status_text
        from tune_bench.storage import readable

        parts = []
        for path in self.paths:
            one = self if len(self.paths) == 1 else load(path, self.target.metric,
                                                         self.target.mode)
            with readable(path) as local:
                parts.append(status_text(local, str(path), one._df, one.target)
                             .replace(str(local), str(path)))
        return "\n".join(parts)

    def summary(self) -> RenderableType:
        """The end of a sweep on the terminal (rich): the best configuration per dataset, the
        notes, the commands that write the full report."""
        from rich.console import Group
        from rich.text import Text

        from tune_bench.forecast.compare import read_comparison
        from tune_bench.report.summary import sweep_summary
        from tune_bench.storage import readable

        summary = sweep_summary(self.paths[0], self._df)
        with readable(self.paths[0]) as local:
            forecast = read_comparison(local)  # forecast against actual, when there was one
        return Group(summary, *(Text(line) for line in forecast)) if forecast else summary

    def _repr_html_(self) -> str:
        """Notebooks: the trial states, the best trial and the findings, compact."""
        from tune_bench.report.format import state_counts_text

        t = self.target
        head = (f"<p><b>tune-bench experiment</b>: {html.escape(_header(self._df))}; "
                f"{html.escape(state_counts_text(self.states))}; metric {html.escape(t.metric)}"
                f" ({html.escape(t.mode)})</p>")
        best = self.best()
        if best is not None:
            keys = [k for k in an.config_columns(self._df) if k in best.index]
            cfg = an.describe_config(best, an.varying(self._df, keys) or keys)
            pct = "%" if t.scale == 100 else ""
            head += (f"<p>best trial: {html.escape(str(best.get('trial_id')))} "
                     f"({html.escape(cfg)}): {html.escape(t.metric)} "
                     f"{html.escape(t.show(best[t.metric]))}{pct}</p>")
        return "<div>" + head + findings_html(fd.findings(self._df)) + "</div>"

    def __repr__(self) -> str:
        return f"<Experiment {', '.join(map(str, self.paths))}: {len(self._df)} trials>"


def _claims(df: pd.DataFrame) -> Claims | None:
    from tune_bench.analysis.claims import sentences

    return sentences(df) if df.attrs.get("claims") else None


def _header(df: pd.DataFrame) -> str:
    per = df.groupby("experiment", sort=False).size()
    return "Experiments: " + ", ".join(f"{e} ({n} trials)" for e, n in per.items())


# --------------------------------------------------------------------------- findings records


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def _record(b: fd.BlockResult | None, block: str, kind: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(FINDING_COLUMNS)
    row.update(block=block, design=fd.design_text(b.design) if b is not None else "",
               kind=kind, in_text=False)
    row.update(values)
    for k in ("effect", "ci_low", "ci_high", "p_holm"):
        row[k] = _num(row[k])
    return row


def _block_records(b: fd.BlockResult, df: pd.DataFrame) -> list[dict[str, Any]]:
    """The records of one block, each with the sentence findings.py words it with."""
    d, t = b.design, b.design.target
    name, rows = d.name, []
    if b.best is not None:
        rows.append(_record(b, name, "best", factor=None, levels=None,
                            effect=t.scale * _num(b.best[t.metric]), unit=t.metric,
                            n=1, method="last reported value (Ray's get_best_trial)",
                            sentence=fd._best_sentence(b, df)))
    eff = b.effects
    if eff is not None and not eff.empty:
        pairs = eff.groupby("Factor").size()
        for _, r in eff.iterrows():
            sentence = fd._effect_sentence(r, t, int(pairs[r["Factor"]]))
            if b.simple is not None and not b.simple.empty:
                sentence += fd._simple_text(r, b.simple, t)
            rows.append(_record(b, name, "effect", factor=r["Factor"],
                                levels=f"{r['Level B']} − {r['Level A']}", effect=r["Effect"],
                                unit=t.unit, ci_low=r["CI low"], ci_high=r["CI high"],
                                n=int(r["Pairs"]), method=r["Method"], p_holm=r["p (Holm)"],
                                significant=fd.significant(r), sentence=sentence))
    if b.simple is not None and not b.simple.empty:
        for _, r in b.simple.iterrows():
            main = eff[(eff["Factor"] == r["Factor"]) & (eff["Level A"] == r["Level A"])
                       & (eff["Level B"] == r["Level B"])]
            said = None  # the main effect's sentence, which says its simple effects
            if not main.empty:
                m = main.iloc[0]
                said = (fd._effect_sentence(m, t, int((eff["Factor"] == m["Factor"]).sum()))
                        + fd._simple_text(m, b.simple, t))
            rows.append(_record(b, name, "simple", factor=f"{r['Factor']} | {r['By']}="
                                f"{r['Within']}", levels=f"{r['Level B']} − {r['Level A']}",
                                effect=r["Effect"], unit=t.unit, ci_low=r["CI low"],
                                ci_high=r["CI high"], n=int(r["Pairs"]), method=r["Method"],
                                p_holm=r["p (Holm)"], significant=fd.significant(r),
                                sentence=said))
    if b.rho is not None and not b.rho.empty:
        for _, r in b.rho.iterrows():
            rows.append(_record(b, name, "rho", factor=r["Param"], levels=None,
                                effect=r["Rho"], unit="partial Spearman rho",
                                ci_low=r["CI low"], ci_high=r["CI high"], n=int(r["N"]),
                                method=r["Method"], p_holm=r["p (Holm)"],
                                significant=fd.significant(r),
                                sentence=fd._rho_sentence(r, t)))
    if b.levels is not None and not b.levels.empty:
        for _, r in b.levels.iterrows():
            rows.append(_record(b, name, "level", factor=r["Param"],
                                levels=f"{r['Level B']} − {r['Level A']}",
                                effect=t.scale * r["Effect"], unit=t.unit,
                                ci_low=t.scale * r["CI low"], ci_high=t.scale * r["CI high"],
                                n=int(r["N A"]) + int(r["N B"]), method=r["Method"],
                                p_holm=r["p (Holm)"], significant=fd.significant(r),
                                sentence=fd._level_sentence(r, t)))
    if b.anova is not None:
        sentence = fd._anova_sentence(b.anova)
        tab = b.anova.table[b.anova.table["F"].notna()]
        for _, r in tab.iterrows():
            p = _num(r["p (Holm)"])
            rows.append(_record(b, name, "anova", factor=r["Term"], levels=None,
                                effect=r["Share (%)"], unit="% of the variance",
                                n=len(d.y), method=f"type II ANOVA ({b.anova.residual})",
                                p_holm=p, significant=bool(math.isfinite(p) and p < 0.05),
                                sentence=sentence))
    imp = b.importance
    if imp is not None:
        sentence = fd._importance_sentence(imp)
        for _, r in imp.table.iterrows():
            rows.append(_record(b, name, "importance", factor=r["Param"], levels=None,
                                effect=r["Importance"], unit="importance",
                                ci_low=r["CI low"], ci_high=r["CI high"], n=imp.n,
                                method=imp.method, p_holm=r.get("p (perm, Holm)"),
                                significant=bool(r["Above noise"]), sentence=sentence))
    return rows


def _hardware_records(h: Any) -> list[dict[str, Any]]:
    sentences = fd._hardware_sentences(h)
    rows = []
    if h.pairs >= 1:
        rows.append(_record(None, h.block, "hardware", factor="device", levels="GPU − CPU",
                            effect=h.acc_diff, unit="points", ci_low=h.ci_low,
                            ci_high=h.ci_high, n=h.pairs, method=fd.ACC_METHOD,
                            p_holm=None, significant=bool(h.ci_low > 0 or h.ci_high < 0),
                            sentence=sentences[0] if sentences else None))
    if math.isfinite(h.rho):
        rows.append(_record(None, h.block, "hardware", factor="speedup vs MACs", levels=None,
                            effect=h.rho, unit="Spearman rho", ci_low=h.rho_low,
                            ci_high=h.rho_high, n=h.rho_pairs, method=fd.RHO_METHOD,
                            p_holm=None, significant=not (h.rho_low <= 0 <= h.rho_high),
                            sentence=sentences[-1] if sentences else None))
    return rows
