"""The CUDA paths of the trainers and of a sweep (`pytest -m gpu`; each skips without CUDA).

AMP (float16 with the gradient scaler, and bfloat16), channels_last, fused SGD/Adam on CUDA,
resume from a checkpoint, torch.compile(mode="reduce-overhead") (CUDA graphs), two trials
packed on one GPU through Ray with fractional GPUs, the cuML SVM. Synthetic data (conftest's
`tiny_root`): these check the code paths, `benchmarks/device/check.sh` measures them. The
compile test is last: compiling takes longest, and a run cut off by its timeout keeps the rest.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch

from tune_bench.config import ResNetConfig, SVMConfig
from tune_bench.data import load_split
from tune_bench.train import resnet as rn
from tune_bench.train import train_resnet, train_svm

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="CUDA is not available on this machine (no GPU)"),
]

GPU = dict(model="resnet18", n_train=256, n_eval=60, batch_size=32, epochs=1, lr=1e-3,
           optimizer="adam", seed=0, device="gpu")
CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def mnist(tiny_root):
    return load_split("mnist", "seeds", str(tiny_root))


def _epoch(cfg: ResNetConfig, mnist, amp_dtype: torch.dtype | None = None,
           scaler: bool | None = None) -> tuple[rn.Training, rn.EpochStats]:
    """One training epoch through the trainer's own setup and train_epoch; `amp_dtype` and
    `scaler` force what `setup` picks from the GPU (float16 + scaler on GPUs without bf16)."""
    data = rn.take_subsets(cfg, mnist, CUDA)
    t = rn.setup(cfg, CUDA)
    if amp_dtype is not None:
        t.amp_dtype = amp_dtype
    if scaler is not None:
        t.scaler = torch.amp.GradScaler("cuda", enabled=scaler)
    return t, rn.train_epoch(t, data.train_x, data.train_y)


def test_amp_float16_with_the_grad_scaler(mnist):
    t, stats = _epoch(ResNetConfig(**GPU), mnist, amp_dtype=torch.float16, scaler=True)
    assert t.scaler.is_enabled() and t.cfg.use_amp
    assert math.isfinite(stats.loss) and stats.images == 256
    # the scaler ran on the GPU; steps it skipped on inf/nan gradients left the weights finite
    assert t.scaler.get_scale() > 0 and t.scaler._scale.device.type == "cuda"
    assert all(torch.isfinite(p).all() for p in t.model.parameters())


def test_amp_bfloat16_is_the_default_where_supported_and_needs_no_scaler(mnist):
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    t, stats = _epoch(ResNetConfig(**GPU), mnist)
    assert t.amp_dtype == torch.bfloat16 and not t.scaler.is_enabled()
    assert math.isfinite(stats.loss)


def test_channels_last_and_fused_optimizers_on_cuda(mnist):
    for opt in ("sgd", "adam"):
        m = train_resnet(ResNetConfig(**{**GPU, "optimizer": opt, "epochs": 2}), mnist)
        assert m["memory_format"] == "channels_last" and m["optimizer_impl"] == "fused"
        assert m["amp"] is True and "cpu" not in m["device_name"].lower()
        assert all(math.isfinite(h["train_loss"]) for h in m["history"])
        assert m["peak_mem_mb"] > 0
    t = rn.setup(ResNetConfig(**GPU), CUDA)
    conv = t.model.conv1.weight
    assert conv.is_cuda and conv.is_contiguous(memory_format=torch.channels_last)
    assert t.opt.defaults["fused"] is True


def test_resume_from_a_checkpoint_on_cuda(mnist):
    cfg = ResNetConfig(**{**GPU, "epochs": 2})
    saved = {}

    def keep(metrics, state):
        buf = io.BytesIO()
        torch.save(state, buf)  # what the sweep layer writes to a checkpoint
        saved[metrics["epoch"]] = buf.getvalue()

    full = train_resnet(cfg, mnist, on_epoch=keep)
    state = torch.load(io.BytesIO(saved[1]), weights_only=False)
    assert state["model"]["conv1.weight"].is_cuda and "cuda" in state["rng"]
    t = rn.setup(cfg, CUDA)
    rn.restore(t, state)
    for k, v in t.model.state_dict().items():
        assert torch.equal(v, state["model"][k]), k
    resumed = train_resnet(cfg, mnist, resume_state=state)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert resumed["history"][0] == full["history"][0]
    # cuDNN's kernels need not be bitwise deterministic: the resumed epoch is close, not equal
    assert resumed["history"][1]["train_loss"] == pytest.approx(
        full["history"][1]["train_loss"], rel=0.05)


def test_two_trials_packed_on_one_gpu_through_ray(tiny_root, tmp_path):
    from tune_bench import sweep as sw
    from tune_bench.space import parse_space

    spec = parse_space({
        "name": "gpu_pack", "metric": "test_acc", "mode": "max",
        # the whole 420-image split, 2 epochs: trials of seconds, so that their overlap shows
        # in Tune's whole-second timestamps
        "fixed": {**{k: v for k, v in GPU.items() if k != "seed"}, "trainer": "resnet",
                  "dataset": "mnist", "n_train": None, "epochs": 2},
        "axes": {"seed": [0, 1]},
        "resources": {"gpu": {"cpu": 1, "gpu": 0.5}, "cpu": {"cpu": 1}},
    }, "<two trials on one GPU>")
    out = sw.run_sweep(spec, sw.SweepOptions(storage_path=str(tmp_path), name="pack2",
                                             data_dir=str(tiny_root), progress=False,
                                             num_cpus=2))
    assert out.ok, out
    rows = [json.loads(f.read_text().splitlines()[-1])
            for f in Path(out.path).glob("*/result.json")]
    assert len(rows) == 2
    assert all(r["resources"].get("gpu") == 0.5 for r in rows)
    assert len({r["cuda_visible_devices"] for r in rows}) == 1  # the same GPU
    spans = sorted((r["timestamp"] - r["time_total_s"], r["timestamp"]) for r in rows)
    assert spans[1][0] < spans[0][1], f"the two trials did not overlap: {spans}"


def test_cuml_svm_on_the_gpu(mnist):
    pytest.importorskip("cuml", reason="cuML is not installed (too large to carry here)")
    m = train_svm(SVMConfig(kernel="rbf", C=10, n_train=400, device="gpu", backend="cuml"),
                  mnist)
    assert m["svm_backend"] == "cuml" and 0.0 <= m["test_acc"] <= 1.0


def test_torch_compile_reduce_overhead_trains(mnist):
    from torch._dynamo.utils import counters

    skips = counters["inductor"].get("cudagraph_skips", 0)
    m = train_resnet(ResNetConfig(**{**GPU, "epochs": 2, "compile": "reduce-overhead"}), mnist)
    assert counters["inductor"].get("cudagraph_skips", 0) == skips, \
        "inductor skipped the CUDA graphs (see the log for why)"
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    assert all(math.isfinite(h["train_loss"]) for h in m["history"])
    assert m["history"][1]["train_loss"] < m["history"][0]["train_loss"]
