"""The README's Quickstart is what CI and new users run: two shell blocks, the demo offline, the tests."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]


def quickstart_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def test_quickstart_has_exactly_the_demo_block_and_the_test_block() -> None:
    demo, tests = quickstart_blocks()
    assert "pip install -e ." in demo and "qbench demo" in demo
    ci = (ROOT / ".ci" / "run").read_text()
    for line in filter(None, (line.strip() for line in tests.splitlines())):
        assert line in ci, f"CI does not run the README's test command: {line}"


def test_the_demo_runs_offline_and_writes_its_reports(tmp_path: Path) -> None:
    result = run_cli(
        "demo", "--out", "demo", cwd=tmp_path, env={"NO_PROXY": "*", "HTTPS_PROXY": "http://0.0.0.0:9"}
    )
    assert result.returncode == 0, result.stderr
    assert "report:" in result.stdout
    html = (tmp_path / "demo" / "report.html").read_text()
    assert (
        "<svg" in html and "A3 assessment" in html and "http://" not in html.replace("http://www.w3.org", "")
    )
    assert (tmp_path / "demo" / "report.md").read_text().count("| random") >= 3
