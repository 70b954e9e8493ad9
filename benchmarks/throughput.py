"""Trainer throughput (images/s): tune-bench's training path vs a notebook-style loop.

Same process, same device, same thread count, interleaved rounds (the paths of one model and
batch size run one after another, in rotating order, so that other load on the machine hits
them alike). Per round and path a fresh model is trained for a fixed number of steps after a
warm-up, timed in short chunks of steps whose median rate is the path's images/s in that round
(a burst of outside load then spoils one chunk, not the figure):

- `tensor`: `train.train_resnet` with `loader: tensor` (uint8 tensors, batches cut by index,
  resized and normalized a batch at a time; channels_last on CUDA, the default layout on the
  CPU; fused Adam). `n_train = steps x batch` and
  `epochs = 1 + chunks`: epoch 1 is the warm-up, the median of the later epochs'
  `images_per_s` (the trainer's own figure, training only) is the rate.
- `dataloader`: the same with `loader: dataloader` (torch DataLoader over the same tensors).
- `notebook`: torchvision's `MNIST` dataset over the real files with the per-sample PIL
  transforms Resize(32) / Grayscale(3) / ToTensor / Normalize (`data.notebook_transform`), a
  shuffling DataLoader (num_workers 0; `notebook_w2`, with `--workers-variant`: 2 workers),
  plain eager training in the default memory format, loss.item() and accuracy per step as
  notebooks do; 5 warm-up steps, then chunks of `steps` steps.
- `tensor_compile` (ResNet-18 batch 32 only, with `--compile`): the tensor path with
  `compile: true`, or `compile: <mode>` with `--compile-mode` (`reduce-overhead`: CUDA graphs)
  (torch.compile; its compilation falls in the untimed first epoch of the first round).

The figure is a path's images/s divided by the notebook loop's of the same round, median over
rounds. On the CPU a profile of ResNet-18 follows: data preparation per batch; compute per
step (forward, backward, Adam) by batch size, memory format, threads and Adam implementation
(default for-loop vs fused); the top operators of the tensor path.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import Result, data_dir, median, parser, ratio, rotated, torchvision_root
from tune_bench.config import COMPILE_MODES

NAME = "throughput"
TARGET = 1.3  # ResNet-18 batch 32 on the CPU, tensor path vs notebook loop
GPU_TARGET = 5.0  # ResNet-18 batch 16 on a GPU

# (model, batch, steps per chunk, timed chunks, rounds, with the extra variants: notebook loop
# with 2 workers, tensor path with torch.compile)
FULL = [("resnet18", 16, 4, 4, 5, False), ("resnet18", 32, 4, 4, 5, True),
        ("resnet34", 16, 2, 2, 2, False), ("resnet34", 32, 2, 2, 2, False),
        ("resnet50", 16, 2, 2, 2, False), ("resnet50", 32, 2, 2, 2, False)]
DEFAULT_MODELS = "resnet18"  # --models resnet18,resnet34,resnet50 for all (slow on 2 cores)
QUICK = [("resnet18", 16, 2, 2, 1, False), ("resnet18", 32, 2, 2, 1, True)]
WARMUP = 5


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def tunebench_ips(model: str, batch: int, steps: int, chunks: int, loader: str, split: Any,
                  device: str, compile: bool | str = False) -> dict[str, Any]:
    """Median images/s of train_resnet's epochs 2.. (`chunks` epochs of `steps` steps each);
    epoch 1 is the warm-up."""
    from tune_bench.config import ResNetConfig
    from tune_bench.train import train_resnet

    cfg = ResNetConfig(model=model, dataset="mnist", batch_size=batch, optimizer="adam",
                       lr=1e-3, epochs=1 + chunks, n_train=steps * batch, n_eval=10,
                       loader=loader, device=device, seed=0, compile=compile)
    m = train_resnet(cfg, split)
    h = m["history"]
    return {"ips": median(e["images_per_s"] for e in h[1:]), "warmup_ips": h[0]["images_per_s"],
            "torch_threads": m["torch_threads"], "amp": m["amp"]}


def notebook_dataset(root: str):
    from torchvision import datasets

    from tune_bench.data import notebook_transform

    return datasets.MNIST(root=root, train=True, download=False, transform=notebook_transform())


def notebook_ips(model: str, batch: int, steps: int, chunks: int, ds: Any, dev: torch.device,
                 workers: int = 0, channels_last: bool = False) -> dict[str, Any]:
    """A plain notebook training loop: WARMUP untimed steps, then `chunks` x `steps` steps;
    median images/s over the chunks."""
    from tune_bench.models import build_resnet

    torch.manual_seed(0)
    net = build_resnet(model).to(dev)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
    it = iter(loader)
    net.train()
    running_loss, correct, t0 = 0.0, 0, 0.0
    rates = []
    for i in range(WARMUP + steps * chunks + 1):
        if i >= WARMUP and (i - WARMUP) % steps == 0:
            _sync(dev)
            now = time.perf_counter()
            if i > WARMUP:
                rates.append(steps * batch / (now - t0))
            t0 = now
            if len(rates) == chunks:
                break
        images, labels = next(it)
        images, labels = images.to(dev), labels.to(dev)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        opt.zero_grad()
        outputs = net(images)
        loss = criterion(outputs, labels)
        loss.backward()
        opt.step()
        running_loss += loss.item()
        correct += (outputs.argmax(1) == labels).sum().item()
    del it
    return {"ips": median(rates)}


# --------------------------------------------------------------------------- profile


def profile_resnet18(split: Any, ds: Any, res: Result, quick: bool) -> None:
    """Where the time of one ResNet-18 batch-32 step goes, CPU only."""
    from tune_bench.data import to_resnet_input
    from tune_bench.models import build_resnet

    batch, n_data, n_steps = 32, (5 if quick else 20), (2 if quick else 6)
    rounds = 1 if quick else res.args.profile_rounds
    # data preparation per batch: median over n_data batches, best of `rounds` passes
    x, y = split.train_x, split.train_y
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x), generator=gen)
    nb_all, tb_all = [], []
    for _ in range(rounds):
        it = iter(torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=0))
        next(it)
        ts = []
        for _ in range(n_data):
            t0 = time.perf_counter()
            next(it)
            ts.append(time.perf_counter() - t0)
        nb_all.append(median(ts) * 1000)
        ts = []
        for i in range(n_data):
            t0 = time.perf_counter()
            idx = order[i * batch:(i + 1) * batch]
            xb = to_resnet_input(x[idx]).contiguous()  # the trainer's CPU layout
            _ = y[idx]
            ts.append(time.perf_counter() - t0)
        tb_all.append(median(ts) * 1000)
    nb_ms, tb_ms = min(nb_all), min(tb_all)
    res.row(part="profile_data", path="notebook (per-sample PIL, DataLoader, 0 workers)",
            ms_per_batch=round(nb_ms, 2), per_round=[round(v, 2) for v in nb_all])
    res.row(part="profile_data", path="tensor (index + batched resize/normalize)",
            ms_per_batch=round(tb_ms, 2), per_round=[round(v, 2) for v in tb_all])

    # compute per step (fwd + bwd + Adam) on real images: batch x memory format x threads x Adam
    variants = [(32, "contiguous", 2, "default"), (32, "channels_last", 2, "default"),
                (32, "contiguous", 1, "default"), (32, "channels_last", 1, "default"),
                (16, "contiguous", 2, "default"), (16, "channels_last", 2, "default"),
                (32, "contiguous", 2, "fused"), (32, "channels_last", 2, "fused")]
    times: dict[tuple, list[float]] = {v: [] for v in variants}
    old_threads = torch.get_num_threads()
    for r in range(rounds):
        for v in rotated(variants, r):
            bs, fmt, th, adam = v
            torch.set_num_threads(th)
            torch.manual_seed(0)
            cl = fmt == "channels_last"
            net = build_resnet("resnet18")
            if cl:
                net = net.to(memory_format=torch.channels_last)
            xb = to_resnet_input(x[:bs])
            inp = xb.contiguous(memory_format=torch.channels_last) if cl else xb.contiguous()
            opt = torch.optim.Adam(net.parameters(), lr=1e-3,
                                   **({"fused": True} if adam == "fused" else {}))
            steps = []
            for i in range(3 + n_steps):
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(inp), y[:bs]).backward()
                opt.step()
                if i >= 3:
                    steps.append((time.perf_counter() - t0) * 1000)
            times[v].append(median(steps))
    torch.set_num_threads(old_threads)
    # best of rounds: outside load only ever adds time to a compute kernel
    for v, ts in times.items():
        bs, fmt, th, adam = v
        base = min(times[(bs, "contiguous", 2, "default")])
        res.row(part="profile_compute", batch=bs, memory_format=fmt, threads=th, adam=adam,
                ms_per_step=round(min(ts), 1), per_round=[round(t, 1) for t in ts],
                vs_contiguous_2_threads=round(ratio(base, min(ts)), 3))

    # operators of the steps in channels_last (the trainer's layout before 2026-11-25) and in
    # the default (contiguous) layout the trainer now uses on the CPU (default Adam in both)
    from torch.profiler import ProfilerActivity, profile

    for key, fmt in (("profile_top_ops", torch.channels_last),
                     ("profile_top_ops_contiguous", torch.contiguous_format)):
        net = build_resnet("resnet18").to(memory_format=fmt)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        inp = to_resnet_input(x[:batch]).contiguous(memory_format=fmt)
        for _ in range(2):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(inp), y[:batch]).backward()
            opt.step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(2 if quick else 4):
                idx = order[i * batch:(i + 1) * batch]
                xin = to_resnet_input(x[idx]).contiguous(memory_format=fmt)
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(xin), y[idx]).backward()
                opt.step()
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events) or 1
        top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:12]
        res.data[key] = [
            {"op": e.key, "self_cpu_pct": round(100 * e.self_cpu_time_total / total, 1),
             "calls": e.count} for e in top]
        for e in res.data[key]:
            print(f"[{NAME}] {key} {e['op']:45s} {e['self_cpu_pct']:5.1f}%  calls {e['calls']}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the number of cores)")
    p.add_argument("--models", default=DEFAULT_MODELS,
                   help=f"comma list of models to run (default {DEFAULT_MODELS})")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--profile-only", action="store_true", help="only the CPU profile")
    p.add_argument("--profile-rounds", type=int, default=4)
    p.add_argument("--tag", default=None,
                   help="result name suffix: results/throughput_<tag>.json (e.g. 'large')")
    p.add_argument("--workers-variant", action="store_true",
                   help="add the notebook loop with 2 DataLoader workers (ResNet-18 batch 32)")
    p.add_argument("--compile", action="store_true",
                   help="add the torch.compile run (ResNet-18 batch 32; 20-80 s to compile here)")
    p.add_argument("--compile-mode", default="default", choices=COMPILE_MODES,
                   help="its torch.compile mode (reduce-overhead: CUDA graphs on a GPU)")
    args = p.parse_args(argv)
    root = data_dir(args.data_dir)
    import os

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    if args.device == "gpu" and not torch.cuda.is_available():
        print(f"[{NAME}] skipped: --device gpu but CUDA is not available here")
        return
    dev = torch.device("cuda" if args.device == "gpu" else "cpu")
    plan = [] if args.profile_only else QUICK if args.quick else FULL
    if args.models:
        keep = set(args.models.split(","))
        plan = [c for c in plan if c[0] in keep]
    name = NAME if args.device == "cpu" else f"{NAME}_gpu"
    name = f"{name}_{args.tag}" if args.tag else f"{name}_profile" if args.profile_only else name
    res = Result(name, args, {"plan": [list(c) for c in plan], "warmup_steps": WARMUP,
                              "torch_threads": torch.get_num_threads(), "device": args.device,
                              "optimizer": "adam lr 1e-3", "dataset": "mnist"})
    from tune_bench.data import load_split

    split = load_split("mnist", "seeds", root)
    ds = notebook_dataset(str(torchvision_root(root)))

    for model, batch, steps, chunks, rounds, with_extra in plan:
        paths = ["tensor", "dataloader", "notebook"]
        if with_extra:
            paths += (["notebook_w2"] if args.workers_variant else []) + (
                ["tensor_compile"] if args.compile else [])
        got: dict[str, list[float]] = {pth: [] for pth in paths}
        for r in range(rounds):
            for pth in rotated(paths, r):
                if pth in ("tensor", "dataloader", "tensor_compile"):
                    out = tunebench_ips(model, batch, steps, chunks, pth.removesuffix("_compile"),
                                        split, args.device,
                                        compile=pth == "tensor_compile" and args.compile_mode)
                else:
                    out = notebook_ips(model, batch, steps, chunks, ds, dev,
                                       workers=2 if pth == "notebook_w2" else 0)
                got[pth].append(out["ips"])
                print(f"[{NAME}] {model} bs{batch} round {r} {pth}: {out['ips']:.1f} img/s",
                      flush=True)
        base = got["notebook"]
        for pth in paths:
            paired = [ratio(a, b) for a, b in zip(got[pth], base, strict=True)]
            res.row(part="throughput", model=model, batch=batch, steps=f"{chunks} x {steps}",
                    path=pth,
                    images_per_s=round(median(got[pth]), 2),
                    per_round=[round(v, 2) for v in got[pth]],
                    vs_notebook=round(median(paired), 3),
                    vs_notebook_per_round=[round(v, 3) for v in paired],
                    vs_notebook_of_medians=round(ratio(median(got[pth]), median(base)), 3))

    key = ("resnet18", 32) if args.device == "cpu" else ("resnet18", 16)
    fig = next((r for r in res.data["rows"] if r.get("path") == "tensor"
                and (r["model"], r["batch"]) == key), None)
    if fig is not None:
        target = TARGET if args.device == "cpu" else GPU_TARGET
        res.summary(figure=f"{key[0]} batch {key[1]} tensor path vs notebook loop",
                    ratio=fig["vs_notebook"], target=target, met=fig["vs_notebook"] >= target)
    if args.device == "cpu" and not args.no_profile:
        profile_resnet18(split, ds, res, args.quick)
    res.save()


if __name__ == "__main__":
    main()
