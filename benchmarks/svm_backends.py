"""SVM backends (issue 8): fit time, predict time and accuracy, stock scikit-learn vs oneDAL.

`trainers.train_svm` with `SVMConfig(backend=...)`, 10,000 training images (stratified subset of
the `seeds` training split) and 10,000 test images (`n_test=10000`), rbf (C=10, gamma scale)
and poly (degree 3, C=1) on MNIST and FashionMNIST. Each backend runs with the thread count a
sweep trial gets (`--threads`, default 1 = one CPU slot of q1b_svm.yaml); oneDAL is also run
with every core. The backends of one configuration run back to back in the same process.

Per trial: fit and predict time as the trainer reports them, and the whole `train_svm` call
(subset, scaling, fit, test predict, train-accuracy predict on the `n_train_eval` sample of
2,000 images) as a trial spends it. Ratio =
stock time / oneDAL time; "equal accuracy" = the same test accuracy within 0.1 points.
"""

from __future__ import annotations

import os

from benchmarks.common import Result, data_dir, parser, ratio, rotated, timed

NAME = "svm_backends"
TARGET = 8.0
CONFIGS = [("rbf", {"C": 10.0}), ("poly", {"degree": 3, "C": 1.0})]
DATASETS = ["mnist", "fashion_mnist"]


def main(argv: list[str] | None = None) -> None:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--no-all-cores", action="store_true",
                   help="skip the extra oneDAL run with every core")
    args = p.parse_args(argv)
    root = data_dir(args.data_dir)
    n = args.n_train or (1000 if args.quick else 10_000)
    from tune_bench.config import SVMConfig
    from tune_bench.svm_backends import available_backends
    from tune_bench.trainers import load_split, train_svm

    have = available_backends()
    res = Result(NAME, args, {"n_train": n, "n_test": n, "split": "seeds",
                              "threads": args.threads, "backends": have,
                              "configs": [[k, c] for k, c in CONFIGS], "datasets": DATASETS})
    if "onedal" not in have:
        res.note("scikit-learn-intelex is not installed: only the stock backend ran")
    cores = os.cpu_count() or 1
    runs = [("sklearn", args.threads), ("onedal", args.threads)]
    if cores != args.threads and not args.no_all_cores:
        runs.append(("onedal", cores))
    runs = [r for r in runs if r[0] in have]
    i = 0
    for ds in DATASETS:
        split = load_split(ds, "seeds", root)
        for kernel, hp in CONFIGS:
            got = {}
            for backend, th in rotated(runs, i):
                cfg = SVMConfig(dataset=ds, kernel=kernel, n_train=n, n_test=n, backend=backend,
                                seed=0, **hp)
                wall, m = timed(lambda cfg=cfg, th=th, sp=split: train_svm(cfg, sp, threads=th))
                got[(backend, th)] = (wall, m)
                print(f"[{NAME}] {ds} {kernel} {backend} x{th}: fit {m['train_time_ms']:.0f} ms "
                      f"predict {m['predict_time_ms']:.0f} ms acc {m['test_acc']:.4f} "
                      f"trial {wall:.1f} s", flush=True)
            i += 1
            base_wall, base = got[runs[0]]
            for (backend, _th), (wall, m) in got.items():
                fp = m["train_time_ms"] + m["predict_time_ms"]
                base_fp = base["train_time_ms"] + base["predict_time_ms"]
                res.row(dataset=ds, kernel=kernel, **hp, backend=backend, ran=m["svm_backend"],
                        threads=m["svm_threads"], fit_ms=round(m["train_time_ms"]),
                        predict_ms=round(m["predict_time_ms"]), trial_s=round(wall, 2),
                        test_acc=m["test_acc"], train_acc=m["train_acc"],
                        n_support=m["n_support"],
                        fit_speedup=round(ratio(base["train_time_ms"], m["train_time_ms"]), 2),
                        predict_speedup=round(ratio(base["predict_time_ms"],
                                                    m["predict_time_ms"]), 2),
                        fit_predict_speedup=round(ratio(base_fp, fp), 2),
                        trial_speedup=round(ratio(base_wall, wall), 2),
                        acc_diff_points=round(100 * (m["test_acc"] - base["test_acc"]), 3))
    same = [r for r in res.data["rows"]
            if r["backend"] == "onedal" and r["threads"] == args.threads]
    if same:
        worst = min(r["trial_speedup"] for r in same)
        equal = all(abs(r["acc_diff_points"]) <= 0.1 for r in same)
        res.summary(figure=f"time per trial, stock / oneDAL, {args.threads} thread(s) each",
                    min_trial_speedup=worst,
                    trial_speedups=[r["trial_speedup"] for r in same],
                    fit_predict_speedups=[r["fit_predict_speedup"] for r in same],
                    equal_accuracy=equal, target=TARGET, met=worst >= TARGET and equal)
    res.save()


if __name__ == "__main__":
    main()
