"""Fit one SVC on a stratified subset, test it, and record how it ran."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from tune_bench.config import SVMConfig
from tune_bench.data import Split, load_split, stratified_subset, svm_arrays
from tune_bench.provenance import device_name, hostname, library_versions
from tune_bench.train.common import confusion, per_class_accuracy, resolve_device
from tune_bench.train.svm_backends import (
    BackendRun,
    SharedKernelPredictor,
    make_svc,
    resolve_backend,
    resolve_predict,
)


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
            "per_class_acc": per_class_accuracy(cm),
            "device_name": device_name(resolve_device(cfg.device)),
            "versions": library_versions(), "split": split.name, "n_train_used": len(y_tr),
            "n_test_used": len(y_te), "n_train_eval_used": len(sample), "seed": cfg.seed,
            "hostname": hostname(),
            "final": True}
