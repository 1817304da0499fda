"""Reports show what was measured: each share with its own interval, judged beside rule-based accuracy."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import run_cli, write_mos_set
from qbench.report.html_blocks import wilson_interval

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


JUDGE = """
class Strict:
    name = "strict-judge"
    def __init__(self):
        self.calls = 0
    def generate(self, requests):
        out = []
        for _ in requests:
            self.calls += 1
            out.append("Result: 1" if self.calls % 5 < 2 else "Result: 0")
        return out
"""


def test_judged_accuracy_is_shown_beside_the_rule_based_one_in_every_format(tmp_path: Path) -> None:
    (tmp_path / "half.py").write_text(MODEL)
    (tmp_path / "strict.py").write_text(JUDGE)
    out = tmp_path / "runs"
    args = ("--model", "py:half:Half", "--judge", "py:strict:Strict", "--data", "synthetic", "--limit", "12")
    result = run_cli("run", "a1", *args, "--out", str(out), "-T", "bootstrap=0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (metrics_file,) = out.rglob("metrics.json")
    metrics = json.loads(metrics_file.read_text())
    judged, rules = metrics["judged/accuracy"], metrics["accuracy"]
    assert judged != rules  # so the test can tell the two columns apart

    md = run_cli("report", str(out), "--format", "md").stdout
    header = next(line for line in md.splitlines() if line.startswith("| Model"))
    row = next(line for line in md.splitlines() if line.startswith("| half"))
    cells = dict(zip(header.split("|")[1:-1], row.split("|")[1:-1], strict=True))
    cells = {k.strip(): v.strip() for k, v in cells.items()}
    assert cells["Overall"] == f"{100 * rules:.2f}" and cells["Overall (judged)"] == f"{100 * judged:.2f}"

    csv = run_cli("report", str(out), "--format", "csv").stdout.splitlines()
    assert any(line.endswith(f",judged/accuracy,{judged}") for line in csv), csv
    assert any(line.endswith(f",accuracy,{rules}") for line in csv)

    (row_json,) = json.loads(run_cli("report", str(out), "--format", "json").stdout)
    assert row_json["metrics"]["judged/accuracy"] == judged

    html = run_cli("report", str(out), "--format", "html").stdout
    assert _cells(html, "A1 perception")["Overall (judged)"][0] == f"{100 * judged:.2f}"

    table = run_cli("report", str(out)).stdout
    assert "Overall (judged)" in table.replace("\n", " ") or "(judged)" in table


def test_a3_tables_show_krcc_logistic_plcc_and_n(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=9)
    out = tmp_path / "runs"
    args = ("--model", "random", "--data", str(data), "--out", str(out), "-T", "logistic=true")
    assert run_cli("run", "a3", *args).returncode == 0
    (metrics_file,) = out.rglob("metrics.json")
    metrics = json.loads(metrics_file.read_text())
    md = run_cli("report", str(out), "--format", "md").stdout
    assert "| Model | SRCC | PLCC | KRCC | PLCC (logistic) | n |" in md
    assert f"{metrics['krcc']:.4f}" in md and f"{metrics['plcc_logistic']:.4f}" in md and "| 9 |" in md
    html = run_cli("report", str(out), "--format", "html").stdout
    assert "KRCC" in html and "PLCC (logistic)" in html and f"{metrics['krcc']:.4f}" in html
    table = run_cli("report", str(out)).stdout
    assert "KRCC" in table and f"{metrics['krcc']:.4f}" in table


def _labels(out: Path) -> list[str]:
    rows = json.loads(run_cli("report", str(out), "--format", "json").stdout)
    return sorted(r["model"] for r in rows)


def test_runs_of_one_model_are_labelled_by_what_differs(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=6)
    out = tmp_path / "runs"
    base = ("run", "a3", "--model", "random", "--data", str(data), "--out", str(out))
    assert run_cli(*base).returncode == 0
    assert run_cli(*base, "-T", "bootstrap=0").returncode == 0
    assert _labels(out) == ["random [-T bootstrap=0]", "random [-T bootstrap=default]"]

    other = tmp_path / "other"
    write_mos_set(other, n=7)  # the same file name, other data
    assert (
        run_cli(
            "run", "a3", "--model", "random", "--data", str(other / "mos.json"), "--out", str(out)
        ).returncode
        == 0
    )
    labels = _labels(out)
    assert len(labels) == 3 and all("data mos.json " in label for label in labels)


def test_judged_runs_are_labelled_by_their_judge(tmp_path: Path) -> None:
    (tmp_path / "half.py").write_text(MODEL)
    (tmp_path / "strict.py").write_text(JUDGE)
    (tmp_path / "lenient.py").write_text(
        JUDGE.replace("strict-judge", "lenient-judge").replace("Strict", "Lenient")
    )
    out = tmp_path / "runs"
    for judge in ("py:strict:Strict", "py:lenient:Lenient"):
        args = ("--model", "py:half:Half", "--judge", judge, "--data", "synthetic", "--limit", "4")
        result = run_cli("run", "a1", *args, "--out", str(out), "-T", "bootstrap=0", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    labels = _labels(out)
    assert labels == ["half [judge lenient-judge]", "half [judge strict-judge]"], labels
