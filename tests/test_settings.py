"""docs/settings.md holds: defaults < --config TOML < QBENCH_* variables < flags, through the real CLI."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from helpers import run_cli, write_mos_set

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def _n(out: Path) -> list[int]:
    return sorted(json.loads(p.read_text())["n"] for p in out.rglob("manifest.json"))


def test_the_documented_config_file_parses_into_known_settings() -> None:
    from qbench.config import RunConfig

    block = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S).group(1)  # type: ignore[union-attr]
    table = tomllib.loads(block)
    known = set(RunConfig.__dataclass_fields__)
    assert set(table) <= known
    text = DOC.read_text()
    for name in known - {"model", "data", "task"}:
        assert f"`{name}`" in text, name  # every setting is listed
    src = Path(__file__).resolve().parents[1] / "src" / "qbench"
    used = {v for p in src.rglob("*.py") for v in re.findall(r"QBENCH_[A-Z_]+[A-Z]", p.read_text())}
    for variable in used:
        assert f"`{variable}`" in text, variable  # every variable qbench reads is documented


def test_layers_file_then_environment_then_flags(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=8)
    config = tmp_path / "qbench.toml"
    config.write_text(f'model = "random"\ndata = "{data}"\nlimit = 6\ntask_options = {{ bootstrap = "0" }}\n')
    out = tmp_path / "runs"
    assert run_cli("run", "a3", "--config", str(config), "--out", str(out)).returncode == 0
    assert _n(out) == [6]
    env = {"QBENCH_LIMIT": "4", "QBENCH_CONFIG": str(config)}
    assert run_cli("run", "a3", "--out", str(out), env=env).returncode == 0
    assert _n(out) == [4, 6]
    assert run_cli("run", "a3", "--out", str(out), "--limit", "3", env=env).returncode == 0
    assert _n(out) == [3, 4, 6]
    bad = run_cli("run", "a3", "--out", str(out), env={**env, "QBENCH_LIMIT": "ten"})
    assert bad.returncode == 2 and "limit" in bad.stderr
