"""The full q1b_svm.yaml sweep on the real data through the CLI: accuracy and time per trial.

Runs `tune-bench sweep search_spaces/q1b_svm.yaml --data-dir D --storage-path S --name N
--no-progress [--set backend=B]` as a subprocess (42 trials: 2 datasets x (poly 3 degrees x
3 C + rbf 4 C x 3 gamma), 10,000 training images, the seeds split's 12,000 test images,
1 CPU per trial) and reads every trial's result.json afterwards. `--backend sklearn` runs the
stock backend instead of the default (auto = oneDAL when installed); that takes about ten
times longer (see svm_backends). `--predict backend` runs oneDAL with its own predict instead
of the default shared-kernel (gemm) predict.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks.common import ROOT, SCRATCH, Result, data_dir, parser, timed
from benchmarks.sweep_tools import read_results, unique_name

NAME = "q1b_full"
SPACE = "search_spaces/q1b_svm.yaml"


def main(argv: list[str] | None = None) -> None:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--backend", default=None, help="--set backend=... (default: the file's)")
    p.add_argument("--predict", default=None, help="--set predict=... (default: auto)")
    p.add_argument("--storage-path", default=str(SCRATCH / "ray_results"),
                   help="experiments' root (outside the repository, or ray_results/)")
    p.add_argument("--keep", action="store_true", help="keep the experiment directory")
    p.add_argument("--cpus-per-trial", type=int, default=None,
                   help="--cpus-per-trial for the sweep (default: the file's, 1)")
    args = p.parse_args(argv)
    root = data_dir(args.data_dir)
    tag = ((f"_{args.backend}" if args.backend else "")
           + (f"_predict_{args.predict}" if args.predict else "")
           + (f"_cpu{args.cpus_per_trial}" if args.cpus_per_trial else ""))
    name = unique_name(f"q1b_svm{tag or '_auto'}")
    cmd = ["tune-bench", "sweep", SPACE, "--data-dir", root, "--storage-path",
           args.storage_path, "--name", name, "--no-progress"]
    if args.backend:
        cmd += ["--set", f"backend={args.backend}"]
    if args.predict:
        cmd += ["--set", f"predict={args.predict}"]
    if args.cpus_per_trial:
        cmd += ["--cpus-per-trial", str(args.cpus_per_trial)]
    if args.quick:
        cmd += ["--set", "n_train=300", "--set", "n_test=300"]
    res = Result(NAME + tag, args, {"space": SPACE,
                                    "backend": args.backend or "auto (file default)",
                                    "predict": args.predict or "auto",
                                    "cpus_per_trial": args.cpus_per_trial or 1,
                                    "command": " ".join(cmd)})
    exe = [sys.executable, "-m", "tune_bench.cli", *cmd[1:]]
    print(f"[{NAME}] {' '.join(cmd)}", flush=True)
    wall, proc = timed(lambda: subprocess.run(exe, cwd=ROOT, capture_output=True, text=True))
    log = SCRATCH / f"{name}.log"
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    m = re.search(r"experiment: (\S+)\s+\(([\d.]+) s\)", proc.stdout)
    res.summary(exit_code=proc.returncode, wall_s=round(wall, 1),
                fit_wall_s=float(m.group(2)) if m else None, log=str(log))
    exp = Path(m.group(1)) if m else Path(args.storage_path) / name
    rows = []
    for label, r in sorted(read_results(exp).items()):
        last = r["_last"]
        rows.append(res.row(trial=label, test_acc=last.get("test_acc"),
                            fit_s=round(last.get("train_time_ms", 0) / 1000, 2),
                            predict_s=round(last.get("predict_time_ms", 0) / 1000, 2),
                            trial_s=round(last.get("time_total_s", 0), 2),
                            backend=last.get("svm_backend"), predict=last.get("svm_predict"),
                            threads=last.get("svm_threads"),
                            n_train=last.get("n_train_used"), n_test=last.get("n_test_used")))
    if rows:
        ts = [r["trial_s"] for r in rows]
        best = {}
        for r in rows:
            ds = "fmnist" if "-fmnist-" in r["trial"] else "mnist"
            if ds not in best or r["test_acc"] > best[ds]["test_acc"]:
                best[ds] = r
        res.summary(trials=len(rows), sum_trial_s=round(sum(ts), 1),
                    mean_trial_s=round(sum(ts) / len(ts), 2), max_trial_s=max(ts),
                    best={k: {"trial": v["trial"], "test_acc": v["test_acc"]}
                          for k, v in best.items()},
                    backends=sorted({str(r["backend"]) for r in rows}))
    if proc.returncode != 0:
        res.note(f"the sweep exited {proc.returncode}; stderr tail: {proc.stderr[-800:]}")
    if not args.keep and exp.is_dir() and str(exp).startswith(str(SCRATCH)):
        import shutil

        shutil.rmtree(exp, ignore_errors=True)
    res.save()


if __name__ == "__main__":
    main()
