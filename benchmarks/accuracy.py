"""Issue 3's accuracy checks on the real data, through the CLI (`tune-bench train ... --json`).

- ResNet-18, Adam 1e-3, batch 32, 2 epochs, 10,000 MNIST training images: test accuracy
  >= 96% (the seeds split's 12,000 test images), for each of `--seeds` (default 0,1,2; the
  spread between seeds is part of the answer).
- SVC rbf C=10 on 10,000 FashionMNIST training images: test accuracy >= 85% (default backend
  auto; `--stock` also runs `--backend sklearn`, the reference's stock scikit-learn).
- `--reference`: a plain notebook-style loop on exactly the same 10,000 training images and the
  same test images (per-image PIL Resize/Grayscale/ToTensor/Normalize in a shuffling DataLoader,
  torch's default Adam, eager model in the default layout), seed 0: tells a difference of
  tune-bench's training path from a difference of subset or seed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import ROOT, Result, data_dir, parser, timed

NAME = "accuracy"


def checks(root: str, quick: bool, stock: bool,
           seeds: list[int]) -> list[tuple[str, list[str], float]]:
    n = "1000" if quick else "10000"
    resnet = ["tune-bench", "train", "resnet", "--model", "resnet18", "--optimizer", "adam",
              "--lr", "0.001", "--batch-size", "32", "--epochs", "1" if quick else "2",
              "--n-train", n, "--dataset", "mnist", "--data-dir", root, "--json"]
    svm = ["tune-bench", "train", "svm", "--kernel", "rbf", "--C", "10", "--n-train", n,
           "--dataset", "fashion_mnist", "--data-dir", root, "--json"]
    if quick:
        resnet[-1:-1] = ["--n-eval", "500"]
        svm[-1:-1] = ["--n-test", "1000"]
    out = [(f"resnet18_mnist_seed{s}", [*resnet[:-1], "--seed", str(s), "--json"], 0.96)
           for s in seeds]
    out.append(("svm_rbf_fmnist", svm, 0.85))
    if stock:
        out.append(("svm_rbf_fmnist_stock", [*svm[:-1], "--backend", "sklearn", "--json"], 0.85))
    return out


def reference_loop(root: str, quick: bool, seed: int = 0) -> dict[str, Any]:
    """The notebook way on tune-bench's subset: returns test accuracy and training seconds."""
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from tune_bench.data import SPLIT_SEED, load_split, notebook_transform, stratified_subset
    from tune_bench.models import build_resnet

    n_train, epochs, n_eval = (1000, 1, 500) if quick else (10_000, 2, None)
    split = load_split("mnist", "seeds", root)
    tr = stratified_subset(split.train_y, n_train, SPLIT_SEED)
    te = stratified_subset(split.test_y, n_eval, SPLIT_SEED)
    tf = notebook_transform()

    class Images(torch.utils.data.Dataset):
        def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
            self.x, self.y = x, y

        def __len__(self) -> int:
            return len(self.y)

        def __getitem__(self, i: int):
            return tf(Image.fromarray(self.x[i].numpy(), mode="L")), int(self.y[i])

    torch.manual_seed(seed)
    train = torch.utils.data.DataLoader(Images(split.train_x[tr], split.train_y[tr]),
                                        batch_size=32, shuffle=True)
    test = torch.utils.data.DataLoader(Images(split.test_x[te], split.test_y[te]),
                                       batch_size=512)
    net = build_resnet("resnet18")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(epochs):
        net.train()
        for xb, yb in train:
            opt.zero_grad()
            loss = F.cross_entropy(net(xb), yb)
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - t0
    net.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in test:
            correct += int((net(xb).argmax(1) == yb).sum())
    return {"test_acc": correct / len(te), "train_time_ms": train_s * 1000,
            "n_train_used": len(tr), "n_eval_used": len(te)}


def main(argv: list[str] | None = None) -> None:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--stock", action="store_true", help="also the stock scikit-learn SVC")
    p.add_argument("--seeds", default="0,1,2", help="ResNet-18 seeds (comma list)")
    p.add_argument("--reference", action="store_true",
                   help="also a plain notebook-style loop on the same subset (seed 0)")
    args = p.parse_args(argv)
    root = data_dir(args.data_dir)
    seeds = [int(s) for s in args.seeds.split(",")] if not args.quick else [0]
    res = Result(NAME, args, {"seeds": seeds})
    ok = True
    for key, cmd, target in checks(root, args.quick, args.stock, seeds):
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
    if args.reference:
        print(f"[{NAME}] reference notebook loop", flush=True)
        wall, m = timed(lambda: reference_loop(root, args.quick))
        res.row(check="resnet18_mnist_reference_loop", command="benchmarks.accuracy.reference_loop",
                test_acc=round(m["test_acc"], 4), target=0.96, met=m["test_acc"] >= 0.96,
                wall_s=round(wall, 1), train_time_s=round(m["train_time_ms"] / 1000, 1),
                n_train=m["n_train_used"], n_test=m["n_eval_used"])
    accs = [r["test_acc"] for r in res.data["rows"] if r["check"].startswith("resnet18_mnist_seed")]
    if accs:
        import statistics

        res.summary(resnet18_seeds=seeds, resnet18_accs=accs,
                    resnet18_mean=round(statistics.fmean(accs), 4),
                    resnet18_sd=round(statistics.stdev(accs), 4) if len(accs) > 1 else None)
    res.summary(all_met=ok)
    res.save()


if __name__ == "__main__":
    main()
