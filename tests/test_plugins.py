"""A trainer written outside the repository: a module and a space file in a temporary
directory (`trainer: module:function`) sweep, resume after a kill from the last reported epoch
with every epoch once, and are analyzed with findings naming their own keys. Bad plug-ins get
one line naming the culprit, exit 2, and nothing started or written."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_cli_errors import Run, nothing_written, one_line_error, run  # noqa: F401
from tune_bench.cli import app

# A user's module: the simplest trainer (a dict back) and a richer one (per-epoch reports
# with a state, a config model, the metrics it reports); `die_at` kills the worker once.
MODULE = '''
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

import tune_bench


def simple(config):
    return {"score": config["width"] * config["rate"] + 0.01 * config.get("seed", 0)}


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    width: int = Field(4, ge=1)
    rate: float = 0.1
    epochs: int = Field(3, ge=1)
    seed: int = 0
    die_at: int = 0


@tune_bench.trainer(config=Config, metrics=["score"], per_epoch=["loss"])
def epochs(config):
    state = tune_bench.restored_state() or {"epoch": 0, "total": 0.0}
    for epoch in range(state["epoch"] + 1, config["epochs"] + 1):
        state = {"epoch": epoch, "total": state["total"] + config["rate"]}
        last = {"score": state["total"] * config["width"], "final": True} \\
            if epoch == config["epochs"] else {}
        tune_bench.report_metrics({"epoch": epoch, "loss": 1.0 / epoch, **last}, state=state)
        marker = Path(__file__).with_name(f"died_{config['width']}")
        if epoch == config["die_at"] and not marker.exists():
            marker.write_text(str(epoch))
            os._exit(1)
'''


def plugin(tmp_path: Path, space: str, module: str = MODULE, name: str = "mytrain") -> Path:
    """`name`.py and space.yaml in `tmp_path` (outside the repository); the space's path."""
    (tmp_path / f"{name}.py").write_text(module)
    path = tmp_path / "space.yaml"
    path.write_text(textwrap.dedent(space))
    return path


def _rows(exp: Path) -> dict[str, list[dict]]:
    out = {}
    for d in sorted(p for p in exp.iterdir() if p.is_dir()):
        params = json.loads((d / "params.json").read_text())["variant"]
        lines = (d / "result.json").read_text().splitlines()
        out[f"w{params['width']}"] = [json.loads(line) for line in lines if line.strip()]
    return out


def test_simple_trainer_sweeps_and_is_analyzed(ray_session, tmp_path: Path):
    space = plugin(tmp_path / "mine", """
        name: simple
        metric: score
        fixed: {trainer: "mytrain:simple", rate: 0.5}
        axes: {width: [1, 2, 3]}
        num_samples: 2
    """) if (tmp_path / "mine").mkdir() is None else None
    runner = CliRunner()
    res = runner.invoke(app, ["sweep", str(space), "--storage-path", str(tmp_path / "runs"),
                              "--no-progress", "--no-tables"])
    assert res.exit_code == 0, res.output
    exp = tmp_path / "runs" / "simple"
    rows = _rows(exp)
    assert sorted(rows) == ["w1", "w2", "w3"] and all(len(r) == 1 for r in rows.values())
    res = runner.invoke(app, ["analyze", str(exp)])
    assert res.exit_code == 0, res.output
    assert "width" in res.output and "score" in res.output


def test_epoch_trainer_resumes_after_a_kill_every_epoch_once(ray_session, tmp_path: Path):
    from tune_bench.space import load_space
    from tune_bench.sweep import SweepOptions, run_sweep

    space = plugin(tmp_path, """
        name: epochs
        metric: score
        fixed: {trainer: "mytrain:epochs", epochs: 4, die_at: 2}
        axes: {width: [1, 2]}
    """)
    spec = load_space(str(space))
    assert spec.plugin_paths == [str(tmp_path.resolve())]
    out = run_sweep(spec, SweepOptions(storage_path=str(tmp_path / "runs"), progress=False))
    assert out.ok, out
    for key, rows in _rows(Path(out.path)).items():
        assert [r["epoch"] for r in rows] == [1, 2, 3, 4], (key, rows)
        assert (tmp_path / f"died_{key[1:]}").read_text() == "2"  # each died once at epoch 2
        resumed = [r for r in rows if r.get("restored_from_epoch")]
        assert resumed and resumed[0]["restored_from_epoch"] == 2 and resumed[0]["epoch"] == 3
        assert rows[-1]["score"] == pytest.approx(0.4 * int(key[1:]))  # state carried over


# --------------------------------------------------------------------------- bad plug-ins

BAD = {
    "module_missing": ("nosuch:train", MODULE, "no module named 'nosuch'"),
    "function_missing": ("mytrain:nothing", MODULE, "module 'mytrain' has no 'nothing'"),
    "wrong_signature": ("mytrain:two", "def two(a, b):\n    return {}\n",
                        "wrong signature two(a, b)"),
    "raises_on_import": ("mytrain:simple", "raise RuntimeError('boom')\n",
                         "raised on import: RuntimeError: boom"),
    "config_rejects": ("mytrain:epochs", MODULE, "fixed.width: must be >= 1 (got 0)"),
    "unknown_key": ("mytrain:epochs", MODULE, "fixed.depth: unknown key for the mytrain:epochs"),
    "metric_not_reported": ("mytrain:epochs", MODULE, "metric: accuracy is not reported by "
                            "mytrain:epochs trials"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_plugin_one_line_exit_2_nothing_started(run: Run, tmp_path: Path,  # noqa: F811
                                                   case: str):
    trainer, module, expect = BAD[case]
    fixed = {"config_rejects": "width: 0", "unknown_key": "depth: 3"}.get(case, "width: 1")
    metric = "accuracy" if case == "metric_not_reported" else "score"
    space = plugin(tmp_path / "plug" if (tmp_path / "plug").mkdir() is None else tmp_path, f"""
        name: bad
        metric: {metric}
        fixed: {{trainer: "{trainer}", {fixed}}}
    """, module)
    res = run("sweep", str(space), "--storage-path", str(run.storage), timeout=60)
    one_line_error(res, 2, str(space), expect)
    nothing_written(run)


# --------------------------------------------------------------------------- the examples

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_example_b_own_trainer_on_digits(ray_session, tmp_path: Path):
    res = CliRunner().invoke(app, [
        "sweep", str(EXAMPLES / "digits_trainer" / "space.yaml"), "--storage-path",
        str(tmp_path), "--no-progress", "--no-tables", "--set", "max_iter=20"])
    assert res.exit_code == 0, res.output
    rows = [json.loads((d / "result.json").read_text().splitlines()[-1])
            for d in (tmp_path / "digits_mlp").iterdir() if d.is_dir()]
    assert len(rows) == 8 and all(r["test_acc"] > 0.2 for r in rows)


def test_example_a_own_cnn_through_the_builtin_trainer(ray_session, tmp_path: Path, tiny_root):
    res = CliRunner().invoke(app, [
        "sweep", str(EXAMPLES / "my_cnn" / "space.yaml"), "--storage-path", str(tmp_path),
        "--data-dir", str(tiny_root), "--no-progress", "--no-tables", "--set", "epochs=1",
        "--set", "n_train=100", "--set", "n_eval=50", "--set", "lr=0.001"])
    assert res.exit_code == 0, res.output
    rows = [json.loads((d / "result.json").read_text().splitlines()[-1])
            for d in (tmp_path / "my_cnn").iterdir() if d.is_dir()]
    mine = [r for r in rows if r["params"] < 100_000]
    assert len(rows) == 2 and len(mine) == 1 and mine[0]["macs"] > 0


def test_a_factory_not_returning_a_module_and_a_bad_loader(tmp_path: Path):
    from tune_bench.errors import ConfigError
    from tune_bench.space import load_space
    from tune_bench.sweep.handover import decode_datasets

    (tmp_path / "bad.py").write_text(
        "import numpy as np\n"
        "def build(num_classes, in_channels):\n    return 'a string'\n"
        "def load():\n    z = np.zeros((10, 8, 8), np.uint8)\n"
        "    return z, np.zeros(9, int), z, np.zeros(10, int)\n")
    space = plugin(tmp_path, 'name: b\nfixed: {trainer: resnet, model: "bad:build"}\n', "")
    with pytest.raises(ConfigError, match="fixed.model: the factory returned str, not a torch"):
        load_space(str(space))
    space = plugin(tmp_path, 'name: b\nfixed: {trainer: svm, dataset: "bad:load"}\n', "",
                   name="unused")
    spec = load_space(str(space))
    with pytest.raises(ConfigError, match="bad:load: train_x holds 10 images but train_y"):
        decode_datasets(spec.points, None, spec.plugin_paths)


# --------------------------------------------------------------------------- entry points


def test_an_installed_entry_point_is_a_trainer_by_name(tmp_path: Path, monkeypatch):
    """A package that declares `[tune_bench.trainers] toy = toy_pkg:epochs` (its dist-info on
    sys.path, as pip installs it) is a trainer named `toy`: listed among the known names,
    resolved with its config model and metrics, and checked by `sweep --dry-run` like a
    built-in (a key its config forbids is the one-line ConfigError naming it)."""
    from tune_bench import plugins

    site = tmp_path / "site"
    (site / "toy_pkg").mkdir(parents=True)
    (site / "toy_pkg" / "__init__.py").write_text(MODULE)
    dist = site / "toy_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tune_bench.trainers]\ntoy = toy_pkg:epochs\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugins, "_RESOLVED", {})

    assert "toy" in plugins.known_names()
    t = plugins.resolve("toy")
    assert t.ref == "toy_pkg:epochs" and not t.builtin and t.metrics == {"score"}
    assert t.config is not None and "die_at" in t.config.model_fields
    runner = CliRunner()
    space = tmp_path / "space.yaml"
    space.write_text("name: toy\nmetric: score\nfixed: {trainer: toy}\naxes: {width: [1, 2]}\n")
    res = runner.invoke(app, ["sweep", str(space), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "2 trial(s)" in res.output
    space.write_text("name: toy\nmetric: score\nfixed: {trainer: toy, depth: 3}\n")
    res = runner.invoke(app, ["sweep", str(space), "--dry-run"])  # (main() prints it, exit 2)
    from tune_bench.errors import ConfigError

    assert isinstance(res.exception, ConfigError), res.output
    assert "fixed.depth: unknown key for the toy trainer" in str(res.exception)
