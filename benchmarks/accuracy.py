"""Issue 3's accuracy checks on the real data, through the CLI (`tune-bench train ... --json`).

- ResNet-18, Adam 1e-3, batch 32, 2 epochs, 10,000 MNIST training images: test accuracy
  >= 96% (the seeds split's 12,000 test images).
- SVC rbf C=10 on 10,000 FashionMNIST training images: test accuracy >= 85% (default backend
  auto; `--stock` also runs `--backend sklearn`, the reference's stock scikit-learn).
"""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.common import ROOT, Result, data_dir, parser, timed

NAME = "accuracy"


def checks(root: str, quick: bool, stock: bool) -> list[tuple[str, list[str], float]]:
    n = "1000" if quick else "10000"
    resnet = ["tune-bench", "train", "resnet", "--model", "resnet18", "--optimizer", "adam",
              "--lr", "0.001", "--batch-size", "32", "--epochs", "1" if quick else "2",
              "--n-train", n, "--dataset", "mnist", "--data-dir", root, "--json"]
    svm = ["tune-bench", "train", "svm", "--kernel", "rbf", "--C", "10", "--n-train", n,
           "--dataset", "fashion_mnist", "--data-dir", root, "--json"]
    if quick:
        resnet[-1:-1] = ["--n-eval", "500"]
        svm[-1:-1] = ["--n-test", "1000"]
    out = [("resnet18_mnist", resnet, 0.96), ("svm_rbf_fmnist", svm, 0.85)]
    if stock:
        out.append(("svm_rbf_fmnist_stock", [*svm[:-1], "--backend", "sklearn", "--json"], 0.85))
    return out


def main(argv: list[str] | None = None) -> None:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--stock", action="store_true", help="also the stock scikit-learn SVC")
    args = p.parse_args(argv)
    root = data_dir(args.data_dir)
    res = Result(NAME, args, {})
    ok = True
    for key, cmd, target in checks(root, args.quick, args.stock):
        print(f"[{NAME}] {' '.join(cmd)}", flush=True)
        wall, proc = timed(lambda cmd=cmd: subprocess.run(
            [sys.executable, "-m", "tune_bench.cli", *cmd[1:]], cwd=ROOT, capture_output=True,
            text=True))
        if proc.returncode != 0:
            res.note(f"{key}: exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
            ok = False
            continue
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        acc = m["test_acc"]
        res.row(check=key, command=" ".join(cmd), test_acc=round(acc, 4), target=target,
                met=acc >= target, wall_s=round(wall, 1),
                train_time_s=round(m.get("train_time_ms", 0) / 1000, 1),
                predict_time_s=round(m["predict_time_ms"] / 1000, 2)
                if "predict_time_ms" in m else None,
                backend=m.get("svm_backend"), n_train=m.get("n_train_used"),
                n_test=m.get("n_test_used", m.get("n_eval_used")),
                images_per_s=round(m["history"][-1]["images_per_s"], 1)
                if "history" in m else None)
        ok = ok and acc >= target
    res.summary(all_met=ok)
    res.save()


if __name__ == "__main__":
    main()
