"""Reports show what was measured: each share with its own interval, judged beside rule-based accuracy."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import run_cli
from qbench.report.html import wilson_interval

MODEL = """
class Half:
    name = "half"
    def __init__(self):
        self.calls = 0
    def generate(self, requests):
        out = []
        for _ in requests:
            self.calls += 1
            out.append("A" if self.calls % 4 == 0 else "B" if self.calls % 4 == 1 else "hmm")
        return out
"""


def _cells(html: str, caption: str) -> dict[str, tuple[str, str]]:
    """{column: (value, interval)} of the first own row of the table with this caption."""
    table = html[html.index(f"<caption>{caption}") :]
    table = table[: table.index("</table>")]
    head = re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', table)[1:]
    row = re.search(r'<tr class="own">(.*?)</tr>', table, re.S).group(1)  # type: ignore[union-attr]
    cells = re.findall(r"<td[^>]*>([^<]*)(?:<span class=\"ci\">([^<]*)</span>)?</td>", row)
    return dict(zip(head, cells, strict=True))


def test_html_unreadable_column_shows_its_own_interval(tmp_path: Path) -> None:
    (tmp_path / "half.py").write_text(MODEL)
    out = tmp_path / "runs"
    args = ("--model", "py:half:Half", "--data", "synthetic", "--limit", "40", "--out", str(out))
    result = run_cli("run", "a1", *args, "-T", "bootstrap=0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    html = run_cli("report", str(out), "--format", "html").stdout
    cells = _cells(html, "A1 perception")
    unreadable, unreadable_ci = cells["Unreadable"]
    overall, overall_ci = cells["Overall"]
    assert unreadable == "50.00"  # two of every four replies say "hmm"
    lo, hi = wilson_interval(0.5, 40)
    assert unreadable_ci == f"[{100 * lo:.1f}, {100 * hi:.1f}]"
    lo, hi = wilson_interval(float(overall) / 100, 40)
    assert overall_ci == f"[{100 * lo:.1f}, {100 * hi:.1f}]"
    assert float(overall) != 50.0  # so the two intervals cannot be the same by accident
