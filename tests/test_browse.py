"""``qbench runs`` lists every run (any status); ``qbench show`` shows one run's samples, filtered."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli, write_mos_set

MODEL = """
class Some:
    name = "some"
    def __init__(self):
        self.calls = 0
    def generate(self, requests):
        out = []
        for _ in requests:
            self.calls += 1
            out.append("B. surely" if self.calls % 3 else "Well, it depends on the light.")
        return out
"""


def _a1(tmp_path: Path, out: Path) -> Path:
    (tmp_path / "some.py").write_text(MODEL)
    args = ("--model", "py:some:Some", "--data", "synthetic", "--limit", "9", "--out", str(out))
    result = run_cli("run", "a1", *args, "-T", "bootstrap=0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (manifest,) = out.rglob("manifest.json")
    return manifest.parent


def test_runs_lists_every_run_with_status_progress_and_derivation(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    a1 = _a1(tmp_path, out)
    data = write_mos_set(tmp_path / "data", n=4)
    assert run_cli("run", "a3", "--model", "random", "--data", str(data), "--out", str(out)).returncode == 0
    shard = run_cli(
        "run", "a3", "--model", "random", "--data", str(data), "--out", str(out), "--shard", "5/5"
    )
    assert shard.returncode == 3  # selects nothing: unusable, but listed
    assert run_cli("score", str(a1)).returncode == 0  # a derived run
    listing = run_cli("runs", str(out))
    assert listing.returncode == 0, listing.stderr
    text = listing.stdout
    assert text.count("complete") == 3 and "unusable" in text
    assert "9/9" in text and "4/4" in text and "0/0" in text
    fp = json.loads((a1 / "manifest.json").read_text())["fingerprint"][:8]
    assert text.count(fp) == 2  # the run's own fingerprint, and the derived run's derived_from


def test_runs_on_an_empty_folder_is_one_clear_error(tmp_path: Path) -> None:
    result = run_cli("runs", str(tmp_path))
    assert result.returncode == 2 and "no qbench runs found" in result.stderr


def test_show_filters_unreadable_replies_with_the_reply_and_the_rule(tmp_path: Path) -> None:
    run = _a1(tmp_path, tmp_path / "runs")
    everything = run_cli("show", str(run))
    assert everything.returncode == 0, everything.stderr
    assert "9 samples" in everything.stdout
    shown = run_cli("show", str(run), "--unreadable")
    assert "3 unreadable samples" in shown.stdout
    lines = [line for line in shown.stdout.splitlines() if "reply:" in line]
    assert len(lines) == 3
    assert all("(unreadable)" in line and "Well, it depends on the light." in line for line in lines)
    failed = run_cli("show", str(run), "--failed")
    assert "0 failed samples" in failed.stdout


def test_show_one_sample_whole_and_an_unknown_one(tmp_path: Path) -> None:
    run = _a1(tmp_path, tmp_path / "runs")
    first_id = json.loads((run / "records.jsonl").read_text().splitlines()[0])["id"]
    one = run_cli("show", str(run), "--sample", first_id)
    assert one.returncode == 0, one.stderr
    body = one.stdout[one.stdout.index("{") :]
    assert json.loads(body)["id"] == first_id
    missing = run_cli("show", str(run), "--sample", "no-such-id")
    assert missing.returncode == 2 and "no sample 'no-such-id'" in missing.stderr


def test_show_lists_failed_samples_with_their_error(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=4)
    (tmp_path / "data" / "img_001.png").unlink()
    out = tmp_path / "runs"
    result = run_cli("run", "a3", "--model", "random", "--data", str(data), "--out", str(out))
    assert result.returncode != 0
    (manifest,) = out.rglob("manifest.json")
    shown = run_cli("show", str(manifest.parent), "--failed")
    assert shown.returncode == 0, shown.stderr
    assert "1 failed samples" in shown.stdout and "img_001.png: FAILED" in shown.stdout
    assert "status incomplete" in shown.stdout
