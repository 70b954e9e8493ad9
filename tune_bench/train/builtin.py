"""The built-in trainers, `resnet` and `svm`, registered through the same contract as a
user's (`tune_bench.plugins.Trainer`): a function of the trial config that reads its data and
threads from `tune_bench.session`, and reports through it."""

from __future__ import annotations

from typing import Any

from tune_bench import session
from tune_bench.config import ResNetConfig, SVMConfig
from tune_bench.plugins import Trainer


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _n(limit: int | None, total: int) -> int:
    return total if limit is None else min(limit, total)


def train_resnet_trial(config: dict[str, Any]) -> dict[str, Any]:
    """One ResNet trial: every epoch reported with its checkpoint; continues from a restored
    one."""
    from tune_bench.train.resnet import train_resnet

    cfg = ResNetConfig.from_dict(config)
    return train_resnet(cfg, session.dataset(),
                        on_epoch=lambda m, st: session.report(m, state=st),
                        resume_state=session.restored_state(), threads=session.threads())


def train_svm_trial(config: dict[str, Any]) -> dict[str, Any]:
    """One SVM trial: its final metrics, returned."""
    from tune_bench.train.svm import train_svm

    return train_svm(SVMConfig.from_dict(config), session.dataset(), threads=session.threads())


def _describe_resnet(cfg: Any, split: Any) -> str:
    """e.g. 'resnet18 on mnist: 2000 train, 2000 val, 2000 test images; cpu; 2 epochs'."""
    return (f"{cfg.model} on {cfg.dataset}: {_n(cfg.n_train, len(split.train_y))} train, "
            f"{_n(cfg.n_eval, len(split.val_y))} val (every epoch), "
            f"{_n(cfg.n_eval, len(split.test_y))} test (once) images; {cfg.device}; "
            f"{cfg.epochs} epoch(s)")


def _describe_svm(cfg: Any, split: Any) -> str:
    return (f"svm ({cfg.kernel}) on {cfg.dataset}: {_n(cfg.n_train, len(split.train_y))} "
            f"train, {_n(cfg.n_test, len(split.test_y))} test images; {cfg.device}")


def _resnet_epoch(m: dict[str, Any], cfg: Any) -> str:
    return (f"epoch {m['epoch']}/{cfg.epochs}  train loss {m['train_loss']:.4f}  "
            f"acc {_pct(m['train_acc'])}  val loss {m['val_loss']:.4f}  "
            f"acc {_pct(m['val_acc'])}  {m['epoch_time_s']:.1f} s  "
            f"{m['images_per_s']:.0f} img/s")


RESNET = Trainer(
    train_resnet_trial, ResNetConfig,
    metrics=frozenset({"test_acc", "test_loss", "macs", "flops", "params", "peak_mem_mb"}),
    per_epoch=frozenset({"epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                         "epoch_time_s", "images_per_s", "train_time_ms"}),
    describe=_describe_resnet, show_epoch=_resnet_epoch,
    timing="tune_bench.forecast.resnet:TIMING")
SVM = Trainer(
    train_svm_trial, SVMConfig,
    metrics=frozenset({"test_acc", "train_acc", "train_time_ms", "predict_time_ms",
                       "n_support"}),
    describe=_describe_svm, timing="tune_bench.forecast.svm:TIMING")
