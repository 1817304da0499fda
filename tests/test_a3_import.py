"""Importing the official A3 outputs reproduces the published table (protocol.md 4.3-4.5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import shared_data
from helpers import run_cli
from qbench.importer import import_a3

# Published SRCC/PLCC (protocol.md 4.5; environment.md) for every released output file we have.
PUBLISHED = {
    ("llava_v1.5", "livec"): (0.445, 0.481),
    ("llava_v1.5", "agi"): (0.664, 0.754),
    ("idefics", "livec"): (0.409, 0.428),
    ("idefics", "agi"): (0.562, 0.622),
}


def test_every_released_output_reproduces_the_published_numbers(tmp_path: Path) -> None:
    root = shared_data("iqa-outputs")
    files = sorted(root.glob("*/*.json"))
    assert files, "no released outputs found"
    checked = 0
    for path in files:
        model, dataset = path.parent.name, path.stem
        (run,) = import_a3([path], model=model, out=tmp_path)
        metrics = run.metrics()
        assert run.manifest["dataset"] == dataset
        if (model, dataset) in PUBLISHED:
            srcc, plcc = PUBLISHED[(model, dataset)]
            assert round(metrics["srcc"], 3) == srcc, (model, dataset, metrics)
            assert round(metrics["plcc"], 3) == plcc, (model, dataset, metrics)
            checked += 1
    assert checked == len(PUBLISHED)


def test_cli_import_then_report_json_has_the_official_keys(tmp_path: Path) -> None:
    files = sorted(shared_data("iqa-outputs", "llava_v1.5").glob("*.json"))
    result = run_cli(
        "import", "a3", *map(str, files), "--model", "llava_v1.5", "--out", str(tmp_path / "runs")
    )
    assert result.returncode == 0, result.stderr
    report = run_cli("report", str(tmp_path / "runs"), "--format", "json")
    rows = json.loads(report.stdout)
    assert {r["dataset"] for r in rows} == {"livec", "agi"}
    for row in rows:
        assert set(row) >= {"task", "model", "dataset", "split", "n", "metrics"}
        assert {"srcc", "plcc", "krcc"} <= set(row["metrics"])
    livec = next(r for r in rows if r["dataset"] == "livec")
    assert livec["n"] == 1169
    assert round(livec["metrics"]["srcc"], 3) == 0.445


def _official_style(items: list[dict]) -> str:
    """What the official scripts leave: json.dump appended with no separator."""
    return "".join(json.dumps(item) for item in items)


ITEMS = [
    {
        "img_path": f"game_{i:04d}.jpg" if i < 4 else f"movie_{i:04d}.jpg",
        "gt_score": f"{(i * 7) % 5 + 0.5} ",
        "logit_good": 10 + (i * 3) % 7,
        "logit_poor": 12 - i % 3,
    }
    for i in range(8)
]


@pytest.mark.parametrize("shape", ["concatenated", "list", "jsonl"])
def test_the_three_file_shapes_give_the_same_run(tmp_path: Path, shape: str) -> None:
    text = {
        "concatenated": _official_style(ITEMS),
        "list": json.dumps(ITEMS, indent=2),
        "jsonl": "\n".join(json.dumps(i) for i in ITEMS) + "\n",
    }[shape]
    path = tmp_path / "koniq.json"
    path.write_text(text)
    (run,) = import_a3([path], model="m", out=tmp_path / "runs")
    records = run.records()
    assert len(records) == 8
    first = records["game_0000.jpg"].output
    assert first["score"] == pytest.approx(1 / (1 + 2.718281828459045 ** ((12 - 10) / 100)))
    assert run.manifest["dataset"] == "koniq"


def test_cgiqa_is_the_mean_of_its_game_and_movie_halves(tmp_path: Path) -> None:
    from qbench.metrics import correlations

    path = tmp_path / "cgi.json"
    path.write_text(_official_style(ITEMS))
    (run,) = import_a3([path], model="m", out=tmp_path / "runs")
    metrics = run.metrics()
    records = list(run.records().values())
    halves = [
        correlations(
            [r.output["score"] for r in records if r.id.startswith(p)],
            [r.output["mos"] for r in records if r.id.startswith(p)],
        )
        for p in ("game_", "movie_")
    ]
    assert metrics["srcc"] == pytest.approx((halves[0]["srcc"] + halves[1]["srcc"]) / 2)
    assert metrics["halves"] == ["game_", "movie_"]


def test_duplicated_images_keep_the_first_record_and_are_counted(tmp_path: Path, caplog) -> None:
    items = [ITEMS[0], *ITEMS, dict(ITEMS[1], logit_good=99)]
    path = tmp_path / "livec.json"
    path.write_text(_official_style(items))
    (run,) = import_a3([path], model="m", out=tmp_path / "runs")
    assert run.manifest["duplicates"] == 2
    assert run.manifest["n"] == 8
    assert run.records()["game_0001.jpg"].output["logits"]["good"] == ITEMS[1]["logit_good"]


def test_other_level_words_are_read_from_their_logit_keys(tmp_path: Path) -> None:
    items = [dict(i, logit_high=i["logit_good"], logit_low=i["logit_poor"]) for i in ITEMS]
    path = tmp_path / "kadid.json"
    path.write_text(json.dumps(items))
    (good,) = import_a3([path], model="a", out=tmp_path / "r1")
    (high,) = import_a3([path], model="a", out=tmp_path / "r2", positive="high", negative="low")
    assert good.metrics()["srcc"] == pytest.approx(high.metrics()["srcc"])
    assert high.manifest["task_info"]["words"] == ["high", "low"]
