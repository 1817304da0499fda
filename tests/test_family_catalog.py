"""``qbench data get`` for A-Bench and Q-Bench-Video against a fake Hub (``HF_ENDPOINT``): the pinned revisions
(A-Bench's ``Abench.json`` at ``refs/pr/2``, Q-Bench-Video at commit 55478cc), the archives unpacked and laid
out as the lists name their files, and the ``--data`` names working afterwards (real CLI subprocesses)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from fake_data_server import FakeDataServer
from test_data_catalog import Env, sha

VIDEO_REV = "55478cc2d304bda2c7337b6409de9b2d0ef42afd"


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def env(tmp_path: Path):
    with FakeDataServer() as server:
        yield Env(tmp_path, server)


def test_get_qbench_video_from_the_pinned_hub_commit(env: Env, tmp_path: Path) -> None:
    pytest.importorskip("av")
    from family_data import qbench_video_json

    release = qbench_video_json(tmp_path / "release")
    videos = {f"video/{p.name}": p.read_bytes() for p in sorted((tmp_path / "release" / "video").iterdir())}
    repo = "zhangzicheng/Q-Bench-Video"
    env.server.hub(repo, "Q_Bench_Video_dev.json", release.read_bytes(), revision=VIDEO_REV)
    env.server.hub(repo, "Q_Bench_Video_test.json", release.read_bytes(), revision=VIDEO_REV)
    env.server.hub(repo, "video.zip", zipped(videos), revision=VIDEO_REV)
    result = env.cli("data", "get", "qbench-video", "--accept-terms")
    assert result.returncode == 0, result.stderr
    folder = env.home / "qbench-video"
    for name, data in videos.items():
        assert (folder / "images" / name.split("/")[-1]).read_bytes() == data
    assert all(f"/resolve/{VIDEO_REV}/" in p for p in env.server.paths_requested() if "/resolve/" in p)
    check = env.cli("validate", "--data", "qbench-video-dev")
    assert check.returncode == 0 and "5 items" in check.stdout, check.stderr


def test_get_abench_reads_the_json_of_refs_pr_2_and_checks_the_zip(env: Env, tmp_path: Path) -> None:
    from family_data import abench_json

    listing = abench_json(tmp_path / "release", answers=False)
    images = {f"imgs/{p.name}": p.read_bytes() for p in sorted((tmp_path / "release").glob("*.png"))}
    archive = zipped(images)
    env.server.hub("q-future/A-Bench", "Abench.json", listing.read_bytes(), revision="refs/pr/2")
    env.server.hub("q-future/A-Bench", "imgs.zip", archive)
    refused = env.cli("data", "get", "abench", "--accept-terms")
    assert refused.returncode == 2 and "imgs.zip" in refused.stderr  # not the recorded sha256: refused
    assert not (env.home / "abench").exists()
    env.override(
        f"""
[datasets.abench]
sources = [ {{ name = "hub", hf_repo = "q-future/A-Bench", file = "imgs.zip", sha256 = "{sha(archive)}" }} ]
"""
    )
    result = env.cli("data", "get", "abench", "--accept-terms")
    assert result.returncode == 0, result.stderr
    assert "/datasets/q-future/A-Bench/resolve/refs/pr/2/Abench.json" in env.server.paths_requested()
    check = env.cli("validate", "--data", "abench-test", "--split", "test")
    assert check.returncode == 0 and f"{len(json.loads(listing.read_text()))} items" in check.stdout, (
        check.stderr
    )
