"""The HTML report (and the markdown/CSV leaderboards) on real runs, checked as HTML and in a real browser.

The runs are real: ``qbench run a3 --model random`` and a sharpness model on MOS sets generated here, A1 with
the random model on the built-in synthetic questions, and, when ``../shared/data`` is present, the official
A3 outputs of two MLLMs imported. Published rows are the protocol's numbers (protocol.md 4.5 and 5).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import qbench
from conftest import SHARED_DATA
from helpers import run_cli, write_mos_set
from qbench.importer import import_a3
from qbench.report.html import to_html
from qbench.report.render import render
from qbench.report.rows import ReportRow, run_rows
from qbench.store import find_runs
from qbench.tasks import assessment_report as html_report  # the A3 plots (MAX_POINTS)

OFFICIAL_A3 = ["KONiQ-10k", "SPAQ", "LIVE-FB", "LIVE-itw", "CGIQA-6K", "AGIQA-3K", "KADID-10K"]
A1_SINGLE = ["Yes-or-No", "What", "How", "Distortion", "Other", "In-context Distortion", "In-context Other"]
A1_PAIR = ["Yes-or-No", "What", "How", "Distortion", "Other", "Compare", "Joint"]
A3_KEYS = ["koniq", "spaq", "flive", "livec", "cgi", "agi", "kadid"]


# -- published rows, as qbench.report.references gives them (protocol.md 4.5 and 5) -------------------------
def published_a3(model: str, cells: str) -> list[dict[str, Any]]:
    """``"0.448/0.460 | 0.563/0.584 | ..."`` in the official database order -> one row per database."""
    rows = []
    for dataset, cell in zip(A3_KEYS, cells.split("|")):
        srcc, plcc = (float(v) for v in cell.split("/"))
        rows.append(
            {
                "task": "a3",
                "model": model,
                "dataset": dataset,
                "split": None,
                "n": None,
                "metrics": {"srcc": srcc, "plcc": plcc},
                "reference": True,
                "source": "Q-Bench+ Table VI",
            }
        )
    return rows


def published_a1(model: str, values: str, keys: list[str], dataset: str) -> dict[str, Any]:
    numbers = [float(v) / 100 for v in values.split()]
    return {
        "task": "a1",
        "model": model,
        "dataset": dataset,
        "split": "dev",
        "n": None,
        "metrics": dict(zip(keys, numbers)),
        "reference": True,
        "source": "Q-Bench+ Table II/III",
    }


SINGLE_KEYS = [
    "accuracy/yes-no",
    "accuracy/what",
    "accuracy/how",
    "accuracy/distortion",
    "accuracy/other",
    "accuracy/in-context-distortion",
    "accuracy/in-context-other",
    "accuracy",
]
PAIR_KEYS = [*SINGLE_KEYS[:5], "accuracy/compare", "accuracy/joint", "accuracy"]

PUBLISHED = [
    *published_a3(
        "LLaVA-v1.5-13B",
        "0.448/0.460|0.563/0.584|0.310/0.339|0.445/0.481|0.285/0.297|0.664/0.754|0.390/0.400",
    ),
    *published_a3(
        "InternLM-XComposer-VL",
        "0.564/0.615|0.730/0.750|0.360/0.416|0.612/0.676|0.243/0.265|0.732/0.775|0.546/0.572",
    ),
    published_a1(
        "LLaVA-v1.5-7B", "66.36 58.19 50.51 49.42 65.74 54.61 70.61 58.66", SINGLE_KEYS, "llvisionqa"
    ),
    published_a1("LLaVA-v1.5-7B", "60.46 42.85 41.53 47.88 51.89 46.55 59.57 49.32", PAIR_KEYS, "qbench2"),
]


# -- real runs ---------------------------------------------------------------------------------------------
class Sharpness:
    """A tiny no-reference quality model (mean horizontal gradient): sharper images score higher."""

    name = "sharpness"

    def quality(self, images: list[Any]) -> list[float]:
        return [float(np.abs(np.diff(np.asarray(im.convert("L"), float), axis=1)).mean()) for im in images]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A3 runs of two models on two generated MOS sets, an A1 run, and imported official outputs if present."""
    root = tmp_path_factory.mktemp("report")
    runs = root / "runs"
    koniq = write_mos_set(root / "data", n=24, name="koniq.json")  # named like the database: its column
    livec = write_mos_set(root / "data", n=16, name="livec.json")
    done = run_cli("-q", "run", "a3", "--model", "random", "--data", str(koniq), "--out", str(runs))
    assert done.returncode == 0, done.stderr
    qbench.evaluate("a3", "random", livec, out=runs, progress=False)  # what the command line calls
    for data in (koniq, livec):
        qbench.evaluate("a3", Sharpness(), data, out=runs, progress=False)
    qbench.evaluate("a1", "random", "synthetic", out=runs, progress=False)
    outputs = SHARED_DATA / "iqa-outputs"
    if outputs.exists():
        for folder in sorted(p for p in outputs.iterdir() if p.is_dir()):
            import_a3(sorted(folder.glob("*.json")), model=folder.name, out=runs)
    return runs


@pytest.fixture(scope="module")
def rows(runs_dir: Path) -> list[ReportRow]:
    return run_rows(find_runs([runs_dir]))


# -- reading the page back ---------------------------------------------------------------------------------
class Tables(HTMLParser):
    """The tables of a page: caption, header cells, and rows as (tr class, [cell text]); and the SVG count."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self.svgs: list[str] = []  # each svg's class
        self._cell: list[str] | None = None
        self._where = ""
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"class": a.get("class", ""), "caption": "", "head": [], "rows": []})
        elif tag == "caption":
            self._where = "caption"
        elif tag == "thead":
            self._where = "head"
        elif tag == "tbody":
            self._where = "body"
        elif tag == "tr" and self._where == "body":
            self.tables[-1]["rows"].append((a.get("class", ""), []))
        elif tag in ("th", "td"):
            self._cell = []
        elif tag == "svg":
            self.svgs.append(a.get("class") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            table = self.tables[-1]
            (table["head"] if self._where == "head" else table["rows"][-1][1]).append(text)
            self._cell = None
        elif tag == "caption":
            self._where = ""

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._where == "caption":
            self.tables[-1]["caption"] += data

    def board(self, caption_start: str) -> dict[str, Any]:
        return next(t for t in self.tables if t["caption"].startswith(caption_start))


# -- structure ---------------------------------------------------------------------------------------------
def test_a3_board_in_the_official_order_with_intervals(rows: list[ReportRow]) -> None:
    page = Tables(to_html(rows))
    board = page.board("A3 assessment")
    expected = ["KONiQ-10k", "LIVE-itw"] + (["AGIQA-3K"] if any(r.dataset == "agi" for r in rows) else [])
    assert board["head"] == ["Model", *expected, "Average"]
    cells = {row[0]: row[1:] for _, row in board["rows"]}
    koniq = cells["sharpness"][0]  # "0.912 / 0.886 [0.80, 0.97] [0.75, 0.95]": SRCC / PLCC, their intervals
    srcc = next(r for r in rows if r.model == "sharpness" and r.dataset == "koniq").metrics["srcc"]
    assert koniq.startswith(f"{srcc:.3f} / ") and koniq.count("[") == 2
    assert all(kind == "own" for kind, _ in board["rows"])


def test_runs_plus_published_rows_keep_the_official_column_layout(rows: list[ReportRow]) -> None:
    mine_a1 = next(r for r in rows if r.task == "a1")
    pair_run = replace(mine_a1, model="mine-pairs", metrics=dict(zip(PAIR_KEYS, [0.5] * 8)))
    combined = [*rows, pair_run, *PUBLISHED]
    page = Tables(to_html(combined))
    a3 = page.board("A3 assessment")
    assert a3["head"] == ["Model", *OFFICIAL_A3, "Average"]
    kinds = {row[0].replace(" published", ""): kind for kind, row in a3["rows"]}
    assert kinds["LLaVA-v1.5-13B"] == kinds["InternLM-XComposer-VL"] == "ref"
    assert kinds["sharpness"] == kinds["random"] == "own"
    published = next(row for kind, row in a3["rows"] if kind == "ref" and row[0].startswith("InternLM"))
    assert published[0].endswith("published") and published[-1] == "0.541 / 0.581"  # the official Avg
    assert page.board("A1 perception, single")["head"] == ["Model", *A1_SINGLE, "Overall", "Unreadable", "n"]
    assert page.board("A1 perception, image pairs")["head"] == [
        "Model",
        *A1_PAIR,
        "Overall",
        "Unreadable",
        "n",
    ]
    # the markdown and CSV leaderboards are built from the same boards
    md = render(combined, "md")
    assert "| Model | " + " | ".join([*OFFICIAL_A3, "Average"]) + " |" in md
    assert "| Model | " + " | ".join([*A1_SINGLE, "Overall", "Unreadable", "n"]) + " |" in md
    assert "| InternLM-XComposer-VL — published | 0.564/0.615 | 0.730/0.750 |" in md
    csv_lines = render(combined, "csv").splitlines()
    assert csv_lines[0] == "task,model,dataset,split,n,metric,value"
    assert "a3,LLaVA-v1.5-13B,livec,,,srcc,0.445" in csv_lines


def test_the_shipped_published_rows_with_runs_match_the_official_layout(rows: list[ReportRow]) -> None:
    references = pytest.importorskip("qbench.report.references")
    combined = [*rows, *references.reference_rows(split="dev")]
    page = Tables(to_html(combined))
    assert page.board("A3 assessment")["head"] == ["Model", *OFFICIAL_A3, "Average"]
    assert page.board("A1 perception, single")["head"] == ["Model", *A1_SINGLE, "Overall", "Unreadable", "n"]
    assert page.board("A1 perception, image pairs")["head"] == [
        "Model",
        *A1_PAIR,
        "Overall",
        "Unreadable",
        "n",
    ]
    for table in page.tables:
        if table["class"].startswith("board"):
            assert {kind for kind, _ in table["rows"]} <= {"own", "ref"}
            assert all(row[0].endswith("published") for kind, row in table["rows"] if kind == "ref")
    assert "| Model | " + " | ".join([*OFFICIAL_A3, "Average"]) + " |" in render(combined, "md")


def test_published_rows_named_like_a_run_stay_separate(rows: list[ReportRow]) -> None:
    clash = published_a3("sharpness", "0.1/0.1|0.1/0.1|0.1/0.1|0.1/0.1|0.1/0.1|0.1/0.1|0.1/0.1")
    board = Tables(to_html([*rows, *clash])).board("A3 assessment")
    kinds = {(row[0], kind) for kind, row in board["rows"]}
    assert {("sharpness", "own"), ("sharpness published", "ref")} <= kinds


def test_a3_scatter_per_run_and_database_from_the_records(rows: list[ReportRow]) -> None:
    page = to_html(rows)
    a3_runs = [r for r in rows if r.task == "a3"]
    assert Tables(page).svgs.count("plot scatter") == len(a3_runs)
    assert "predicted score against MOS" in page
    if any(r.n > html_report.MAX_POINTS for r in a3_runs):  # the official AGIQA-3K outputs: 2,982 images
        assert f"({html_report.MAX_POINTS:,} shown)" in page


def test_big_databases_are_drawn_from_a_fixed_sample(rows: list[ReportRow], monkeypatch) -> None:
    monkeypatch.setattr(html_report, "MAX_POINTS", 10)
    koniq = [r for r in rows if r.dataset == "koniq"]
    page = to_html(koniq)
    assert page.count("n=24 (10 shown)") == 2
    dots = [svg.split('<path d="')[1].split('"')[0] for svg in page.split('class="plot scatter"')[1:]]
    assert [d.count("h0") for d in dots] == [10, 10]


def test_a1_bars_answer_rules_and_invalid_rates(rows: list[ReportRow]) -> None:
    page = to_html(rows)
    assert "Accuracy by question type and concern" in page
    assert "How the answers were read" in page and "Share of answers that could not be read" in page
    overall = Tables(page).board("A1 perception, single")["rows"][0][1][-2]
    assert overall.count("[") == 1  # the overall accuracy carries its interval


def test_a2_score_distributions() -> None:
    metrics = {
        "completeness": 1.1,
        "precision": 1.2,
        "relevance": 1.8,
        "sum": 4.1,
        "sum_ci": [3.9, 4.3],
        "judge_failure_rate": 0.02,
    }
    for dim, shares in (
        ("completeness", (0.2, 0.5, 0.3)),
        ("precision", (0.1, 0.6, 0.3)),
        ("relevance", (0.0, 0.2, 0.8)),
    ):
        metrics.update({f"{dim}/p{k}": share for k, share in enumerate(shares)})
    judged = {
        "task": "a2",
        "model": "describer",
        "dataset": "lldescribe",
        "split": None,
        "n": 40,
        "metrics": metrics,
        "path": None,
    }
    page = to_html([judged])
    assert (
        "Judge scores per dimension" in page
        and "describer (lldescribe) · Completeness: score 1 50.0%" in page
    )
    assert "failed judge rounds" in page
    assert "[3.90, 4.30]" in page
    unjudged = {**judged, "metrics": {"description_words": 60.0, "n_judged": 0}}
    assert "not judged yet" in to_html([unjudged])


def test_svg_axes_are_round_and_nan_points_are_left_out() -> None:
    from qbench.report import svg

    assert svg.nice_ticks(0.4931, 0.5112, 4) == [0.495, 0.5, 0.505, 0.51]
    assert svg.nice_ticks(0, 1, 4) == [0, 0.25, 0.5, 0.75, 1.0]
    drawn = svg.scatter(
        [(0.1, 1.0), (0.5, math.nan), (0.9, 3.0), (0.4, 2.2)], title="m", x_label="x", y_label="y"
    )
    assert drawn.count("h0") == 3 and "stroke-dasharray" in drawn  # NaN dropped; least-squares line
    bars = svg.bar_groups(["What", "How"], [("m", [0.5, None])], title="t")
    assert bars.count("<rect") == 2  # the legend swatch and one bar: a missing value is no bar, not zero


def test_text_is_escaped_and_nan_is_shown_as_na_with_its_reason() -> None:
    row = {
        "task": "a3",
        "model": "<script>alert(1)</script>",
        "dataset": "koniq",
        "split": None,
        "n": 3,
        "metrics": {"srcc": math.nan, "plcc": math.nan},
        "path": None,
    }
    page = to_html([row])
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "n/a (correlation undefined)" in page and ">NaN" not in page


def test_the_page_is_self_contained(rows: list[ReportRow]) -> None:
    page = to_html([*rows, *PUBLISHED])
    assert page.startswith("<!DOCTYPE html>")
    for outside in ("http://", "https://", "<link", " src=", "@import", "url("):
        assert outside not in page, outside
    assert page.count("<script>") == 1  # the few lines that sort tables


def test_cli_writes_html_markdown_and_csv(runs_dir: Path, tmp_path: Path) -> None:
    for fmt in ("html", "md", "csv"):
        out = tmp_path / f"report.{fmt}"
        result = run_cli("report", str(runs_dir), "--format", fmt, "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert out.stat().st_size > 200
    assert "<svg" in (tmp_path / "report.html").read_text()


def test_references_flag_adds_published_rows_when_this_version_has_them(runs_dir: Path) -> None:
    result = run_cli("report", str(runs_dir), "--format", "json", "--references")
    assert result.returncode == 0, result.stderr
    try:
        import qbench.report.references  # noqa: F401
    except ImportError:
        assert "no published reference rows" in result.stderr
        return
    page = run_cli("report", str(runs_dir), "--format", "html", "--references").stdout
    assert "published</span>" in page and 'class="ref"' in page
    board = Tables(page).board("A3 assessment")
    assert board["head"][1:] == [*OFFICIAL_A3, "Average"]


# -- in a real browser -------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


def chromium(tmp_path: Path, page: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with everything that could reach the network turned off."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,2000",
    ]
    return subprocess.run(
        [str(CHROMIUM), *flags, *mode, page.resolve().as_uri()], capture_output=True, text=True, timeout=120
    )


def check_in_browser(tmp_path: Path, page: Path) -> str:
    """Screenshot (not blank: real variation in the pixels) and the DOM after layout; returns the DOM."""
    from PIL import Image

    shot = tmp_path / "shot.png"
    done = chromium(tmp_path, page, f"--screenshot={shot}")
    assert shot.exists(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1280)
    assert pixels.std() > 20  # a blank or single-colour page has (almost) none
    assert (pixels < 128).mean() > 0.02  # there is dark ink (text, plots) on it
    dom = chromium(tmp_path, page, "--dump-dom").stdout
    assert "<table" in dom and "<svg" in dom
    return dom


@needs_chromium
def test_the_demo_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    from qbench.demo import run_demo

    page = run_demo(tmp_path / "demo")
    dom = check_in_browser(tmp_path, page)
    tables = Tables(dom)
    assert tables.board("A1 perception, single")["head"][1:-2] == [*A1_SINGLE, "Overall"]
    assert tables.board("A1 perception, image pairs")["head"][1:-2] == [*A1_PAIR, "Overall"]
    assert tables.svgs.count("plot scatter") == 3 and "plot bars" in tables.svgs


@needs_chromium
def test_runs_with_published_rows_render_in_headless_chromium(rows: list[ReportRow], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(to_html([*rows, *PUBLISHED]), encoding="utf-8")
    dom = check_in_browser(tmp_path, page)
    board = Tables(dom).board("A3 assessment")
    assert board["head"] == ["Model", *OFFICIAL_A3, "Average"]
    assert sum(kind == "ref" for kind, _ in board["rows"]) == 2


@needs_chromium
def test_clicking_a_header_sorts_the_table(rows: list[ReportRow], tmp_path: Path) -> None:
    """Click "SPAQ" (only the published rows have it): best first, then models without a value."""
    click = (
        "<script>var th = [...document.querySelectorAll('caption')].find(c => c.textContent.startsWith('A3'))"
        ".closest('table').querySelectorAll('thead th')[2]; th.click();</script></body>"
    )
    page = tmp_path / "sorted.html"
    page.write_text(to_html([*rows, *PUBLISHED]).replace("</body>", click), encoding="utf-8")
    dom = chromium(tmp_path, page, "--dump-dom").stdout
    board = Tables(dom).board("A3 assessment")
    assert board["head"][2] == "SPAQ"
    spaq = [row[2] for _, row in board["rows"]]
    assert spaq[:2] == ["0.730 / 0.750", "0.563 / 0.584"] and set(spaq[2:]) == {"–"}


def test_json_report_is_unchanged_by_html_rows(rows: list[ReportRow]) -> None:
    """Rendering HTML does not alter the rows it was given (names of published rows are changed on copies)."""
    before = json.dumps(rows, default=str)
    to_html([*rows, *published_a3("random", "0.1/0.1|0.1/0.1|0.1/0.1|0.1/0.1|0.1/0.1|0.1/0.1|0.1/0.1")])
    assert json.dumps(rows, default=str) == before
