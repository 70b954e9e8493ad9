"""Train one ResNet, in the shape of pytorch/examples' mnist: `setup`, `train_epoch`, `evaluate`,
then the epoch loop of `train_resnet`.

Images stay uint8 tensors (on the device with `loader: tensor`) and become the network's float
input one batch at a time, on the device. No Ray here.
"""

from __future__ import annotations

import dataclasses
import functools
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tune_bench.config import ResNetConfig
from tune_bench.data import SPLIT_SEED, Split, load_split, stratified_subset, to_resnet_input
from tune_bench.models import build_resnet, model_cost
from tune_bench.provenance import device_name, hostname, library_versions
from tune_bench.train.common import confusion, per_class_accuracy, resolve_device

EVAL_BATCH = 512

EpochCallback = Callable[[dict[str, Any], dict[str, Any]], None]


# --------------------------------------------------------------------------- setup


def memory_format(dev: torch.device) -> torch.memory_format:
    """channels_last on CUDA (tensor cores want NHWC); the default layout on the CPU.

    Measured on an AVX2 CPU (BENCHMARKS.md, 1c): channels_last steps were 0.87-0.99x the
    contiguous ones, with a copy per layer that the contiguous steps do not have.
    """
    return torch.channels_last if dev.type == "cuda" else torch.contiguous_format


def make_optimizer(cfg: ResNetConfig, params) -> torch.optim.Optimizer:
    """SGD with momentum or Adam, in their fused implementations (one kernel per step for all
    parameters instead of a handful of ops per tensor; same update rule)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, fused=True)
    return torch.optim.Adam(params, lr=cfg.lr, fused=True)


def compiled(model: nn.Module, setting: bool | str) -> nn.Module | Callable[..., Any]:
    """`model` itself (False), or torch.compile'd: True = the default mode, else the named mode
    ("reduce-overhead" replays the step as CUDA graphs on a GPU)."""
    if setting is False:
        return model
    return torch.compile(model, mode=None if setting is True else setting)


def _amp_dtype(dev: torch.device) -> torch.dtype:
    if dev.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16 if dev.type == "cuda" else torch.bfloat16


def take_subsets(cfg: ResNetConfig, split: Split, dev: torch.device) -> Split:
    """`split` cut to stratified `n_train` / `n_eval` subsets, the same for every seed, moved
    once: to `dev`, except the training images a DataLoader (`loader: dataloader`) reads on the
    CPU."""
    tr = stratified_subset(split.train_y, cfg.n_train, SPLIT_SEED)
    va = stratified_subset(split.val_y, cfg.n_eval, SPLIT_SEED)
    te = stratified_subset(split.test_y, cfg.n_eval, SPLIT_SEED)
    keep_on = dev if cfg.loader == "tensor" else torch.device("cpu")
    return dataclasses.replace(
        split, train_x=split.train_x[tr].to(keep_on), train_y=split.train_y[tr].to(keep_on),
        val_x=split.val_x[va].to(dev), val_y=split.val_y[va].to(dev),
        test_x=split.test_x[te].to(dev), test_y=split.test_y[te].to(dev))


@dataclass
class Training:
    """One run's model, optimizer, gradient scaler and shuffling generator, and its progress:
    epochs done, their metrics, training time so far."""

    cfg: ResNetConfig
    dev: torch.device
    num_classes: int
    model: nn.Module
    forward: nn.Module | Callable[..., Any]  # the model, torch.compile'd with cfg.compile
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    gen: torch.Generator
    fmt: torch.memory_format
    amp_dtype: torch.dtype
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    train_ms: float = 0.0


def num_classes(split: Split) -> int:
    """The number of classes of `split`'s labels (0..k-1): the model's outputs."""
    return int(max(split.train_y.max(), split.val_y.max(), split.test_y.max())) + 1


def setup(cfg: ResNetConfig, dev: torch.device, n_classes: int = 10) -> Training:
    """Seed torch and the shuffling generator with `cfg.seed`; build the model (`n_classes`
    outputs) in `dev`'s memory format, its fused optimizer and the gradient scaler (active for
    float16 AMP only)."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    fmt = memory_format(dev)
    model = build_resnet(cfg.model, n_classes).to(dev, memory_format=fmt)
    opt = make_optimizer(cfg, model.parameters())
    amp_dtype = _amp_dtype(dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=cfg.use_amp and amp_dtype == torch.float16)
    forward = compiled(model, cfg.compile)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    return Training(cfg, dev, n_classes, model, forward, opt, scaler, gen, fmt, amp_dtype)


# --------------------------------------------------------------------------- checkpoints


def checkpoint(t: Training) -> dict[str, Any]:
    """The state after `t.epoch` epochs; `restore` continues from it with the same result as an
    uninterrupted run (model, optimizer, scaler, RNG states, epoch, history, train time)."""
    return {"model": t.model.state_dict(), "optimizer": t.opt.state_dict(),
            "scaler": t.scaler.state_dict(), "rng": _rng_state(t.gen), "epoch": t.epoch,
            "history": t.history, "train_time_ms": t.train_ms}


def restore(t: Training, state: dict[str, Any]) -> None:
    """Load a `checkpoint` into the freshly set up `t`."""
    t.model.load_state_dict(state["model"])
    t.opt.load_state_dict(state["optimizer"])
    t.scaler.load_state_dict(state["scaler"])
    _set_rng_state(t.gen, state["rng"])
    t.epoch, t.history = state["epoch"], list(state["history"])
    t.train_ms = state["train_time_ms"]


def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    state = {"shuffle": gen.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(gen: torch.Generator, state: dict[str, Any]) -> None:
    gen.set_state(state["shuffle"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- one epoch


def _batches(cfg: ResNetConfig, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator,
             dev: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (uint8 images, labels) on `dev` for one epoch, shuffled by `gen`.

    `tensor`: cut from tensors already on the device, by index. `dataloader`: a DataLoader
    over the same tensors (the path where pin_memory and num_workers mean something).
    A last batch of one image is dropped (BatchNorm cannot train on it).
    """
    n = len(x)
    order = torch.randperm(n, generator=gen)
    if cfg.loader == "tensor":
        order = order.to(x.device)
        for i in range(0, n, cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if len(idx) > 1:
                yield x[idx], y[idx]
        return
    ds = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=cfg.batch_size, sampler=order.tolist(), pin_memory=cfg.pin_memory,
        num_workers=cfg.num_workers, persistent_workers=False,
    )
    for xb, yb in loader:
        if len(xb) > 1:
            yield (xb.to(dev, non_blocking=cfg.pin_memory), yb.to(dev, non_blocking=cfg.pin_memory))


def _synchronize(dev: torch.device) -> None:
    """Wait for the GPU's queued work (a no-op on the CPU), so that wall times are true."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


@dataclass(frozen=True)
class EpochStats:
    """Mean loss and accuracy of one training epoch, its wall time and image count."""

    loss: float
    acc: float
    seconds: float
    images: int

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def train_epoch(t: Training, x: torch.Tensor, y: torch.Tensor) -> EpochStats:
    """One pass over uint8 images `x` with labels `y`, in batches shuffled by `t.gen`.

    Loss and hits are summed on the device; the only host sync is at the end of the epoch.
    """
    t.model.train()
    loss_sum = torch.zeros((), device=t.dev)
    correct = torch.zeros((), device=t.dev, dtype=torch.long)
    seen = 0
    _synchronize(t.dev)
    t0 = time.perf_counter()
    for xb, yb in _batches(t.cfg, x, y, t.gen, t.dev):
        xb = to_resnet_input(xb).contiguous(memory_format=t.fmt)
        with torch.autocast(t.dev.type, dtype=t.amp_dtype, enabled=t.cfg.use_amp):
            out = t.forward(xb)
            loss = F.cross_entropy(out.float(), yb)
        t.opt.zero_grad(set_to_none=True)
        t.scaler.scale(loss).backward()
        t.scaler.step(t.opt)
        t.scaler.update()
        loss_sum += loss.detach() * len(yb)
        correct += (out.argmax(1) == yb).sum()
        seen += len(yb)
    _synchronize(t.dev)
    seconds = time.perf_counter() - t0
    return EpochStats(loss_sum.item() / max(seen, 1), correct.item() / max(seen, 1), seconds, seen)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, dev: torch.device,
             amp: bool = False) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and predictions of `model` on uint8 images `x` with labels `y`."""
    model.eval()
    fmt = memory_format(dev)
    loss_sum = torch.zeros((), device=dev)
    preds = []
    with torch.no_grad(), torch.autocast(dev.type, dtype=_amp_dtype(dev), enabled=amp):
        for i in range(0, len(x), EVAL_BATCH):
            xb = to_resnet_input(x[i:i + EVAL_BATCH].to(dev)).contiguous(memory_format=fmt)
            yb = y[i:i + EVAL_BATCH].to(dev)
            out = model(xb).float()
            loss_sum += F.cross_entropy(out, yb, reduction="sum")
            preds.append(out.argmax(1))
    pred = torch.cat(preds)
    acc = (pred == y.to(dev)).float().mean().item()
    return loss_sum.item() / len(x), acc, pred.cpu()


def epoch_metrics(t: Training, epoch: int, stats: EpochStats, val_loss: float,
                  val_acc: float) -> dict[str, Any]:
    """Count `epoch` as done in `t`'s progress and return its metrics (a copy joins history)."""
    t.epoch = epoch
    t.train_ms += stats.seconds * 1000
    metrics = {"epoch": epoch, "train_loss": stats.loss, "train_acc": stats.acc,
               "val_loss": val_loss, "val_acc": val_acc, "epoch_time_s": stats.seconds,
               "images_per_s": stats.images_per_s, "train_time_ms": t.train_ms}
    t.history.append(dict(metrics))
    return metrics


def final_metrics(t: Training, data: Split) -> dict[str, Any]:
    """The final metrics: test loss and accuracy, per class and confusion matrix, model cost."""
    loss, acc, pred = evaluate(t.model, data.test_x, data.test_y, t.dev, t.cfg.use_amp)
    cm = confusion(data.test_y, pred, t.num_classes)
    return {"test_loss": loss, "test_acc": acc, "per_class_acc": per_class_accuracy(cm),
            "confusion_matrix": cm.tolist(), **_cost(t.cfg.model, t.num_classes),
            "peak_mem_mb": _peak_mem_mb(t.dev), "final": True}


@functools.lru_cache(maxsize=8)
def _cost(model: str, n_classes: int) -> dict[str, int]:
    return model_cost(model, num_classes=n_classes)


def _peak_mem_mb(dev: torch.device) -> float:
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


# --------------------------------------------------------------------------- the loop


def run_info(t: Training, data: Split) -> dict[str, Any]:
    """What every epoch's metrics record about the run: device, threads, versions, split and
    sizes, seed, and the code paths taken (loader, AMP, memory format, optimizer)."""
    cfg = t.cfg
    return {"device_name": device_name(t.dev), "torch_threads": torch.get_num_threads(),
            "versions": library_versions(), "split": data.name,
            "n_train_used": len(data.train_y), "n_eval_used": len(data.test_y),
            "loader": cfg.loader, "seed": cfg.seed, "amp": cfg.use_amp, "hostname": hostname(),
            "memory_format": "channels_last" if t.fmt == torch.channels_last else "contiguous",
            "optimizer_impl": "fused" if t.opt.defaults.get("fused") else "foreach"}


def train_resnet(cfg: ResNetConfig, split: Split | None = None, *, data_dir: str | None = None,
                 on_epoch: EpochCallback | None = None, resume_state: dict[str, Any] | None = None,
                 threads: int | None = None) -> dict[str, Any]:
    """Train `cfg.model` on `cfg.dataset` and return its final metrics.

    After every epoch `on_epoch(metrics, state)` is called; `state` (model, optimizer, epoch,
    RNG states, history) passed back as `resume_state` continues at the next epoch with the
    same result as an uninterrupted run. The last epoch's metrics include the test results.
    """
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(cfg.device)
    split = split if split is not None else load_split(cfg.dataset, cfg.split, data_dir)
    data = take_subsets(cfg, split, dev)
    t = setup(cfg, dev, num_classes(split))
    if resume_state is not None:
        restore(t, resume_state)
    info = run_info(t, data)

    if t.epoch >= cfg.epochs:  # resumed from the final checkpoint: report the final metrics again
        metrics = {**t.history[-1], **final_metrics(t, data), **info}
        if on_epoch is not None:
            on_epoch(metrics, resume_state)
    for epoch in range(t.epoch + 1, cfg.epochs + 1):
        stats = train_epoch(t, data.train_x, data.train_y)
        val_loss, val_acc, _ = evaluate(t.model, data.val_x, data.val_y, dev, cfg.use_amp)
        metrics = epoch_metrics(t, epoch, stats, val_loss, val_acc)
        if epoch == cfg.epochs:
            metrics.update(final_metrics(t, data))
        metrics.update(info)
        if on_epoch is not None:
            on_epoch(metrics, checkpoint(t))
    metrics["peak_mem_mb"] = _peak_mem_mb(dev)
    metrics["history"] = t.history
    return metrics
