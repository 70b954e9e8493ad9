"""Trainers: plain functions that train one ResNet or one SVM and return its metrics.

No Ray here. The sweep layer calls these with data it decoded once and a callback that reports
each epoch to Tune; `tune-bench train` calls them directly.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import resource
import socket
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tune_bench.config import ResNetConfig, SVMConfig
from tune_bench.data import (
    Split,
    load_raw,
    make_split,
    stratified_subset,
    svm_arrays,
    to_resnet_input,
)
from tune_bench.errors import ResourceError
from tune_bench.models import build_resnet, model_cost
from tune_bench.svm_backends import (
    BackendRun,
    SharedKernelPredictor,
    make_svc,
    resolve_backend,
    resolve_predict,
)

SPLIT_SEED = 0  # every trial sees the same split and subsets; `seed` drives init and shuffling
EVAL_BATCH = 512

EpochCallback = Callable[[dict[str, Any], dict[str, Any]], None]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a result depends on (read from metadata, nothing imported)."""
    out = {"python": platform.python_version()}
    for dist, key in [("torch", "torch"), ("torchvision", "torchvision"), ("ray", "ray"),
                      ("scikit-learn", "sklearn"), ("scikit-learn-intelex", "sklearnex"),
                      ("numpy", "numpy"), ("tune-bench", "tune_bench")]:
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def load_split(dataset: str, split: str = "seeds", data_dir: str | None = None) -> Split:
    """Decode `dataset` once (cached in data.py) and cut the named split."""
    return make_split(load_raw(dataset, data_dir), split, seed=SPLIT_SEED)


def resolve_device(device: str) -> torch.device:
    """torch device for 'cpu' | 'gpu'; a GPU asked of a machine without CUDA is an error."""
    if device == "gpu":
        if not torch.cuda.is_available():
            raise ResourceError("device gpu: CUDA is not available on this machine "
                                f"({socket.gethostname()}); use device cpu")
        return torch.device("cuda")
    return torch.device("cpu")


def device_name(dev: torch.device) -> str:
    """Human-readable name of the device a run used."""
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return cpu_name()


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


@functools.lru_cache(maxsize=8)
def _cost(model: str) -> dict[str, int]:
    return model_cost(model)


def _peak_mem_mb(dev: torch.device) -> float:
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


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


def _amp_dtype(dev: torch.device) -> torch.dtype:
    if dev.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16 if dev.type == "cuda" else torch.bfloat16


def _batches(cfg: ResNetConfig, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator,
             dev: torch.device):
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


def confusion(y_true: torch.Tensor, y_pred: torch.Tensor, k: int = 10) -> np.ndarray:
    """k x k confusion matrix, rows = true class, columns = predicted class."""
    return torch.bincount(y_true.cpu() * k + y_pred.cpu(), minlength=k * k).reshape(k, k).numpy()


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
    tr = stratified_subset(split.train_y, cfg.n_train, SPLIT_SEED)
    va = stratified_subset(split.val_y, cfg.n_eval, SPLIT_SEED)
    te = stratified_subset(split.test_y, cfg.n_eval, SPLIT_SEED)
    keep_on = dev if cfg.loader == "tensor" else torch.device("cpu")
    train_x, train_y = split.train_x[tr].to(keep_on), split.train_y[tr].to(keep_on)
    val_x, val_y = split.val_x[va].to(dev), split.val_y[va].to(dev)
    test_x, test_y = split.test_x[te].to(dev), split.test_y[te].to(dev)

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    fmt = memory_format(dev)
    model = build_resnet(cfg.model).to(dev, memory_format=fmt)
    opt = make_optimizer(cfg, model.parameters())
    amp_dtype = _amp_dtype(dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=cfg.use_amp and amp_dtype == torch.float16)
    step = compiled(model, cfg.compile)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    start, history, train_ms = 0, [], 0.0
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        opt.load_state_dict(resume_state["optimizer"])
        scaler.load_state_dict(resume_state["scaler"])
        _set_rng_state(gen, resume_state["rng"])
        start, history = resume_state["epoch"], list(resume_state["history"])
        train_ms = resume_state["train_time_ms"]

    info = {"device_name": device_name(dev), "torch_threads": torch.get_num_threads(),
            "versions": library_versions(), "split": split.name, "n_train_used": len(tr),
            "n_eval_used": len(te), "loader": cfg.loader, "seed": cfg.seed,
            "amp": cfg.use_amp, "hostname": socket.gethostname(),
            "memory_format": "channels_last" if fmt == torch.channels_last else "contiguous",
            "optimizer_impl": "fused" if opt.defaults.get("fused") else "foreach"}
    metrics: dict[str, Any] = {}
    for epoch in range(start, cfg.epochs):
        model.train()
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        seen = 0
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        for xb, yb in _batches(cfg, train_x, train_y, gen, dev):
            xb = to_resnet_input(xb).contiguous(memory_format=fmt)
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=cfg.use_amp):
                out = step(xb)
                loss = F.cross_entropy(out.float(), yb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            loss_sum += loss.detach() * len(yb)
            correct += (out.argmax(1) == yb).sum()
            seen += len(yb)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        epoch_s = time.perf_counter() - t0
        train_ms += epoch_s * 1000
        val_loss, val_acc, _ = evaluate(model, val_x, val_y, dev, cfg.use_amp)
        metrics = {"epoch": epoch + 1, "train_loss": loss_sum.item() / max(seen, 1),
                   "train_acc": correct.item() / max(seen, 1), "val_loss": val_loss,
                   "val_acc": val_acc, "epoch_time_s": epoch_s,
                   "images_per_s": seen / epoch_s if epoch_s > 0 else 0.0,
                   "train_time_ms": train_ms}
        history.append(dict(metrics))
        if epoch + 1 == cfg.epochs:
            metrics.update(_final_resnet(cfg, model, test_x, test_y, dev))
        metrics.update(info)
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "scaler": scaler.state_dict(), "rng": _rng_state(gen), "epoch": epoch + 1,
                 "history": history, "train_time_ms": train_ms}
        if on_epoch is not None:
            on_epoch(metrics, state)
    if start >= cfg.epochs:  # resumed from the final checkpoint: report the final metrics again
        metrics = {**history[-1], **_final_resnet(cfg, model, test_x, test_y, dev), **info}
        if on_epoch is not None:
            on_epoch(metrics, resume_state)
    metrics["peak_mem_mb"] = _peak_mem_mb(dev)
    metrics["history"] = history
    return metrics


def _final_resnet(cfg: ResNetConfig, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                  dev: torch.device) -> dict[str, Any]:
    loss, acc, pred = evaluate(model, x, y, dev, cfg.use_amp)
    cm = confusion(y, pred)
    per_class = (np.diag(cm) / np.maximum(cm.sum(1), 1)).round(6).tolist()
    return {"test_loss": loss, "test_acc": acc, "per_class_acc": per_class,
            "confusion_matrix": cm.tolist(), **_cost(cfg.model),
            "peak_mem_mb": _peak_mem_mb(dev), "final": True}


def svc_params(cfg: SVMConfig) -> dict[str, Any]:
    """The SVC hyperparameters of `cfg`, identical for every backend."""
    return {"kernel": cfg.kernel, "C": float(cfg.C), "gamma": cfg.gamma,
            "degree": int(cfg.degree), "coef0": float(cfg.coef0)}


def train_svm(cfg: SVMConfig, split: Split | None = None, *, data_dir: str | None = None,
              threads: int | None = None) -> dict[str, Any]:
    """Fit an SVC on a stratified `n_train` subset (seeded by `cfg.seed`) and test it.

    Train accuracy is measured on a stratified `n_train_eval` sample of that subset (predicting
    all of it would cost as much as the test prediction; None measures all of it).
    """
    backend = resolve_backend(cfg.backend, cfg.device)
    predict_path = resolve_predict(cfg.predict, backend)
    split = split if split is not None else load_split(cfg.dataset, cfg.split, data_dir)
    x_tr, y_tr, x_te, y_te = svm_arrays(split, cfg.n_train, cfg.n_test, cfg.seed)
    svc = make_svc(backend, svc_params(cfg), threads)
    with BackendRun(backend, threads) as run:
        t0 = time.perf_counter()
        svc.fit(x_tr, y_tr)
        fit_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        predict = SharedKernelPredictor(svc).predict if predict_path == "gemm" else svc.predict
        pred = np.asarray(predict(x_te))
        predict_ms = (time.perf_counter() - t0) * 1000
        sample = stratified_subset(torch.from_numpy(y_tr), cfg.n_train_eval, cfg.seed).numpy()
        train_acc = float((np.asarray(predict(x_tr[sample])) == y_tr[sample]).mean())
        used_threads = run.effective_threads()
    cm = confusion(torch.as_tensor(y_te, dtype=torch.long), torch.as_tensor(pred, dtype=torch.long))
    return {"test_acc": float((pred == y_te).mean()), "train_acc": train_acc,
            "train_time_ms": fit_ms, "predict_time_ms": predict_ms,
            "n_support": int(np.sum(svc.n_support_)), "svm_backend": run.ran,
            "svm_predict": predict_path,
            "svm_threads": used_threads, "confusion_matrix": cm.tolist(),
            "per_class_acc": (np.diag(cm) / np.maximum(cm.sum(1), 1)).round(6).tolist(),
            "device_name": device_name(resolve_device(cfg.device)),
            "versions": library_versions(), "split": split.name, "n_train_used": len(y_tr),
            "n_test_used": len(y_te), "n_train_eval_used": len(sample), "seed": cfg.seed,
            "hostname": socket.gethostname(),
            "final": True}
