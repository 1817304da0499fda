"""Settings layering, plugins found through entry points, and the smaller data paths (CSV, degenerate input)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from helpers import run_cli, write_mos_set
from qbench.config import layered
from qbench.errors import DataError, UsageError
from qbench.metrics import correlations


def test_defaults_then_toml_then_env_then_flags(tmp_path: Path) -> None:
    toml = tmp_path / "qbench.toml"
    toml.write_text('split = "test"\nbatch-size = 4\nconcurrency = 8\nlimit = 100\n')
    env = {"QBENCH_BATCH_SIZE": "16", "QBENCH_LIMIT": "50"}
    config = layered({"task": "a1", "model": "random", "data": "x", "limit": 10}, toml, env)
    assert config.split == "test"  # from the file
    assert config.concurrency == 8  # from the file
    assert config.batch_size == 16  # the environment beats the file
    assert config.limit == 10  # a flag beats everything
    assert layered({"task": "a1", "model": "m", "data": "d"}, None, {}).split == "dev"  # the default


def test_a_wrong_setting_in_the_file_is_named(tmp_path: Path) -> None:
    toml = tmp_path / "qbench.toml"
    toml.write_text("bach_size = 4\n")
    with pytest.raises(DataError, match="bach_size") as info:
        layered({"task": "a1", "model": "m", "data": "d"}, toml, {})
    assert "batch_size" in info.value.one_line()
    with pytest.raises(UsageError, match="shard"):
        layered({"task": "a1", "model": "m", "data": "d", "shard": "5/4"}, None, {})


def test_the_config_file_works_from_the_command_line(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "d", n=5)
    (tmp_path / "run.toml").write_text(f'model = "random"\ndata = "{data}"\nout = "{tmp_path / "runs"}"\n')
    result = run_cli("run", "a3", "--config", str(tmp_path / "run.toml"))
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "runs").rglob("metrics.json"))


def test_a_mos_csv_with_named_columns(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path, n=6)
    items = json.loads(data.read_text())
    csv = tmp_path / "scores.csv"
    csv.write_text("file,quality\n" + "".join(f"{i['img_path']},{i['gt_score']}\n" for i in items))
    out = tmp_path / "runs"
    guessed = run_cli("run", "a3", "--model", "random", "--data", str(csv), "--out", str(out))
    assert guessed.returncode == 2 and "--mos-column" in guessed.stderr  # 'quality' is not a known name
    named = run_cli(
        "run",
        "a3",
        "--model",
        "random",
        "--data",
        str(csv),
        "--out",
        str(out),
        "--image-column",
        "file",
        "--mos-column",
        "quality",
    )
    assert named.returncode == 0, named.stderr
    (metrics,) = out.rglob("metrics.json")
    assert json.loads(metrics.read_text())["n"] == 6


def test_constant_or_short_input_is_nan_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="qbench"):
        constant = correlations([0.5, 0.5, 0.5, 0.5], [1, 2, 3, 4], label="koniq")
        short = correlations([0.1, 0.2], [1, 2])
    assert all(math.isnan(v) for v in constant.values())
    assert all(math.isnan(v) for v in short.values())
    assert "koniq" in caplog.text and "constant" in caplog.text


def test_logistic_plcc_is_at_least_the_plain_one_on_a_monotone_curve() -> None:
    pred = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    gt = [1.0, 1.1, 1.3, 2.0, 3.5, 4.2, 4.4, 4.5]  # an S-shaped response
    result = correlations(pred, gt, logistic=True)
    assert result["srcc"] == pytest.approx(1.0)
    assert result["plcc_logistic"] > result["plcc"]


PLUGIN = """
class ConstantPlusSharpness:
    name = "plugin-iqa"

    def quality(self, images):
        import numpy as np
        return [float(np.asarray(im.convert("L"), float).std()) for im in images]


def create(arg, options):
    return ConstantPlusSharpness()
"""


def test_a_plugin_package_registers_a_model_through_an_entry_point(tmp_path: Path) -> None:
    """A distribution on sys.path with a ``qbench.models`` entry point is found by name, did-you-mean included."""
    site = tmp_path / "site"
    (site / "my_plugin").mkdir(parents=True)
    (site / "my_plugin" / "__init__.py").write_text(PLUGIN)
    info = site / "my_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[qbench.models]\nmyiqa = my_plugin:create\n")
    data = write_mos_set(tmp_path / "d", n=5)
    env = {"PYTHONPATH": str(site) + ":" + ":".join(sys.path)}
    listed = run_cli("list", "models", env=env)
    assert "myiqa" in listed.stdout
    result = run_cli(
        "run", "a3", "--model", "myiqa", "--data", str(data), "--out", str(tmp_path / "r"), env=env
    )
    assert result.returncode == 0, result.stderr
    typo = run_cli("run", "a3", "--model", "myiq", "--data", str(data), env=env)
    assert typo.returncode == 2 and "myiqa" in typo.stderr
