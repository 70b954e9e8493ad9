"""Figures (PNG) from the trials DataFrame of `analysis.load_experiments`.

Each function writes one PNG into `outdir` and returns its path, or returns None when the data
it needs is absent (no GPU trials, no per-epoch history, ...). Figures are drawn on the Agg
canvas directly, without pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tune_bench import analysis as an
from tune_bench.datasets import class_names
from tune_bench.report.format import fmt, label, pct, sort_key

_DPI = 100


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, outdir: Path, name: str) -> Path:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / name
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return (n + ncols - 1) // ncols, ncols


def accuracy_heatmap(df: pd.DataFrame, outdir: Path) -> Path | None:
    """Best final test accuracy (%) per optimizer x lr, one panel per dataset and model."""
    groups = an.config_groups(an.with_final_metric(df[an.trainer_of(df) == "resnet"]))
    need = {"dataset", "model", "optimizer", "lr"}
    if groups.empty or not need <= set(groups.columns):
        return None
    best = groups.groupby(["dataset", "model", "optimizer", "lr"]).acc_mean.max().reset_index()
    # a panel with one learning rate is a column, not a grid: no heatmap of it
    shape = best.groupby(["dataset", "model"]).agg(n_lr=("lr", "nunique"))
    panels = sorted((k for k in shape.index if shape.loc[k, "n_lr"] > 1), key=lambda k: (
        sort_key(k[0]), str(k[1])))
    if not panels:
        return None
    nrows, ncols = _grid(len(panels), 3)
    fig = _figure(4.2 * ncols, 3.2 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, (ds, model) in zip(axes, panels, strict=False):
        sub = best[(best["dataset"] == ds) & (best["model"] == model)]
        grid = sub.pivot(index="optimizer", columns="lr", values="acc_mean") * 100
        grid = grid.sort_index(key=lambda s: s.map(sort_key))
        grid = grid.sort_index(axis=1, ascending=False)
        lo, hi = colour_range(grid.to_numpy(dtype=float))
        im = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto", vmin=lo,
                       vmax=hi)
        ax.set_xticks(range(grid.shape[1]), [fmt(v) for v in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [label("optimizer", v) for v in grid.index])
        ax.set_xlabel("learning rate")
        ax.set_title(f"{label('dataset', ds)} / {label('model', model)}")
        for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if np.isfinite(v):
                dark = (v - lo) / (hi - lo) < 0.6  # white on viridis' dark end, black above
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9,
                        color="w" if dark else "k")
        fig.colorbar(im, ax=ax, label="test acc (%)")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return _save(fig, outdir, "accuracy_heatmap.png")


MIN_COLOUR_SPAN = 5.0  # percentage points: a smaller range is not stretched over all colours


def colour_range(values: np.ndarray, span: float = MIN_COLOUR_SPAN) -> tuple[float, float]:
    """(vmin, vmax) of a heatmap's colour scale: the values' range, widened around its middle to
    at least `span`, so that 0.2 points apart do not look like opposite ends of the scale."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < span:
        mid = (lo + hi) / 2
        lo, hi = mid - span / 2, mid + span / 2
        if hi > 100:
            lo, hi = 100 - span, 100.0
    return lo, hi


def pareto_front(times: np.ndarray, accs: np.ndarray) -> np.ndarray:
    """Indices of the points not beaten by one both faster and at least as accurate."""
    order = np.lexsort((-accs, times))
    front, best = [], -np.inf
    for i in order:
        if accs[i] > best:
            front.append(i)
            best = accs[i]
    return np.asarray(front, dtype=int)


def efficiency_frontier(df: pd.DataFrame, outdir: Path) -> Path | None:
    """Final test accuracy vs training time per trial, per dataset, Pareto front marked."""
    fin = an.with_final_metric(df)
    fin = fin.assign(_t=an.numeric(fin, "train_time_ms") / 1000,
                     _acc=an.numeric(fin, "test_acc") * 100, _method=an.method_of(fin))
    fin = fin[fin["_t"].notna() & (fin["_t"] > 0)]
    if fin.empty:
        return None
    datasets = sorted(an.column(fin, "dataset").dropna().unique(), key=sort_key) or [None]
    fig = _figure(5.5 * len(datasets), 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(datasets))).ravel()
    for ax, ds in zip(axes, datasets, strict=True):
        sub = fin if ds is None else fin[fin["dataset"] == ds]
        for method, m in sub.groupby("_method"):
            ax.scatter(m["_t"], m["_acc"], label=method, alpha=0.75, s=28)
        front = pareto_front(sub["_t"].to_numpy(), sub["_acc"].to_numpy())
        pts = sub.iloc[front]
        ax.step(pts["_t"], pts["_acc"], where="post", color="k", lw=1.2, label="Pareto front")
        ax.scatter(pts["_t"], pts["_acc"], facecolors="none", edgecolors="k", s=80)
        ax.set_xscale("log")
        ax.set_xlabel("training time (s, log)")
        ax.set_ylabel("final test accuracy (%)")
        ax.set_title(label("dataset", ds) if ds else "all trials")
        ax.legend(fontsize=8)
    return _save(fig, outdir, "efficiency_frontier.png")


def speedup_bars(df: pd.DataFrame, outdir: Path) -> Path | None:
    """Mean CPU-vs-GPU training speedup per model (CPU time / GPU time)."""
    pairs, _ = an.cpu_gpu_pairs(df)
    if pairs is None:
        return None
    per = pairs.groupby("model")["speedup"].agg(["mean", "min", "max"]).sort_index()
    fig = _figure(5.5, 3.8)
    ax = fig.subplots()
    x = np.arange(len(per))
    err = np.vstack([per["mean"] - per["min"], per["max"] - per["mean"]])
    ax.bar(x, per["mean"], yerr=err, capsize=4, color="tab:green")
    for i, v in enumerate(per["mean"]):
        ax.text(i, v, f"{v:.2f}x", ha="center", va="bottom")
    ax.set_xticks(x, [label("model", m) for m in per.index])
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("speedup (CPU time / GPU time)")
    ax.set_title("GPU speedup per model (range over configurations)")
    return _save(fig, outdir, "cpu_gpu_speedup.png")


def flops_vs_time(df: pd.DataFrame, outdir: Path) -> Path | None:
    """Training time vs FLOPs per image for ResNet trials, per device, with a linear fit."""
    res = an.with_final_metric(df[an.trainer_of(df) == "resnet"])
    flops = an.numeric(res, "flops").fillna(2 * an.numeric(res, "macs"))
    res = res.assign(_f=flops / 1e6, _t=an.numeric(res, "train_time_ms") / 1000,
                     _dev=an.device_of(res))
    res = res[res["_f"].notna() & res["_t"].notna()]
    if res.empty or res["_f"].nunique() < 2:  # one model: every point at the same x
        return None
    fig = _figure(5.8, 4.2)
    ax = fig.subplots()
    for dev, sub in res.groupby("_dev"):
        ax.scatter(sub["_f"], sub["_t"], label=f"{str(dev).upper()} trials", alpha=0.7)
        if sub["_f"].nunique() >= 2:
            slope, icept = np.polyfit(sub["_f"], sub["_t"], 1)
            xs = np.linspace(sub["_f"].min(), sub["_f"].max(), 50)
            ax.plot(xs, slope * xs + icept, ls="--",
                    label=f"{str(dev).upper()} fit: {slope:.3g} s/MFLOP {icept:+.3g} s")
    ax.set_xlabel("FLOPs per image (M, = 2 x MACs)")
    ax.set_ylabel("training time (s)")
    ax.set_title("Complexity vs training time")
    ax.legend(fontsize=8)
    return _save(fig, outdir, "flops_vs_time.png")


def _best_with(df: pd.DataFrame, has: Callable[[object], bool], column: str) -> pd.Series | None:
    if column not in df.columns:
        return None
    sub = df[df[column].map(has)]
    return an.best_trial(sub) if len(sub) else None


def training_curves(df: pd.DataFrame, outdir: Path) -> Path | None:
    """Loss and accuracy per epoch of the best trial that reported per-epoch history."""
    best = _best_with(df, lambda h: isinstance(h, list) and len(h) > 1, "history")
    if best is None:
        return None
    hist = pd.DataFrame(best["history"])
    x = hist["epoch"] if "epoch" in hist else hist.get("training_iteration", hist.index)
    fig = _figure(10, 3.8)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for col in ("train_loss", "val_loss"):
        if col in hist:
            ax_loss.plot(x, hist[col], marker="o", label=col)
    for col in ("train_acc", "val_acc"):
        if col in hist:
            ax_acc.plot(x, hist[col] * 100, marker="o", label=col)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(f"Best trial {best['trial_id']}: {_trial_label(best)}")
    return _save(fig, outdir, "training_curves.png")


def confusion_matrix(df: pd.DataFrame, outdir: Path) -> Path | None:
    """Confusion matrix (test set) of the best trial that reported one."""
    best = _best_with(df, lambda m: isinstance(m, list) and len(m) > 0, "confusion_matrix")
    if best is None:
        return None
    cm = np.asarray(best["confusion_matrix"], dtype=float)
    n = cm.shape[0]
    names = class_names(best.get("dataset"), n)
    fig = _figure(6.5, 5.8)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), [str(c) for c in names], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(c) for c in names])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    hi = cm.max() if cm.size else 0
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                color="w" if v > hi / 2 else "k")
    fig.colorbar(im, ax=ax)
    ax.set_title(f"Confusion matrix: {_trial_label(best)}")
    return _save(fig, outdir, "confusion_matrix.png")


def _trial_label(t: pd.Series) -> str:
    method = an.method_of(t.to_frame().T).iloc[0]
    ds = label("dataset", t.get("dataset"))
    return f"{method}, {ds}, test acc {pct(t.get('test_acc'))}%"


# --------------------------------------------------------------------------- findings


def _study(df: pd.DataFrame):
    from tune_bench.analysis.findings import study

    return study(df)


def main_effects(df: pd.DataFrame, outdir: Path) -> Path | None:
    """Per factor: each level's matched effect against the factor's first level, with its 95%
    CI (the rows of the effects table), one series per dataset."""
    s = _study(df)
    per = [(b.design, b.effects[b.effects["CI low"].notna()]) for b in s.blocks
           if not b.effects.empty]
    per = [(d, e) for d, e in per if not e.empty]
    factors = list(dict.fromkeys(f for d, e in per for f in e["Factor"]))
    if not factors:
        return None
    nrows, ncols = _grid(len(factors), 3)
    fig = _figure(4.2 * ncols, 3.2 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, f in zip(axes, factors, strict=False):
        width = 0.8 / max(1, len(per))
        for k, (d, e) in enumerate(per):
            if f not in d.levels:
                continue
            levels = d.levels[f]
            rows = e[(e["Factor"] == f) & (e["Level A"] == levels[0])].set_index("Level B")
            y = [0.0] + [rows["Effect"].get(lv, np.nan) for lv in levels[1:]]
            lo = [0.0] + [rows["CI low"].get(lv, np.nan) for lv in levels[1:]]
            hi = [0.0] + [rows["CI high"].get(lv, np.nan) for lv in levels[1:]]
            x = np.arange(len(levels)) + (k - (len(per) - 1) / 2) * width
            err = np.vstack([np.subtract(y, lo), np.subtract(hi, y)])
            ax.errorbar(x, y, yerr=np.nan_to_num(err), fmt="o", capsize=3, label=d.name)
            ax.set_xticks(range(len(levels)), levels, rotation=30 if len(levels) > 3 else 0)
        ax.axhline(0, color="grey", lw=0.8, ls="--")
        ax.set_title(f)
        ref = next(d.levels[f][0] for d, _ in per if f in d.levels)
        ax.set_ylabel(f"effect vs {ref} ({s.target.unit})", fontsize=8)
        if len(per) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(factors):]:
        ax.set_visible(False)
    fig.suptitle(f"Main effects on {s.target.metric} (matched differences, 95% CI)")
    return _save(fig, outdir, "main_effects.png")


def strongest_interaction(df: pd.DataFrame, outdir: Path) -> Path | None:
    """The two-way interaction with the largest ANOVA share: mean of the metric per level of
    one factor, one line per level of the other (averaged over the remaining factors)."""
    s = _study(df)
    best = None
    for b in s.blocks:
        if b.anova is None or (pair := b.anova.strongest_interaction()) is None:
            continue
        tab = b.anova.table
        share = tab.loc[tab["Term"] == " × ".join(pair), "Share (%)"].iloc[0]
        if best is None or share > best[0]:
            best = (share, b.design, pair)
    if best is None:
        return None
    share, d, (fa, fb) = best
    means = d.y.groupby([d.x[fa], d.x[fb]], observed=True).mean().unstack(fb)
    fig = _figure(5.8, 4.2)
    ax = fig.subplots()
    for lv in means.columns:
        ax.plot(range(len(means)), means[lv] * d.target.scale, marker="o", label=f"{fb}={lv}")
    ax.set_xticks(range(len(means)), [str(v) for v in means.index])
    ax.set_xlabel(fa)
    ax.set_ylabel(f"mean {d.target.metric}" + (" (%)" if d.target.scale == 100 else ""))
    ax.set_title(f"{d.name}: {fa} × {fb} ({share:.1f}% of the variance)")
    ax.legend(fontsize=8)
    return _save(fig, outdir, "interaction.png")


def parallel_coordinates(df: pd.DataFrame, outdir: Path) -> Path | None:
    """Every finished trial as a line through its factor levels, coloured by the metric; one
    panel per dataset (at most four)."""
    from matplotlib.collections import LineCollection

    s = _study(df)
    per = [b.design for b in s.blocks if b.design.factors][:4]
    if not per:
        return None
    fig = _figure(7.5, 3.6 * len(per))
    axes = np.atleast_1d(fig.subplots(len(per), 1)).ravel()
    for ax, d in zip(axes, per, strict=True):
        codes = np.column_stack([d.x[f].cat.codes.to_numpy(dtype=float)
                                 / max(1, len(d.levels[f]) - 1) for f in d.factors])
        rng = np.random.default_rng(0)
        codes = codes + rng.uniform(-0.02, 0.02, codes.shape)  # separate identical lines
        y = d.y.to_numpy(dtype=float) * d.target.scale
        order = np.argsort(y if d.target.mode == "max" else -y, kind="stable")  # best on top
        codes, y = codes[order], y[order]
        segs = np.stack([np.column_stack([np.arange(len(d.factors)), row]) for row in codes])
        lines = LineCollection(segs, array=y, cmap="viridis", linewidths=0.8, alpha=0.6)
        ax.add_collection(lines)
        for i, f in enumerate(d.factors):
            ax.axvline(i, color="grey", lw=0.6)
            levels = d.levels[f]
            for j, lv in enumerate(levels):
                ax.text(i + 0.02, j / max(1, len(levels) - 1), lv, fontsize=7, va="center")
        ax.set_xlim(-0.1, len(d.factors) - 0.6)
        ax.set_ylim(-0.08, 1.08)
        ax.set_xticks(range(len(d.factors)), d.factors)
        ax.set_yticks([])
        ax.set_title(f"{d.name}: {len(y)} trials")
        fig.colorbar(lines, ax=ax, label=d.target.metric + (" (%)" if d.target.scale == 100
                                                             else ""))
    return _save(fig, outdir, "parallel_coordinates.png")


def importance_bars(df: pd.DataFrame, outdir: Path) -> Path | None:
    """Importance of each hyperparameter with its bootstrap interval and the noise level, for
    the datasets without a complete grid and with enough trials."""
    s = _study(df)
    per = [(b.design.name, b.importance) for b in s.blocks
           if b.importance is not None and b.importance.ranked]
    if not per:
        return None
    fig = _figure(5.5 * len(per), 3.8)
    axes = np.atleast_1d(fig.subplots(1, len(per))).ravel()
    for ax, (name, imp) in zip(axes, per, strict=True):
        tab = imp.table.iloc[::-1]
        err = np.vstack([(tab["Importance"] - tab["CI low"]).clip(lower=0),
                         (tab["CI high"] - tab["Importance"]).clip(lower=0)])
        ax.barh(tab["Param"], tab["Importance"], xerr=err, color="tab:blue", capsize=3)
        ax.scatter(tab["Noise level"], tab["Param"], marker="|", s=200, color="tab:red",
                   label="noise level (metric permuted)")
        ax.set_xlabel(f"importance ({imp.n} trials; 95% bootstrap CI)")
        ax.set_title(name)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(per[0][1].method.split(",")[0], fontsize=9)
    return _save(fig, outdir, "importance.png")


def learning_curves(df: pd.DataFrame, outdir: Path) -> Path | None:
    """The metric against training_iteration for every trial (one panel per dataset), trials
    a scheduler stopped early marked with a cross where they stopped, population-based
    training's config changes with a dot."""
    s = _study(df)
    metric = s.target.metric
    panels = []
    for b in s.blocks:
        sub = df.loc[b.design.last.index] if b.design.last is not None else df.iloc[0:0]
        curves = []
        for _, r in sub.iterrows():
            hist = r.get("history")
            pts = [(h.get("training_iteration"), h.get(metric)) for h in hist or []
                   if isinstance(h.get(metric), (int, float))]
            if len(pts) > 1:
                curves.append((r, np.asarray(pts, dtype=float)))
        if curves:
            panels.append((b.design.name, curves))
    if not panels:
        return None
    fig = _figure(5.5 * len(panels), 3.8)
    axes = np.atleast_1d(fig.subplots(1, len(panels))).ravel()
    scale = s.target.scale
    for ax, (name, curves) in zip(axes, panels, strict=True):
        stopped = 0
        for r, pts in curves:
            early = bool(r.get("stopped_early"))
            stopped += early
            ax.plot(pts[:, 0], pts[:, 1] * scale, lw=0.8, alpha=0.6,
                    color="tab:red" if early else "tab:blue")
            if early:
                ax.plot(pts[-1, 0], pts[-1, 1] * scale, "x", color="tab:red", ms=5)
            sched = r.get("schedule")
            if isinstance(sched, list) and len(sched) > 1:
                its = [it for it, _ in sched[1:]]
                ys = np.interp(its, pts[:, 0], pts[:, 1]) * scale
                ax.plot(its, ys, ".", color="black", ms=4)
        ax.set_xlabel("training iteration")
        ax.set_ylabel(metric + (" (%)" if scale == 100 else ""))
        changed = sum(isinstance(r.get("schedule"), list) and len(r.get("schedule")) > 1
                      for r, _ in curves)
        title = f"{name}: {len(curves)} trials"
        title += f", {stopped} stopped early (red, x)" if stopped else ""
        title += f", {changed} with config changes (dots: PBT)" if changed else ""
        ax.set_title(title, fontsize=9)
    return _save(fig, outdir, "learning_curves.png")


PLOTS: tuple[Callable[[pd.DataFrame, Path], Path | None], ...] = (
    main_effects,
    strongest_interaction,
    parallel_coordinates,
    importance_bars,
    learning_curves,
    accuracy_heatmap,
    efficiency_frontier,
    speedup_bars,
    flops_vs_time,
    training_curves,
    confusion_matrix,
)


def make_plots(df: pd.DataFrame, outdir: Path) -> list[Path]:
    """Every plot that the data allows; returns the PNG paths written."""
    return [p for fn in PLOTS if (p := fn(df, Path(outdir))) is not None]
