"""report/: every output format, parquet export, status, plots, the HTML in Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg

from tests.test_analysis import cpu_gpu_trials, q1_trials, resnet, svm
from tests.tune_layout import write_experiment
from tune_bench import analysis as an
from tune_bench import report
from tune_bench.errors import ConfigError
from tune_bench.report import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One experiment with ResNet (CPU and GPU), SVM, a pending and an errored trial."""
    root = tmp_path_factory.mktemp("runs")
    trials = q1_trials() + cpu_gpu_trials() + [
        svm(0.9586, kernel="poly", degree=4), svm(0.9520, C=10.0, gamma=0.001),
        svm(0.8651, dataset="fashion_mnist", C=10.0)]
    return write_experiment(root, "study", trials)


def test_markdown_render(study: Path) -> None:
    text = report.write_report([study], "markdown")
    assert text.startswith("# tune-bench report")
    assert "## Aggregated best results per configuration" in text
    # best cells in bold, the numbers as computed
    assert "**99.06**" in text and "92.00 ± 2.00 (n=3)" in text
    assert "| MNIST " in text and "- 2 trial(s) without a final test_acc left out" in text
    assert "RuntimeError: CUDA out of memory" in text
    assert "## CPU vs GPU performance" in text and "12.66" in text


def test_render_absent_table() -> None:
    t = an.Table("svm", "SVM", pd.DataFrame(), ["not available: no finished SVM trials"])
    assert report.render([t]) == "\n_Not shown, nothing to show: SVM (no finished SVM trials)._\n"
    # CSV and LaTeX keep the table with its note (tools read the files they expect)
    assert "no finished SVM trials" in report.render([t], "latex")


def test_markdown_to_out_and_csv(study: Path, tmp_path: Path) -> None:
    report.write_report([study], "markdown", out=tmp_path / "md")
    assert (tmp_path / "md" / "report.md").read_text().startswith("# tune-bench report")
    out = tmp_path / "csv"
    summary = report.write_report([study], "csv", out=out)
    files = sorted(p.name for p in out.glob("*.csv"))
    assert files == sorted(f"{k}.csv" for k in (
        "trial_states", "effects", "best_per_configuration", "top_runs",
        "best_config_per_dataset_model", "svm", "svm_best", "cpu_vs_gpu", "cross_method",
        "best_models", "errors"))
    assert f"wrote {out / 'svm.csv'}" in summary
    svm_csv = pd.read_csv(out / "svm_best.csv")
    assert svm_csv[["Kernel", "Test Acc (%)"]].values.tolist()[:2] == [
        ["Poly", pytest.approx(95.86)], ["RBF", pytest.approx(95.20)]]
    gpu = pd.read_csv(out / "cpu_vs_gpu.csv")
    # ResNet-50 on CPU: the q1 trial (4,000 ms) and the cpu_gpu one are averaged
    assert gpu["Speedup (x)"].tolist() == pytest.approx(
        [3_038_957 / 240_042, (5_482_543 + 4_000) / 2 / 500_000])
    assert gpu[["n CPU", "n GPU"]].values.tolist() == [[1, 1], [2, 2]]
    assert "FLOPs = 2 x MACs" in (out / "notes.md").read_text()


def _repeats_study(root: Path) -> Path:
    """ResNet (CPU and GPU, repeats, a model missing on one row) and SVM (repeats, degree
    missing for rbf), a pending and an errored trial."""
    trials = q1_trials() + cpu_gpu_trials()
    trials += [svm(v, kernel="poly", degree=4, seed=s) for s, v in enumerate([0.95, 0.96])]
    trials += [svm(v, C=10.0, gamma=0.001, seed=s) for s, v in enumerate([0.94, 0.95, 0.97])]
    return write_experiment(root, "repeats", trials)


def test_csv_tables_load_as_numbers(tmp_path: Path) -> None:
    """Every CSV `analyze --format csv` writes loads with pandas.read_csv into numeric dtypes in
    every numeric column: missing is empty (not "-"), mean, CI and n are columns of their own
    (not "92.00 ± 2.00 (n=3)"), counts are two columns (not "1/2"), best is not a "*"."""
    from tune_bench.cli import main

    out = tmp_path / "csv"
    main(["analyze", str(_repeats_study(tmp_path)), "--format", "csv", "--out", str(out)])
    files = {p.stem: pd.read_csv(p) for p in sorted(out.glob("*.csv"))}
    assert len(files) == 12
    for name, df in files.items():
        for col in df.columns:
            if df[col].dtype != object:
                continue
            cells = df[col].dropna().astype(str)
            assert not cells.isin(["-", ""]).any(), (name, col)
            assert not cells.str.contains(r"±|^\d+/\d+$|\d\*$").any(), (name, col)
            assert pd.to_numeric(cells, errors="coerce").isna().any(), (name, col)  # text
    numeric = {
        "trial_states": ["TERMINATED", "ERROR", "PENDING", "total"],
        "best_per_configuration": ["Batch Size", "LR", "ResNet-18 Acc (%)",
                                   "ResNet-18 Acc std (%)", "ResNet-18 Acc 95% CI low (%)",
                                   "ResNet-18 Acc 95% CI high (%)", "ResNet-18 Acc n",
                                   "ResNet-50 Acc (%)"],
        "top_runs": ["Rank", "Batch Size", "LR", "Epochs", "Seed", "Test Acc (%)",
                     "Train Time (ms)"],
        "best_config_per_dataset_model": ["Test Acc (%)", "Test Acc 95% CI low (%)",
                                          "Test Acc 95% CI high (%)", "Test Acc n",
                                          "Train Time (ms)"],
        "svm": ["C", "degree", "Test Acc (%)", "Test Acc std (%)", "Test Acc n",
                "Train Acc (%)", "Train Time (ms)", "Predict Time (ms)"],
        "svm_best": ["C", "Test Acc (%)", "Train Time (ms)"],
        "cpu_vs_gpu": ["Acc CPU (%)", "Acc GPU (%)", "Time CPU (ms)", "Time GPU (ms)",
                       "Speedup (x)", "MACs (M)", "FLOPs (M)", "Params (M)", "n CPU", "n GPU"],
        "cross_method": ["MNIST Acc (%)", "MNIST Acc n", "MNIST Train Time (ms)",
                         "FashionMNIST Acc (%)"],
        "best_models": ["Test Acc (%)", "Test Acc 95% CI low (%)", "Train Time (ms)",
                        "Runner-up Acc (%)"],
        "effects": ["Effect", "CI low", "CI high", "Pairs", "Favour A", "Favour B", "Ties",
                    "p", "p (Holm)"],
        "anova": ["SS", "df", "F", "p", "p (Holm)", "Share (%)"],
    }
    for name, cols in numeric.items():
        for col in cols:
            assert pd.api.types.is_numeric_dtype(files[name][col]), (name, col)
    per_config = files["best_per_configuration"]
    # missing is empty: ResNet-50 ran only with SGD and batch size 16
    assert per_config["ResNet-50 Acc (%)"].isna().tolist() == [False, True, True, False, True]
    rep = per_config[per_config["Batch Size"] == 32].iloc[0]
    assert (rep["ResNet-18 Acc (%)"], rep["ResNet-18 Acc std (%)"], rep["ResNet-18 Acc n"]) == (
        pytest.approx(92.0), pytest.approx(2.0), 3)
    assert (rep["ResNet-18 Acc 95% CI low (%)"], rep["ResNet-18 Acc 95% CI high (%)"]) == (
        pytest.approx(87.0317, abs=1e-4), pytest.approx(96.9683, abs=1e-4))
    assert files["cpu_vs_gpu"][["n CPU", "n GPU"]].values.tolist() == [[1, 1], [2, 2]]
    svm_rows = files["svm"]
    assert svm_rows["degree"].tolist()[:1] == [4] and svm_rows["degree"].isna().sum() == 1
    assert svm_rows["Best"].dtype == bool and svm_rows["Test Acc n"].tolist() == [2, 3]


def test_latex(study: Path, tmp_path: Path) -> None:
    report.write_report([study], "latex", out=tmp_path)
    tex = (tmp_path / "best_per_configuration.tex").read_text()
    assert r"\begin{tabular}" in tex
    assert r"\caption{Aggregated best results per configuration}" in tex
    assert r"\textbf{99.06}" in tex and r"Acc (\%)" in tex
    assert r"92.00 $\pm$ 2.00 (n=3)" in tex and r"test\_acc" in tex
    assert report.latex_escape("a_b & 5% #1") == r"a\_b \& 5\% \#1"


def test_parquet_export(study: Path, tmp_path: Path) -> None:
    report.write_report([study], "csv", out=tmp_path, export="parquet")
    back = pd.read_parquet(tmp_path / "trials.parquet")
    df = an.load_experiments([study])
    assert len(back) == len(df) and list(back.columns) == list(df.columns)
    i = int(np.flatnonzero(df["confusion_matrix"].map(lambda m: isinstance(m, list)))[0])
    assert json.loads(back.loc[i, "confusion_matrix"]) == df.loc[i, "confusion_matrix"]
    assert json.loads(back.loc[i, "history"]) == df.loc[i, "history"]
    assert back["test_acc"].dropna().tolist() == df["test_acc"].dropna().tolist()
    assert set(back["gamma"].dropna()) == {"scale", "0.001"}  # mixed str/float -> str


def test_status_summary(study: Path) -> None:
    text = report.status_summary(study)
    first = text.splitlines()[0]
    assert first == "study: 21 trials: 19 finished, 1 errored, 1 pending"
    best = {ln.split(":")[0]: ln for ln in text.splitlines() if ln.startswith("best so far")}
    assert set(best) == {"best so far (MNIST)", "best so far (FashionMNIST)"}, text
    assert best["best so far (MNIST)"].endswith("final test_acc 99.06%")
    # per dataset, only the keys that vary among the trials of the best one's trainer
    assert "ResNet-18 (" in best["best so far (MNIST)"] and "backend=" not in text
    assert "error in" in text and "RuntimeError: CUDA out of memory" in text


def test_status_summary_before_any_final(tmp_path: Path) -> None:
    running = resnet(0.9, epochs=3, state="RUNNING")
    running["results"] = running["results"][:2]
    exp = write_experiment(tmp_path, "live", [running, {"config": {}, "results": [],
                                                        "state": "PENDING"}])
    text = report.status_summary(exp)
    assert text.splitlines()[0] == "live: 2 trials: 1 running, 1 pending"
    assert "by last val_acc" in text and "val_acc 70.00%" in text


def test_bad_arguments(study: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="format"):
        report.write_report([study], "pdf", out=tmp_path)
    with pytest.raises(ConfigError, match="output directory is required"):
        report.write_report([study], "csv")
    with pytest.raises(ConfigError, match="export"):
        report.write_report([study], "csv", out=tmp_path, export="xlsx")
    with pytest.raises(ConfigError, match="inside the experiment directory"):
        report.write_report([study], "csv", out=study / "report")
    assert not (study / "report").exists()


def test_plots(study: Path, tmp_path: Path) -> None:
    df = an.load_experiments([study])
    paths = plots.make_plots(df, tmp_path)
    # one learning rate per dataset and model here: no heatmap of a single column
    assert [p.name for p in paths] == [
        "main_effects.png", "parallel_coordinates.png",
        "efficiency_frontier.png", "cpu_gpu_speedup.png",
        "flops_vs_time.png", "training_curves.png", "confusion_matrix.png"]
    for p in paths:
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 5000


def test_plots_that_would_carry_no_information_are_left_out(tmp_path: Path) -> None:
    """A heatmap needs two learning rates; a complexity-vs-time plot two models; a heatmap's
    colours span at least 5 points, so that 0.2 points apart do not look far apart."""
    one_model = [resnet(0.9, lr=1e-3), resnet(0.92, lr=1e-2), resnet(0.91, optimizer="adam"),
                 resnet(0.93, optimizer="adam", lr=1e-2)]
    df = an.load_experiments([write_experiment(tmp_path, "grid", one_model)])
    assert plots.accuracy_heatmap(df, tmp_path) is not None
    assert plots.flops_vs_time(df, tmp_path) is None
    assert plots.colour_range(np.array([97.1, 97.3])) == pytest.approx((94.7, 99.7))
    assert plots.colour_range(np.array([99.0, 99.9])) == (95.0, 100.0)
    assert plots.colour_range(np.array([60.0, 90.0])) == (60.0, 90.0)


def test_plots_skip_what_does_not_apply(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path, "svm_only", [svm(0.9), svm(0.8, kernel="poly")])
    df = an.load_experiments([exp])
    assert [p.name for p in plots.make_plots(df, tmp_path / "p")] == [
        "parallel_coordinates.png", "efficiency_frontier.png"]
    assert plots.main_effects(df, tmp_path) is None  # one matched pair: no interval to plot
    assert plots.speedup_bars(df, tmp_path) is None


def test_pareto_front() -> None:
    times = np.array([1.0, 2.0, 3.0, 0.5, 2.0])
    accs = np.array([0.90, 0.95, 0.94, 0.80, 0.96])
    assert plots.pareto_front(times, accs).tolist() == [3, 0, 4]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def test_html_self_contained_and_renders(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "html"
    summary = report.write_report([study], "html", out=out)
    page = out / "report.html"
    assert f"wrote {page}" in summary and sorted(p.name for p in out.iterdir()) == ["report.html"]
    doc = page.read_text()
    assert not re.search(r"https?:", doc, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", doc)
    assert doc.count('src="data:image/png;base64,') == 7
    assert doc.index('id="findings"') < doc.index('id="trial_states"')
    assert "<b>99.06</b>" in doc and "Aggregated best results per configuration" in doc
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary found")
    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600",
           f"--screenshot={shot}", page.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.std() > 0.05  # not blank
    assert (pixels < 0.5).mean() > 0.005  # some dark text on the white page


_LAYOUT_PROBE = """<script>
window.addEventListener("load", () => {
  const W = window.innerWidth, H = window.innerHeight;
  const wide = [...document.querySelectorAll("body *")]
    .filter(e => !e.parentElement.closest(".scroll"))
    .filter(e => e.getBoundingClientRect().right > W + 1)
    .map(e => e.tagName + "." + e.className);
  const imgs = [...document.images];
  const top = id => document.getElementById(id).getBoundingClientRect().top;
  document.body.dataset.probe = JSON.stringify({
    width: W, height: H, scrollWidth: document.documentElement.scrollWidth, wide: wide,
    images: imgs.length, loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    findings: top("findings"), best: top("best_models"), toc: top("provenance"),
    scrolls: [...document.querySelectorAll(".scroll")].filter(
      d => d.scrollWidth > d.clientWidth).length});
});
</script>"""


@pytest.mark.parametrize("width", [800, 1400])
def test_html_layout_in_chromium(study: Path, tmp_path: Path, width: int) -> None:
    """The report in headless Chromium: the answer (findings) starts above the fold, no element
    is wider than the window (wide tables scroll inside their box), every image loaded, and
    the best model table comes before the detail."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary found")
    out = tmp_path / "html"
    report.write_report([study], "html", out=out)
    doc = (out / "report.html").read_text()
    assert doc.index('id="findings"') < doc.index('id="best_models"') < \
        doc.index('class="toc"') < doc.index('id="trial_states"') < doc.index('id="plots"')
    page = tmp_path / "probe.html"
    page.write_text(doc.replace("</body>", _LAYOUT_PROBE + "</body>"))
    height = 900
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
             f"--window-size={width},{height}", "--virtual-time-budget=10000"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120, check=False).stdout
    m = re.search(r'data-probe="([^"]*)"', dom)
    assert m, dom[-2000:]
    probe = json.loads(m.group(1).replace("&quot;", '"'))
    assert probe["width"] == width, probe
    assert probe["scrollWidth"] <= width and not probe["wide"], probe
    # every figure the report embeds (7 here: importance needs 25 trials off a grid) loaded
    n_img = doc.count("<img ")
    assert n_img >= 7 and probe["images"] == n_img and probe["loaded"] == n_img, probe
    assert 0 < probe["findings"] < height, probe  # the answer above the fold
    if width == 800:
        assert probe["scrolls"] > 0, probe  # the wide tables scroll inside their box
    shot = tmp_path / f"report_{width}.png"
    subprocess.run([*flags, f"--screenshot={shot}", (out / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000
    if os.environ.get("TUNE_BENCH_SHOTS"):  # to look at them: a directory to copy them to
        shutil.copy(shot, Path(os.environ["TUNE_BENCH_SHOTS"]) / shot.name)


def test_markdown_says_each_note_once_and_states_in_words(study: Path, tmp_path: Path) -> None:
    text = report.write_report([study], "markdown")
    notes = [ln for ln in text.splitlines() if ln.startswith("- ")]
    assert len(notes) == len(set(notes)), [n for n in notes if notes.count(n) > 1]
    assert re.search(r"\|\s+finished\s+\|\s+errored\s+\|\s+pending\s+\|", text), text
    assert "TERMINATED" not in text
    report.write_report([study], "csv", out=tmp_path)  # machines keep Tune's names
    assert (tmp_path / "trial_states.csv").read_text().splitlines()[0].startswith(
        "Experiment,TERMINATED,ERROR,PENDING")


def test_html_head_says_where_the_numbers_come_from(study: Path, tmp_path: Path) -> None:
    """The provenance rows: experiments with states, when, the command, wall time, machines,
    devices and versions, from the trials and tune-bench's files."""
    from tune_bench.report.provenance import provenance

    exp = tmp_path / "study"
    shutil.copytree(study, exp)
    (exp / "tune_bench_spec.json").write_text(json.dumps({
        "source": "search_spaces/q1a_resnet.yaml", "created": "2026-01-01T00:00:00+0000",
        "options": {"storage_path": "/runs", "drop_gpu_trials": True, "max_failures": 2,
                    "overrides": {"lr": 0.001}}}))
    (exp / "tune_bench_driver.json").write_text(json.dumps({"wall_s": 83.2, "ended": "x"}))
    df = an.load_experiments([exp])
    rows = dict(provenance(df, [exp]))
    assert rows["Experiments"] == "study (21 trials: 19 finished, 1 errored, 1 pending)"
    assert rows["Command"] == ("tune-bench sweep search_spaces/q1a_resnet.yaml --storage-path "
                               "/runs --drop-gpu-trials --set lr=0.001")
    assert rows["When"].startswith("2026-01-01 00:00") and "last run 83 s" in rows["Wall time"]
    assert rows["Machines"] and rows["Versions"].startswith("python ")
    doc_dir = tmp_path / "html"
    report.write_report([exp], "html", out=doc_dir)
    doc = (doc_dir / "report.html").read_text()
    assert doc.index('id="provenance"') < doc.index('id="findings"')
    assert "--drop-gpu-trials --set lr=0.001" in doc


def test_sweep_summary_best_per_dataset_with_interval_over_repeats(tmp_path: Path) -> None:
    """The terminal summary: per dataset the best configuration by mean over its repeats, with
    the 95% interval; only the keys that vary among that trainer's configurations; each note
    once."""
    from rich.console import Console

    from tune_bench.report.summary import best_per_dataset, sweep_summary

    trials = [resnet(0.90, lr=1e-3, seed=0), resnet(0.92, lr=1e-3, seed=1),
              resnet(0.95, lr=1e-2, seed=0), resnet(0.80, lr=1e-2, seed=1),
              svm(0.85), svm(0.70, dataset="fashion_mnist"), svm(0.75, dataset="fashion_mnist",
                                                                  C=10.0)]
    df = an.load_experiments([write_experiment(tmp_path, "rep", trials)])
    rows, notes = best_per_dataset(df)
    assert [(r["dataset"], r["method"], r["config"]) for r in rows] == [
        ("MNIST", "ResNet-18", "lr=0.001"), ("FashionMNIST", "SVM (rbf)", "C=10")]
    assert rows[0]["acc"] == pytest.approx(91.0) and rows[0]["n"] == 2
    assert rows[0]["ci"] == pytest.approx(12.706 * np.std([90, 92], ddof=1) / np.sqrt(2),
                                          rel=1e-3)
    assert np.isnan(rows[1]["ci"])  # a single run: no interval
    assert notes[-1].startswith("± is the 95% confidence interval")
    console = Console(width=100, record=True)
    console.print(sweep_summary(tmp_path / "rep", df))
    text = console.export_text()
    assert "91.00 ± 12.71 (n=2)" in text and text.count("note:") == len(set(notes)) == 2
