"""Trainers without Ray: metrics, determinism, exact resume, SVM backends."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from tune_bench.config import ResNetConfig, SVMConfig
from tune_bench.data import load_split
from tune_bench.errors import ConfigError, ResourceError
from tune_bench.train import train_resnet, train_svm

TINY = dict(model="resnet18", n_train=120, n_eval=60, batch_size=32, epochs=2, lr=1e-3,
            optimizer="adam", seed=3)


@pytest.fixture(scope="module")
def mnist(tiny_root):
    return load_split("mnist", "seeds", str(tiny_root))


def test_resnet_metrics_are_complete_and_consistent(mnist):
    m = train_resnet(ResNetConfig(**TINY), mnist, threads=1)
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    assert 0.0 <= m["test_acc"] <= 1.0 and m["final"] is True
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == m["n_eval_used"] == 60
    assert m["test_acc"] == pytest.approx(np.trace(cm) / cm.sum())
    assert m["flops"] == 2 * m["macs"] and m["params"] == 11_181_642
    assert m["train_time_ms"] == pytest.approx(sum(h["epoch_time_s"] for h in m["history"]) * 1000)
    assert m["n_train_used"] == 120 and m["split"] == "seeds" and m["loader"] == "tensor"
    assert {"torch", "torchvision", "sklearn"} <= set(m["versions"])
    assert m["memory_format"] == "contiguous" and m["optimizer_impl"] == "fused"


def test_sgd_runs_fused_and_matches_the_for_loop_update(mnist):
    from tune_bench.models import build_resnet
    from tune_bench.train.resnet import make_optimizer

    cfg = ResNetConfig(**{**TINY, "optimizer": "sgd"})
    nets = [build_resnet("resnet18") for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(4, 3, 32, 32)
    fused = make_optimizer(cfg, nets[0].parameters())
    plain = torch.optim.SGD(nets[1].parameters(), lr=cfg.lr, momentum=cfg.momentum)
    assert fused.param_groups[0]["fused"] is True
    for _ in range(2):
        for net, opt in zip(nets, (fused, plain), strict=True):
            opt.zero_grad()
            net(x).sum().backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_resnet_learns_the_synthetic_classes(mnist):
    m = train_resnet(ResNetConfig(**{**TINY, "n_train": 300, "epochs": 3}), mnist, threads=2)
    assert m["test_acc"] >= 0.5  # 10 classes: chance is 0.1


def test_resnet_is_deterministic_on_cpu(mnist):
    a = train_resnet(ResNetConfig(**{**TINY, "epochs": 1}), mnist, threads=1)
    b = train_resnet(ResNetConfig(**{**TINY, "epochs": 1}), mnist, threads=1)
    assert a["train_loss"] == b["train_loss"] and a["test_loss"] == b["test_loss"]
    c = train_resnet(ResNetConfig(**{**TINY, "epochs": 1, "seed": 4}), mnist, threads=1)
    assert c["train_loss"] != a["train_loss"]


def test_resume_from_epoch_state_equals_uninterrupted_run(mnist):
    cfg = ResNetConfig(**{**TINY, "epochs": 3})
    saved = {}

    def keep(metrics, state):
        buf = io.BytesIO()
        torch.save(state, buf)  # what the sweep layer writes to a checkpoint
        saved[metrics["epoch"]] = buf.getvalue()

    full = train_resnet(cfg, mnist, on_epoch=keep, threads=1)
    state = torch.load(io.BytesIO(saved[1]), weights_only=False)
    seen = []
    resumed = train_resnet(cfg, mnist, resume_state=state, threads=1,
                           on_epoch=lambda m, s: seen.append(m["epoch"]))
    assert seen == [2, 3]
    assert resumed["test_loss"] == full["test_loss"]
    assert resumed["history"] == full["history"][:1] + resumed["history"][1:]
    assert resumed["history"][-1]["train_loss"] == full["history"][-1]["train_loss"]
    # resuming from the final state reports the final metrics again instead of retraining
    last = torch.load(io.BytesIO(saved[3]), weights_only=False)
    again = []
    train_resnet(cfg, mnist, resume_state=copy.deepcopy(last), threads=1,
                 on_epoch=lambda m, s: again.append(m))
    assert len(again) == 1 and again[0]["test_acc"] == full["test_acc"]


def test_dataloader_path_records_itself(mnist):
    m = train_resnet(ResNetConfig(**{**TINY, "epochs": 1, "loader": "dataloader",
                                     "pin_memory": False}), mnist, threads=1)
    assert m["loader"] == "dataloader" and m["n_train_used"] == 120


def test_gpu_on_a_machine_without_cuda_is_a_clear_error(mnist):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ResourceError, match="device gpu"):
        train_resnet(ResNetConfig(**{**TINY, "device": "gpu"}), mnist)


@pytest.mark.parametrize("bad", [{"lr": -0.1}, {"batch_size": 0}, {"epochs": 0},
                                 {"model": "vgg"}, {"optimizer": "rmsprop"},
                                 {"compile": "cudagraphs"}, {"compile": 1}])
def test_invalid_resnet_config_names_the_key(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        ResNetConfig(**{**TINY, **bad})


@pytest.mark.parametrize("setting, mode", [(True, None), ("reduce-overhead", "reduce-overhead"),
                                           ("max-autotune", "max-autotune")])
def test_compile_setting_picks_the_torch_compile_mode(mnist, monkeypatch, setting, mode):
    """`compile: true` compiles in the default mode, a mode name (reduce-overhead = CUDA graphs
    on a GPU) is passed on; the compiled callable is what trains (here: eager, recorded)."""
    calls, steps = [], []

    def fake_compile(model, mode=None):
        calls.append(mode)
        return lambda x: steps.append(len(x)) or model(x)

    monkeypatch.setattr(torch, "compile", fake_compile)
    m = train_resnet(ResNetConfig(**{**TINY, "epochs": 1, "compile": setting}), mnist, threads=1)
    assert calls == [mode] and m["final"] is True
    assert sum(steps) == m["n_train_used"]  # every training batch went through it


def test_svm_backends_agree_and_record_themselves(mnist):
    pytest.importorskip("sklearnex")
    cfg = dict(kernel="rbf", C=10.0, n_train=300, n_test=100, seed=1)
    stock = train_svm(SVMConfig(**cfg, backend="sklearn"), mnist, threads=1)
    fast = train_svm(SVMConfig(**cfg, backend="onedal"), mnist, threads=1)
    assert stock["svm_backend"] == "sklearn" and fast["svm_backend"] == "onedal"
    assert stock["svm_predict"] == "backend" and fast["svm_predict"] == "gemm"  # auto
    assert stock["svm_threads"] == 1 and fast["svm_threads"] == 1
    assert abs(stock["test_acc"] - fast["test_acc"]) <= 0.01
    assert stock["n_train_used"] == 300 and stock["n_test_used"] == 100


def test_onedal_run_is_quiet_and_train_acc_uses_the_sample(mnist, capfd):
    pytest.importorskip("sklearnex")
    m = train_svm(SVMConfig(kernel="rbf", C=1.0, n_train=300, n_test=100, n_train_eval=50,
                            backend="onedal"), mnist, threads=1)
    err = capfd.readouterr().err
    assert "sklearnex" not in err and "accelerated" not in err, err[-300:]
    assert m["n_train_eval_used"] == 50
    assert m["train_acc"] * 50 == pytest.approx(round(m["train_acc"] * 50))
    full = train_svm(SVMConfig(kernel="rbf", C=1.0, n_train=300, n_test=100, n_train_eval=None,
                               backend="onedal"), mnist, threads=1)
    assert full["n_train_eval_used"] == 300


def _predictions_agree(split, params: dict) -> float:
    from tune_bench.data import svm_arrays
    from tune_bench.train.svm_backends import make_svc

    x_tr, y_tr, x_te, _ = svm_arrays(split, 400, 300, 0)
    preds = [make_svc(b, params, 1).fit(x_tr, y_tr).predict(x_te) for b in ("sklearn", "onedal")]
    return float((np.asarray(preds[0]) == np.asarray(preds[1])).mean())


@pytest.mark.parametrize("params", [
    {"kernel": "rbf", "C": 10.0, "gamma": "scale", "degree": 3, "coef0": 0.0},
    {"kernel": "poly", "C": 1.0, "gamma": "scale", "degree": 3, "coef0": 0.0},
    {"kernel": "rbf", "C": 1.0, "gamma": 0.001, "degree": 3, "coef0": 0.0},
])
def test_onedal_predicts_what_stock_sklearn_predicts(real_data_dir, params):
    pytest.importorskip("sklearnex")
    split = load_split("fashion_mnist", "seeds", str(real_data_dir))
    assert _predictions_agree(split, params) == 1.0


GEMM_PARAMS = [
    {"kernel": "rbf", "C": 10.0, "gamma": "scale", "degree": 3, "coef0": 0.0},
    {"kernel": "rbf", "C": 1.0, "gamma": 0.01, "degree": 3, "coef0": 0.0},
    {"kernel": "poly", "C": 1.0, "gamma": "scale", "degree": 3, "coef0": 0.0},
    {"kernel": "poly", "C": 0.1, "gamma": 0.002, "degree": 4, "coef0": 0.5},
    {"kernel": "poly", "C": 10.0, "gamma": "scale", "degree": 2, "coef0": -0.3},
]


@pytest.mark.parametrize("params", GEMM_PARAMS)
def test_gemm_decision_values_are_libsvms(mnist, params):
    """The shared-kernel path computes libsvm's one-vs-one decision values (to float32
    rounding) and its vote, for any chunking; labels are not 0..k-1 here."""
    from tune_bench.data import svm_arrays
    from tune_bench.train.svm_backends import SharedKernelPredictor, make_svc

    x_tr, y_tr, x_te, _ = svm_arrays(mnist, 300, 200, 0)
    svc = make_svc("sklearn", {**params, "decision_function_shape": "ovo"}).fit(x_tr, 3 * y_tr + 1)
    want = svc.decision_function(x_te)
    got = SharedKernelPredictor(svc, chunk=37).decision(x_te)
    assert got.shape == want.shape == (len(x_te), 45)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    whole = SharedKernelPredictor(svc)
    np.testing.assert_allclose(whole.decision(x_te), got, atol=1e-5 * np.abs(want).max())
    assert (whole.predict(x_te) == svc.predict(x_te)).all()


def test_gemm_predicts_what_a_binary_svc_predicts(mnist):
    from tune_bench.data import svm_arrays
    from tune_bench.train.svm_backends import SharedKernelPredictor, make_svc

    x_tr, y_tr, x_te, _ = svm_arrays(mnist, 300, 200, 0)
    keep = np.isin(y_tr, (2, 7))
    svc = make_svc("sklearn", GEMM_PARAMS[0]).fit(x_tr[keep], y_tr[keep])
    pred = SharedKernelPredictor(svc).predict(x_te)
    assert set(pred) == {2, 7} and (pred == svc.predict(x_te)).all()


@pytest.mark.parametrize("params", GEMM_PARAMS[:3])
def test_gemm_predicts_what_onedal_predicts_on_real_data(real_data_dir, params):
    pytest.importorskip("sklearnex")
    from tune_bench.data import svm_arrays
    from tune_bench.train.svm_backends import SharedKernelPredictor, make_svc

    split = load_split("fashion_mnist", "seeds", str(real_data_dir))
    x_tr, y_tr, x_te, _ = svm_arrays(split, 1000, 1000, 0)
    svc = make_svc("onedal", params, 1).fit(x_tr, y_tr)
    assert (SharedKernelPredictor(svc).predict(x_te) == np.asarray(svc.predict(x_te))).all()


def test_svm_predict_path_is_chosen_and_recorded(mnist):
    from tune_bench.train.svm_backends import resolve_predict

    cfg = dict(kernel="poly", C=1.0, n_train=300, n_test=100, seed=2)
    stock = train_svm(SVMConfig(**cfg, backend="sklearn"), mnist, threads=1)
    gemm = train_svm(SVMConfig(**cfg, backend="sklearn", predict="gemm"), mnist, threads=1)
    assert stock["svm_predict"] == "backend" and gemm["svm_predict"] == "gemm"
    assert gemm["confusion_matrix"] == stock["confusion_matrix"]
    assert gemm["train_acc"] == stock["train_acc"]
    assert resolve_predict("auto", "onedal") == "gemm"
    assert resolve_predict("auto", "cuml") == "backend"
    with pytest.raises(ConfigError, match="predict: gemm needs backend sklearn or onedal"):
        resolve_predict("gemm", "cuml")
    with pytest.raises(ConfigError, match="predict"):
        SVMConfig(predict="fast")


def test_svm_poly_and_invalid_values(mnist):
    m = train_svm(SVMConfig(kernel="poly", degree=2, C=1.0, n_train=200, n_test=100,
                            backend="sklearn"), mnist)
    assert 0.0 <= m["test_acc"] <= 1.0 and m["n_support"] > 0
    with pytest.raises(ConfigError, match="kernel"):
        SVMConfig(kernel="sigmoid")
    with pytest.raises(ConfigError, match="gamma"):
        SVMConfig(gamma=-1.0)


@pytest.mark.slow
def test_real_fashion_mnist_svm_reaches_report_accuracy(real_data_dir):
    split = load_split("fashion_mnist", "seeds", str(real_data_dir))
    m = train_svm(SVMConfig(kernel="rbf", C=10.0, n_train=2000, n_test=2000), split, threads=2)
    assert m["test_acc"] >= 0.80  # the reports: 86.5% with 10,000 images


@pytest.mark.slow
def test_real_mnist_resnet_learns(real_data_dir):
    split = load_split("mnist", "seeds", str(real_data_dir))
    m = train_resnet(ResNetConfig(model="resnet18", n_train=1000, n_eval=500, epochs=1,
                                  batch_size=32, optimizer="adam"), split, threads=2)
    assert m["test_acc"] >= 0.6


def test_svm_trials_do_not_import_torchvision_models(tiny_root):
    """torchvision.models (which pulls in torch._dynamo, ~1.4 s) is imported only to build a
    ResNet: an SVM trial's worker, and the CLI, start without it."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from tune_bench.config import SVMConfig\n"
            "from tune_bench.train import train_svm\n"
            "cfg = SVMConfig(dataset='mnist', n_train=100, n_test=50)\n"
            f"train_svm(cfg, data_dir={str(tiny_root)!r})\n"
            "import tune_bench.cli, tune_bench.sweep\n"
            "heavy = ('torchvision', 'torch._dynamo')\n"
            "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
