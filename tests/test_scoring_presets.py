"""Presets: split lists installed through ``qbench data`` (fake GitHub and Hub on 127.0.0.1) with their hashes,
selection by image name, the built-in hashes enforced, and Q-Align's pad-to-square."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image

from fake_data_server import FakeDataServer
from helpers import run_cli
from qbench.catalog.registry import load_catalog
from qbench.errors import DataError, UsageError
from qbench.scoring.presets import (
    CLIP_MEAN_RGB,
    PRESETS,
    get_preset,
    list_names,
    load_selection,
    pad_to_square,
)

QALIGN_RAW = "https://raw.githubusercontent.com/Q-Future/Q-Align/14dfdffb3b970c0727d48938b8f3741a65acbd6e/playground/data/test_jsons"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Env:
    def __init__(self, tmp: Path, server: FakeDataServer) -> None:
        self.tmp, self.server = tmp, server
        self.home = tmp / "home"
        self.sources = tmp / "sources.toml"
        self.mirrors = f'[mirrors]\n"https://raw.githubusercontent.com/" = "{server.url}/files/gh/"\n'
        self.sources.write_text(self.mirrors)
        self.env = {
            "QBENCH_DATA_DIR": str(self.home),
            "QBENCH_SOURCES": str(self.sources),
            "HF_ENDPOINT": server.url,
            "HF_HUB_OFFLINE": "0",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def cli(self, *args: str) -> object:
        return run_cli(*args, env=self.env, cwd=self.tmp, timeout=120)


@pytest.fixture
def env(tmp_path: Path):
    with FakeDataServer() as server:
        yield Env(tmp_path, server)


def qalign_lists() -> dict[str, bytes]:
    """Small lists in Q-Align's real shapes: ``image`` + ``id`` (KonIQ/SPAQ/KADID), ``img_path`` (LIVE-itw, AGI)."""
    koniq = [
        {"id": f"{n}->{s}", "image": f"koniq/{n}", "gt_score": s}
        for n, s in [("1.jpg", 60.0), ("2.jpg", 41.5)]
    ]
    kadid = [{"id": "I66_01_01.png->4.63", "image": "kadid10k/I66_01_01.png"}]
    livec = [{"img_path": "livec/t1.bmp", "gt_score": 63.9}, {"img_path": "livec/100.bmp", "gt_score": 20.0}]
    return {
        "test_koniq.json": json.dumps(koniq).encode(),
        "test_spaq.json": json.dumps([{"image": "spaq/00001.jpg", "gt_score": 50.0}]).encode(),
        "test_kadid.json": json.dumps(kadid).encode(),
        "livec.json": json.dumps(livec).encode(),
        "agi.json": json.dumps([{"img_path": "agi-cgi/AttnGAN_normal_000.jpg", "gt_score": 1.0}]).encode(),
    }


def serve_qalign(env: Env, lists: dict[str, bytes], *, override_hashes: bool = True) -> None:
    for name, data in lists.items():
        env.server.put(f"gh/{QALIGN_RAW.split('.com/', 1)[1]}/{name}", data)
    if override_hashes:
        files = ",\n".join(
            f'  {{ name = "{n}", url = "{QALIGN_RAW}/{n}", sha256 = "{sha(d)}" }}' for n, d in lists.items()
        )
        env.sources.write_text(env.mirrors + f"\n[datasets.qalign-splits]\nfiles = [\n{files}\n]\n")


def test_every_preset_names_catalog_lists_and_known_databases() -> None:
    catalog = load_catalog()
    from qbench.data.databases import find_database

    for preset in PRESETS.values():
        assert preset.databases, preset.name
        for database in preset.databases:
            assert find_database(database) is not None, (preset.name, database)
        for split in preset.lists:
            entry = catalog.entry(split.dataset)
            assert split.file in {f.name for f in entry.files}, (preset.name, split)
            assert split.database in preset.databases
    assert PRESETS["deqa"].fit == "logistic4-deqa" and PRESETS["qbench"].fit == "none"
    assert (
        PRESETS["q-align"].pad_rgb
        == CLIP_MEAN_RGB
        == tuple(int(x * 255) for x in (0.48145466, 0.4578275, 0.40821073))
    )
    # the built-in Q-Align hashes are real sha256 values, not placeholders
    qalign = catalog.entry("qalign-splits")
    assert all(len(f.sha256) == 64 and len(f.git_sha1) == 40 for f in qalign.files)
    with pytest.raises(UsageError, match="no preset 'qalign'"):
        get_preset("qalign")


def test_split_lists_install_through_qbench_data_and_select_by_name(env: Env) -> None:
    lists = qalign_lists()
    serve_qalign(env, lists)
    result = env.cli("data", "get", "qalign-splits")
    assert result.returncode == 0, result.stderr
    preset = get_preset("q-align")
    koniq = load_selection(preset, "koniq", env.home)
    assert koniq is not None and koniq.names == {"1.jpg", "2.jpg"}
    assert koniq.sha256 == sha(lists["test_koniq.json"]) and koniq.check.startswith("known")
    kadid = load_selection(preset, "kadid", env.home)
    assert kadid is not None and kadid.names == {"I66_01_01.png"}
    livec = load_selection(preset, "livec", env.home)
    assert livec is not None and livec.names == {"t1.bmp", "100.bmp"}
    assert load_selection(preset, "cgi", env.home) is None  # not covered: full set
    described = koniq.describe(kept=2, missing=0)
    assert (
        described["listed"] == 2
        and described["file"] == "test_koniq.json"
        and described["sha256"] == koniq.sha256
    )


def test_built_in_hashes_refuse_a_different_list(env: Env) -> None:
    serve_qalign(env, qalign_lists(), override_hashes=False)  # our small files are not Q-Align's real ones
    result = env.cli("data", "get", "qalign-splits")
    assert result.returncode == 2
    assert "test_koniq.json" in result.stderr and "Traceback" not in result.stderr
    assert not (env.home / "qalign-splits" / "install.json").exists()


def test_a_missing_list_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_selection(get_preset("deqa"), "koniq", tmp_path)
    assert info.value.hint == "qbench data get deqa-splits"


def test_list_names_reads_every_published_shape_and_rejects_junk() -> None:
    items = [
        {"image": "koniq/1.jpg"},
        {"img_path": "agi-cgi\\AttnGAN_normal_000.jpg"},
        {"id": "I01_01_01.png->4.2"},
        "plain/name.bmp",
    ]
    assert list_names(items, "x") == {"1.jpg", "AttnGAN_normal_000.jpg", "I01_01_01.png", "name.bmp"}
    with pytest.raises(DataError, match="item 1 has no image name"):
        list_names([{"image": "a.jpg"}, {"score": 3}], "x")
    with pytest.raises(DataError, match="empty"):
        list_names([], "x")


def test_pad_to_square_is_q_aligns_expand2square() -> None:
    wide = Image.new("RGB", (6, 2), (255, 0, 0))
    out = pad_to_square(wide, CLIP_MEAN_RGB)
    assert out.size == (6, 6)
    assert out.getpixel((0, 0)) == CLIP_MEAN_RGB and out.getpixel((0, 2)) == (255, 0, 0)  # pasted at (0, 2)
    assert out.getpixel((0, 4)) == CLIP_MEAN_RGB
    tall = Image.new("L", (3, 8), 200)
    out = pad_to_square(tall, CLIP_MEAN_RGB)
    assert out.mode == "RGB" and out.size == (8, 8)
    assert (
        out.getpixel((2, 0)) == (200, 200, 200) and out.getpixel((1, 0)) == CLIP_MEAN_RGB
    )  # x offset (8-3)//2
    square = Image.new("RGB", (4, 4))
    assert pad_to_square(square, CLIP_MEAN_RGB) is square
