"""SVM backends (issue 8): fit time, predict time and accuracy, stock scikit-learn vs oneDAL.

`train.train_svm` with `SVMConfig(backend=...)`, 10,000 training images (stratified subset of
the `seeds` training split) and 10,000 test images (`n_test=10000`), rbf (C=10, gamma scale)
and poly (degree 3, C=1) on MNIST and FashionMNIST. Each backend runs with the thread count a
sweep trial gets (`--threads`, default 1 = one CPU slot of q1b_svm.yaml); oneDAL is also run
with every core. oneDAL runs with each prediction path: `backend` (its own predict) and `gemm`
(one shared kernel matrix product, what `predict: auto` picks for oneDAL). The paths of one
configuration run back to back in the same process, in `--rounds` interleaved rounds (rotating
order); times are per-path medians over the rounds.

Per trial: fit and predict time as the trainer reports them, and the whole `train_svm` call
(subset, scaling, fit, test predict, train-accuracy predict on the `n_train_eval` sample of
2,000 images) as a trial spends it. Ratio =
stock time / oneDAL time; "equal accuracy" = the same test accuracy within 0.1 points.
The figures are for what a sweep runs by default (`predict: auto`).
"""

from __future__ import annotations

import os

from benchmarks.common import Result, data_dir, median, parser, ratio, rotated, timed

NAME = "svm_backends"
TARGET = 8.0
CONFIGS = [("rbf", {"C": 10.0}), ("poly", {"degree": 3, "C": 1.0})]
DATASETS = ["mnist", "fashion_mnist"]


def _median_run(runs: list[tuple[float, dict]]) -> tuple[float, dict]:
    """(median trial wall, metrics with median fit and predict times) of repeated runs."""
    m = dict(runs[0][1])
    for key in ("train_time_ms", "predict_time_ms"):
        m[key] = median([r[1][key] for r in runs])
    return median([r[0] for r in runs]), m


def main(argv: list[str] | None = None) -> None:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--rounds", type=int, default=1,
                   help="repeat every run; figures are per-path medians over the rounds")
    p.add_argument("--no-all-cores", action="store_true",
                   help="skip the extra oneDAL run with every core")
    args = p.parse_args(argv)
    root = data_dir(args.data_dir)
    n = args.n_train or (1000 if args.quick else 10_000)
    from tune_bench.config import SVMConfig
    from tune_bench.data import load_split
    from tune_bench.train import train_svm
    from tune_bench.train.svm_backends import available_backends

    have = available_backends()
    res = Result(NAME, args, {"n_train": n, "n_test": n, "split": "seeds",
                              "threads": args.threads, "backends": have,
                              "configs": [[k, c] for k, c in CONFIGS], "datasets": DATASETS})
    if "onedal" not in have:
        res.note("scikit-learn-intelex is not installed: only the stock backend ran")
    cores = os.cpu_count() or 1
    runs = [("sklearn", args.threads, "backend"), ("onedal", args.threads, "backend"),
            ("onedal", args.threads, "gemm")]
    if cores != args.threads and not args.no_all_cores:
        runs.append(("onedal", cores, "gemm"))
    runs = [r for r in runs if r[0] in have]
    i = 0
    for ds in DATASETS:
        split = load_split(ds, "seeds", root)
        for kernel, hp in CONFIGS:
            got: dict[tuple[str, int, str], list[tuple[float, dict]]] = {r: [] for r in runs}
            for rnd in range(args.rounds):
                for backend, th, predict in rotated(runs, i + rnd):
                    cfg = SVMConfig(dataset=ds, kernel=kernel, n_train=n, n_test=n,
                                    backend=backend, predict=predict, seed=0, **hp)
                    wall, m = timed(lambda cfg=cfg, th=th, sp=split: train_svm(cfg, sp,
                                                                              threads=th))
                    got[(backend, th, predict)].append((wall, m))
                    print(f"[{NAME}] round {rnd + 1} {ds} {kernel} {backend} x{th} {predict}: fit "
                          f"{m['train_time_ms']:.0f} ms predict {m['predict_time_ms']:.0f} ms "
                          f"acc {m['test_acc']:.4f} trial {wall:.1f} s", flush=True)
            i += 1
            med = {k: _median_run(v) for k, v in got.items()}
            base_wall, base = med[runs[0]]
            base_fp = base["train_time_ms"] + base["predict_time_ms"]
            for (backend, th, predict), (wall, m) in med.items():
                fp = m["train_time_ms"] + m["predict_time_ms"]
                per_round = [round(ratio(b[0], r[0]), 2)
                             for b, r in zip(got[runs[0]], got[(backend, th, predict)],
                                             strict=True)]
                res.row(dataset=ds, kernel=kernel, **hp, backend=backend, ran=m["svm_backend"],
                        predict=m["svm_predict"],
                        threads=m["svm_threads"], fit_ms=round(m["train_time_ms"]),
                        predict_ms=round(m["predict_time_ms"]), trial_s=round(wall, 2),
                        test_acc=m["test_acc"], train_acc=m["train_acc"],
                        n_support=m["n_support"],
                        fit_speedup=round(ratio(base["train_time_ms"], m["train_time_ms"]), 2),
                        predict_speedup=round(ratio(base["predict_time_ms"],
                                                    m["predict_time_ms"]), 2),
                        fit_predict_speedup=round(ratio(base_fp, fp), 2),
                        trial_speedup=round(ratio(base_wall, wall), 2),
                        trial_speedup_per_round=per_round,
                        acc_diff_points=round(100 * (m["test_acc"] - base["test_acc"]), 3))
    figures = [("", args.threads, f"time per trial, stock / oneDAL (gemm predict), {args.threads} "
                "thread(s) each")]
    if cores != args.threads:
        figures.append(("_all_cores", cores, "time per trial, stock (1 thread: libsvm is "
                        f"single-threaded) / oneDAL (gemm predict) on {cores} thread(s)"))
    for key, th, figure in figures:
        same = [r for r in res.data["rows"]
                if r["backend"] == "onedal" and r["threads"] == th and r["predict"] == "gemm"]
        if not same:
            continue
        worst = min(r["trial_speedup"] for r in same)
        equal = all(abs(r["acc_diff_points"]) <= 0.1 for r in same)
        res.summary(**{f"figure{key}": figure, f"min_trial_speedup{key}": worst,
                       f"trial_speedups{key}": [r["trial_speedup"] for r in same],
                       f"fit_predict_speedups{key}": [r["fit_predict_speedup"] for r in same],
                       f"equal_accuracy{key}": equal, f"met{key}": worst >= TARGET and equal})
    res.summary(target=TARGET, rounds=args.rounds)
    res.save()


if __name__ == "__main__":
    main()
