"""`qbench data`: catalog, downloads (fake Hub + archive server on 127.0.0.1), add, partial installs, names, suites.

Every download goes to a real HTTP server on 127.0.0.1 (tests/fake_data_server.py), reached the way a user
reaches a mirror: ``HF_ENDPOINT`` for the Hub, a sources file's ``[mirrors]`` for other hosts.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import shared_data
from fake_data_server import FakeDataServer
from helpers import natural_image, run_cli
from qbench.catalog.registry import load_catalog
from qbench.errors import DataError

GH = "https://raw.githubusercontent.com/Q-Future/Q-Bench/f19783ea1890212794ab220c90c7f71342a6289b/a3_iqa_databases/jsons"
HUB_REPO = "chaofengc/IQA-PyTorch-Datasets"


def png(seed: int, size: tuple[int, int] = (192, 112)) -> bytes:
    buffer = io.BytesIO()
    natural_image(seed, size).save(buffer, format="PNG")
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def mos(names: list[str]) -> bytes:
    return json.dumps(
        [{"img_path": n, "gt_score": f"{1 + i * 0.37:.2f} "} for i, n in enumerate(names)]
    ).encode()


class Env:
    """A fresh data home, a sources file, and the fake servers, for CLI subprocesses."""

    def __init__(self, tmp: Path, server: FakeDataServer) -> None:
        self.tmp, self.server = tmp, server
        self.home = tmp / "home"
        self.sources = tmp / "sources.toml"
        self.sources.write_text(self.mirrors())
        self.env = {
            "QBENCH_DATA_DIR": str(self.home),
            "QBENCH_SOURCES": str(self.sources),
            "HF_ENDPOINT": server.url,
            "HF_HUB_OFFLINE": "0",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def mirrors(self) -> str:
        return (
            "[mirrors]\n"
            f'"https://raw.githubusercontent.com/" = "{self.server.url}/files/gh/"\n'
            f'"https://datasets.vqa.mmsp-kn.de/" = "{self.server.url}/files/mmsp/"\n'
        )

    def override(self, text: str) -> None:
        self.sources.write_text(self.mirrors() + text)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, cwd=self.tmp, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path):
    with FakeDataServer() as server:
        yield Env(tmp_path, server)


def serve_livec(env: Env, *, archive_sha: str | None = None) -> dict[str, bytes]:
    """A small LIVE-itw: its MOS file on the GitHub mirror, its images in the pyiqa tgz on the fake Hub.

    The tgz wraps the images as the real one is expected to (``LIVEC/Images/``) and keeps the training images
    in ``Images/trainingImages/`` (where some copies hold t1-t7).
    """
    names = ["t1.bmp", "t2.bmp", "100.bmp", "533.JPG", "1002.bmp"]
    images = {n: png(i) for i, n in enumerate(names)}
    members = {
        (f"LIVEC/Images/trainingImages/{n}" if n.startswith("t") else f"LIVEC/Images/{n}"): data
        for n, data in images.items()
    }
    members["LIVEC/Data/AllMOS_release.mat"] = b"not an image"
    archive = tgz(members)
    listing = mos(names)
    digest = archive_sha or sha(archive)
    env.server.put(
        "gh/Q-Future/Q-Bench/f19783ea1890212794ab220c90c7f71342a6289b/a3_iqa_databases/jsons/livec.json",
        listing,
    )
    env.server.hub(HUB_REPO, "live_challenge.tgz", archive)
    env.override(
        f'''
[datasets.livec]
files = [ {{ name = "livec.json", url = "{GH}/livec.json", sha256 = "{sha(listing)}" }} ]
sources = [ {{ name = "pyiqa", hf_repo = "{HUB_REPO}", file = "live_challenge.tgz", sha256 = "{digest}" }} ]
'''
    )
    return images


# -- the catalog ---------------------------------------------------------------------------------------------
def test_data_list_on_a_fresh_home_names_every_dataset_with_sources_and_status(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    result = run_cli("data", "list", "--json", env={"QBENCH_DATA_DIR": str(home)})
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    expected = {"llvisionqa", "qbench-hf", "qbench2-hf", "qbench2", "lldescribe"}
    expected |= {"koniq", "spaq", "flive", "livec", "cgi", "agi", "kadid"}
    assert expected <= set(rows)
    for row in rows.values():
        assert row["status"] == "missing"
        assert row["sources"], row["name"]
        assert row["path"].startswith(str(home))
    assert rows["llvisionqa"]["data_names"] == ["llvisionqa-dev", "llvisionqa-test"]
    assert any(
        "nanyangtu/LLVisionQA-QBench/images_llvisionqa.tar" in s for s in rows["llvisionqa"]["sources"]
    )
    assert rows["spaq"]["install"] == "qbench data add spaq --from DIR_OR_ARCHIVE"
    assert rows["koniq"]["install"] == "qbench data get koniq"
    assert not home.exists() or not any(home.iterdir())  # listing creates nothing
    table = run_cli("data", "list", env={"QBENCH_DATA_DIR": str(home)})
    assert table.returncode == 0
    for name in expected:
        assert name in table.stdout


def test_a_user_sources_file_adds_overrides_and_mirrors(tmp_path: Path) -> None:
    user = tmp_path / "mine.toml"
    user.write_text(
        '[mirrors]\n"https://raw.githubusercontent.com/" = "https://mirror.lab/gh/"\n'
        '[datasets.koniq]\nsize = "ours"\n'
        '[datasets.labset]\ntitle = "a lab set"\ntask = "a3"\nviews.labset = { list = "l.json", format = "mos-json" }\n'
        'sources = [ { name = "nas", url = "https://nas.lab/labset.zip" } ]\n'
    )
    catalog = load_catalog(user)
    assert catalog.entries["koniq"].size == "ours"
    assert catalog.entries["koniq"].files[0].sha256  # untouched fields stay
    assert catalog.entries["labset"].sources[0].url == "https://nas.lab/labset.zip"
    assert catalog.mirrored(f"{GH}/koniq.json").startswith("https://mirror.lab/gh/Q-Future/")
    assert catalog.view("labset")[1].list == "l.json"
    listed = run_cli("data", "--sources", str(user), "list", "--json", env={"QBENCH_DATA_DIR": str(tmp_path)})
    assert listed.returncode == 0, listed.stderr
    labset = next(r for r in json.loads(listed.stdout) if r["name"] == "labset")
    assert labset["sources"] == ["nas: https://nas.lab/labset.zip"] and labset["status"] == "missing"
    user.write_text("[datasets.koniq]\nsorces = []\n")
    with pytest.raises(DataError, match=r"unknown keys \['sorces'\]"):
        load_catalog(user)
    user.write_text('[datasets.koniq]\nfiles = [ { name = "k.json", colour = "red" } ]\n')
    with pytest.raises(DataError, match=r"unknown keys \['colour'\]"):
        load_catalog(user)


# -- get -----------------------------------------------------------------------------------------------------
def test_get_from_the_hub_lays_out_checks_and_is_idempotent(env: Env) -> None:
    images = serve_livec(env)
    refused = env.cli("data", "get", "livec")
    assert refused.returncode == 2
    assert "terms" in refused.stderr and "--accept-terms" in refused.stderr
    assert not (env.home / "livec").exists()

    result = env.cli("data", "get", "livec", "--accept-terms")
    assert result.returncode == 0, result.stderr
    assert "livec: verified" in result.stdout
    folder = env.home / "livec"
    for name, data in images.items():
        assert (folder / "images" / name).read_bytes() == data  # t1/t2 found in trainingImages/
    record = json.loads((folder / "install.json").read_text())
    assert record["found"] == record["total"] == 5
    assert [c["check"] for c in record["files"] + record["archives"]] == ["known sha256", "known sha256"]
    assert "LIVE" in record["terms_accepted"]
    assert not list((env.home / ".downloads").rglob("*.tgz"))  # our download is removed once unpacked
    assert not list(env.home.glob(".staging-*"))

    before = len(env.server.requests)
    again = env.cli("data", "get", "livec", "--accept-terms")
    assert again.returncode == 0 and len(env.server.requests) == before  # nothing fetched again

    # the name now works everywhere --data does
    check = env.cli("validate", "--data", "livec")
    assert check.returncode == 0, check.stderr
    assert "5 items" in check.stdout


def test_a_download_killed_midway_resumes_with_a_range_request(env: Env) -> None:
    serve_livec(env)
    big = {f"LIVEC/Images/{i}.bmp": os.urandom(200_000) for i in range(1000, 1010)}
    names = ["t1.bmp", *[f"{i}.bmp" for i in range(1000, 1010)]]
    members = {"LIVEC/Images/t1.bmp": png(1), **big}
    archive = tgz(members)
    listing = mos(names)
    env.server.put(
        "gh/Q-Future/Q-Bench/f19783ea1890212794ab220c90c7f71342a6289b/a3_iqa_databases/jsons/livec.json",
        listing,
    )
    env.server.hub(HUB_REPO, "live_challenge.tgz", archive)
    env.override(
        f'''
[datasets.livec]
terms = ""
files = [ {{ name = "livec.json", url = "{GH}/livec.json", sha256 = "{sha(listing)}" }} ]
sources = [ {{ name = "pyiqa", hf_repo = "{HUB_REPO}", file = "live_challenge.tgz", sha256 = "{sha(archive)}" }} ]
'''
    )
    env.server.chunk, env.server.throttle = 16 * 1024, 0.05
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbench", "data", "get", "livec"],
        env={**os.environ, **env.env},
        cwd=env.tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    part = env.home / ".downloads" / "livec" / "pyiqa-live_challenge.tgz.part"
    deadline = time.time() + 60
    while time.time() < deadline and not (part.exists() and part.stat().st_size > 100_000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    kept = part.stat().st_size
    assert 100_000 < kept < len(archive)
    assert not (env.home / "livec").exists()  # nothing half-installed

    env.server.throttle = 0.0
    result = env.cli("data", "get", "livec")
    assert result.returncode == 0, result.stderr
    ranges = [r for p, r in env.server.requests if p.endswith("live_challenge.tgz")]
    assert ranges[-1] == f"bytes={kept}-"
    assert json.loads((env.home / "livec" / "install.json").read_text())["archives"][0]["sha256"] == sha(
        archive
    )
    assert (env.home / "livec" / "images" / "1005.bmp").read_bytes() == big["LIVEC/Images/1005.bmp"]


def test_a_dropped_connection_is_resumed_within_the_same_run(tmp_path: Path, monkeypatch) -> None:
    from qbench.catalog.download import Target, fetch

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    data = os.urandom(300_000)
    with FakeDataServer() as server:
        url = server.put("mmsp/archives/x.zip", data)
        server.cut_after["/files/mmsp/archives/x.zip"] = 120_000  # the first response stops there
        checked = fetch(Target(url, {}, sha256=sha(data), label="x.zip"), tmp_path / "x.zip", progress=False)
    assert (tmp_path / "x.zip").read_bytes() == data and checked.check == "known sha256"
    assert [r for _, r in server.requests] == [None, "bytes=120000-"]
    assert not (tmp_path / "x.zip.part").exists()


def test_a_checksum_mismatch_installs_nothing_and_keeps_the_previous_install(env: Env) -> None:
    serve_livec(env)
    assert env.cli("data", "get", "livec", "--accept-terms").returncode == 0
    before = (env.home / "livec" / "install.json").read_text()
    serve_livec(env, archive_sha="0" * 64)
    result = env.cli("data", "get", "livec", "--accept-terms", "--force")
    assert result.returncode == 2
    assert "checksum mismatch" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (env.home / "livec" / "install.json").read_text() == before  # the good install is untouched
    assert not list((env.home / ".downloads").rglob("*.part")) and not list(
        (env.home / ".downloads").rglob("*.tgz")
    )
    assert not list(env.home.glob(".staging-*")) and not list(env.home.glob(".old-*"))


def test_an_unknown_checksum_is_computed_recorded_and_said(env: Env) -> None:
    images = {f"I{i:02d}_01_01.png": png(i) for i in range(1, 4)}
    archive = zipped({f"kadid10k/images/{n}": d for n, d in images.items()} | {"kadid10k/dmos.csv": b"x"})
    listing = mos(list(images))
    env.server.put(
        "gh/Q-Future/Q-Bench/f19783ea1890212794ab220c90c7f71342a6289b/a3_iqa_databases/jsons/kadid.json",
        listing,
    )
    env.server.put("mmsp/archives/kadid10k.zip", archive)
    env.override(
        f'[datasets.kadid]\nfiles = [ {{ name = "kadid.json", url = "{GH}/kadid.json", sha256 = "{sha(listing)}" }} ]\n'
    )
    result = env.cli("data", "get", "kadid")  # the built-in official URL (no recorded sha256), via the mirror
    assert result.returncode == 0, result.stderr
    assert "no recorded checksum" in result.stderr + result.stdout
    assert "kadid: ready" in result.stdout  # not "verified": nothing to verify the archive against
    record = json.loads((env.home / "kadid" / "install.json").read_text())
    assert record["archives"][0] == {
        "name": "official-kadid10k.zip",
        "sha256": sha(archive),
        "check": "computed (no recorded hash)",
        "origin": "https://datasets.vqa.mmsp-kn.de/archives/kadid10k.zip",
    }


def test_a_manual_only_dataset_says_how_to_get_it(env: Env) -> None:
    result = env.cli("data", "get", "cgi")
    assert result.returncode == 2
    assert "qbench data add cgi --from DIR_OR_ARCHIVE" in result.stderr
    assert "https://github.com/zzc-1998/CGIQA6K" in result.stderr


# -- add -----------------------------------------------------------------------------------------------------
def _agi(env: Env) -> tuple[dict[str, bytes], bytes]:
    images = {
        n: png(i)
        for i, n in enumerate(["AttnGAN_normal_000.jpg", "glide_normal_001.jpg", "sd1.5_normal_002.jpg"])
    }
    listing = mos(list(images))
    env.override(
        f'[datasets.agi]\nfiles = [ {{ name = "agi.json", url = "{GH}/agi.json", sha256 = "{sha(listing)}" }} ]\n'
    )
    return images, listing


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_add_finds_images_in_a_wrapped_folder_offline_and_never_touches_it(env: Env) -> None:
    images, listing = _agi(env)
    user = env.tmp / "Downloads" / "AGIQA-3K-main" / "AGIQA-3K" / "database"
    user.mkdir(parents=True)
    for name, data in images.items():
        (user / name).write_bytes(data)
    (user.parent / "agi.json").write_bytes(listing)  # the official MOS file beside the images
    (user.parent / "readme.txt").write_text("hello")
    before = _snapshot(env.tmp / "Downloads")
    offline = {**env.env, "HF_ENDPOINT": "http://127.0.0.1:9", "QBENCH_SOURCES": str(env.sources)}
    result = run_cli("data", "add", "agi", "--from", str(env.tmp / "Downloads"), env=offline, cwd=env.tmp)
    assert result.returncode == 0, result.stderr
    assert "agi: ready" in result.stdout
    assert env.server.requests == []  # offline: the MOS file came from the folder
    linked = env.home / "agi" / "images" / "glide_normal_001.jpg"
    assert linked.is_symlink() and linked.read_bytes() == images["glide_normal_001.jpg"]
    assert _snapshot(env.tmp / "Downloads") == before
    copy = env.cli("data", "add", "agi", "--from", str(env.tmp / "Downloads"), "--copy")
    assert copy.returncode == 0
    assert not linked.is_symlink() and linked.read_bytes() == images["glide_normal_001.jpg"]
    assert _snapshot(env.tmp / "Downloads") == before


def test_add_from_an_archive_unpacks_a_copy_and_leaves_the_archive(env: Env) -> None:
    images = {f"game_{i:04d}.jpg": png(i) for i in range(3)} | {
        f"movie_{i:04d}.jpg": png(10 + i) for i in range(2)
    }
    listing = mos(list(images))
    env.override(
        f'[datasets.cgi]\nfiles = [ {{ name = "cgi.json", url = "{GH}/cgi.json", sha256 = "{sha(listing)}" }} ]\n'
    )
    archive = env.tmp / "CGIQA-6K.zip"
    archive.write_bytes(zipped({f"CGIQA-6K/database/{n}": d for n, d in images.items()}))
    before = archive.read_bytes()
    mos_file = env.tmp / "cgi.json"
    mos_file.write_bytes(listing)
    result = env.cli("data", "add", "cgi", "--from", str(archive), "--mos", str(mos_file))
    assert result.returncode == 0, result.stderr
    assert archive.read_bytes() == before
    placed = env.home / "cgi" / "images" / "movie_0001.jpg"
    assert not placed.is_symlink() and placed.read_bytes() == images["movie_0001.jpg"]
    record = json.loads((env.home / "cgi" / "install.json").read_text())
    assert record["archives"][0]["check"].startswith("computed")  # not a known download: ready, not verified
    mos_file.write_bytes(listing.replace(b"1.00", b"1.01"))
    wrong = env.cli("data", "add", "cgi", "--from", str(archive), "--mos", str(mos_file))
    assert wrong.returncode == 2 and "checksum mismatch" in wrong.stderr


@pytest.mark.parametrize(
    "member",
    ["../escaped.jpg", "/tmp/escaped-abs.jpg", "a/../../escaped.jpg", "..\\escaped.jpg"],
)
def test_an_archive_member_escaping_the_target_is_refused(env: Env, member: str) -> None:
    _agi(env)
    for kind, build in (("tgz", tgz), ("zip", zipped)):
        archive = env.tmp / f"evil.{kind}"
        archive.write_bytes(build({"database/AttnGAN_normal_000.jpg": png(0), member: b"owned"}))
        result = env.cli("data", "add", "agi", "--from", str(archive), "--partial")
        assert result.returncode == 2, (kind, result.stderr)
        assert "outside the target folder" in result.stderr
        assert not (env.home / "agi").exists()
        assert not list(env.tmp.rglob("escaped*")) and not Path("/tmp/escaped-abs.jpg").exists()
        assert not list(env.home.glob(".staging-*"))


def test_a_link_in_a_tar_that_points_outside_is_refused(tmp_path: Path) -> None:
    from qbench.catalog.unpack import unpack
    from qbench.errors import DataError

    for linkname, kind in (
        ("/etc/passwd", tarfile.SYMTYPE),
        ("../../outside", tarfile.SYMTYPE),
        ("../x", tarfile.LNKTYPE),
    ):
        archive = tmp_path / "links.tar"
        with tarfile.open(archive, "w") as tf:
            info = tarfile.TarInfo("images/a.jpg")
            info.type, info.linkname = kind, linkname
            tf.addfile(info)
        with pytest.raises(DataError, match="outside the target folder"):
            unpack(archive, tmp_path / "out")
    inside = tmp_path / "ok.tar"
    with tarfile.open(inside, "w") as tf:
        data = b"img"
        info = tarfile.TarInfo("images/real.jpg")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("images/alias.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "real.jpg"
        tf.addfile(link)
    unpack(inside, tmp_path / "ok")
    assert (tmp_path / "ok" / "images" / "alias.jpg").is_symlink()
    assert (tmp_path / "ok" / "images" / "alias.jpg").read_bytes() == b"img"


def test_an_incomplete_copy_is_refused_unless_partial_and_then_runs_say_partial(env: Env) -> None:
    images, listing = _agi(env)
    user = env.tmp / "some"
    user.mkdir()
    (user / "AttnGAN_normal_000.jpg").write_bytes(images["AttnGAN_normal_000.jpg"])
    (user / "sd1.5_normal_002.jpg").write_bytes(images["sd1.5_normal_002.jpg"])
    (user / "agi.json").write_bytes(listing)
    refused = env.cli("data", "add", "agi", "--from", str(user))
    assert refused.returncode == 2 and "2 of 3 images" in refused.stderr and "--partial" in refused.stderr
    assert not (env.home / "agi").exists()
    ok = env.cli("data", "add", "agi", "--from", str(user), "--partial")
    assert ok.returncode == 0 and "agi: partial 2/3" in ok.stdout
    listed = {r["name"]: r for r in json.loads(env.cli("data", "list", "--json").stdout)}
    assert listed["agi"]["status"] == "partial 2/3"
    run = env.cli("run", "a3", "--model", "niqe", "--data", "agi", "--out", str(env.tmp / "runs"))
    assert run.returncode == 0, run.stderr
    assert "2 of 3" in " ".join(run.stdout.split())
    manifest = json.loads(next((env.tmp / "runs").rglob("manifest.json")).read_text())
    assert manifest["dataset_info"]["partial"] == {"n": 2, "of": 3}
    report = env.cli("report", str(env.tmp / "runs"), "--format", "json")
    assert json.loads(report.stdout)[0]["partial"] == {"n": 2, "of": 3}
    assert "AGIQA-3K (partial 2/3)" in env.cli("report", str(env.tmp / "runs"), "--format", "md").stdout
    html = env.tmp / "report.html"
    assert env.cli("report", str(env.tmp / "runs"), "--format", "html", "-o", str(html)).returncode == 0
    text = html.read_text()
    assert "AGIQA-3K (partial 2/3)" in text and "partial: AGIQA-3K 2 of 3 items" in text


def test_a_second_process_waits_for_the_lock(env: Env) -> None:
    from filelock import FileLock

    images, listing = _agi(env)
    user = env.tmp / "all"
    user.mkdir()
    for name, data in images.items():
        (user / name).write_bytes(data)
    (user / "agi.json").write_bytes(listing)
    (env.home / ".locks").mkdir(parents=True)
    lock = FileLock(str(env.home / ".locks" / "agi.lock"))
    with lock:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qbench", "data", "add", "agi", "--from", str(user)],
            env={**os.environ, **env.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen = ""
        deadline = time.time() + 60
        while "waiting" not in seen and time.time() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if ready:
                seen += proc.stderr.readline()
        assert "waiting" in seen, seen  # it reached the lock and waits (logs go to stderr)
        time.sleep(0.5)
        assert proc.poll() is None and not (env.home / "agi").exists()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (env.home / "agi" / "install.json").exists()


# -- names and suites ----------------------------------------------------------------------------------------
def test_a_missing_dataset_answers_with_the_command_in_one_line(env: Env) -> None:
    result = env.cli("run", "a3", "--model", "niqe", "--data", "spaq")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "qbench data add spaq --from DIR_OR_ARCHIVE" in lines[0]
    other = env.cli("validate", "--data", "llvisionqa-dev")
    assert other.returncode == 2 and "qbench data get llvisionqa" in other.stderr


def test_names_resolve_for_a1_pair_releases_with_backslash_paths(env: Env) -> None:
    singles = {n: png(i) for i, n in enumerate(["00079.jpg", "09769.jpg", "00100.jpg"])}
    items = [
        {
            "img_path": "llvisionqa_compare_dev\\00079.jpg_cat_09769.jpg.jpg",
            "question": "Which is sharper?",
            "candidates": ["The first", "The second"],
            "correct_ans": "The first",
            "type": 0,
            "concern": 0,
        },
        {
            "img_path": "llvisionqa_compare_dev\\00100.jpg_cat_00079.jpg.jpg",
            "question": "Which is darker?",
            "candidates": ["The first", "The second"],
            "correct_ans": "The second",
            "type": 1,
            "concern": 1,
        },
    ]
    dev = "\n".join(json.dumps(i) for i in items).encode()
    archive = zipped({f"all_single_images/{n}": d for n, d in singles.items()})
    repo = "q-future/q-bench2"
    env.server.hub(repo, "q-bench2-a1-dev.jsonl", dev)
    env.server.hub(repo, "q-bench2-a1-test.jsonl", dev)
    env.server.hub(
        repo, "q-bench2-a2.jsonl", b'{"img_path": "lldescribe_compare\\\\00079.jpg_cat_09769.jpg.jpg"}\n'
    )
    env.server.hub(repo, "all_single_images.zip", archive)
    result = env.cli("data", "get", "qbench2")
    assert result.returncode == 0, result.stderr
    assert "3 of 3 images" in result.stdout
    check = env.cli("validate", "--data", "qbench2-dev")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "2 items" in check.stdout


def test_a_suite_runs_what_is_installed_lists_the_rest_and_prints_one_table(env: Env) -> None:
    serve_livec(env)
    assert env.cli("data", "get", "livec", "--accept-terms").returncode == 0
    images, listing = _agi(env)
    user = env.tmp / "agi-copy"
    user.mkdir()
    for name, data in images.items():
        (user / name).write_bytes(data)
    (user / "agi.json").write_bytes(listing)
    assert env.cli("data", "add", "agi", "--from", str(user)).returncode == 0
    result = env.cli(
        "run", "a3", "--model", "niqe", "--data", "livec,agi,spaq", "--out", str(env.tmp / "runs")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("A3 assessment") == 1
    header = next(line for line in result.stdout.splitlines() if "LIVE-itw" in line)
    assert header.index("LIVE-itw") < header.index("AGIQA-3K") < header.index("Average")
    assert "missing: a3 spaq (install it: qbench data add spaq --from DIR_OR_ARCHIVE)" in result.stderr
    suite = env.cli("run", "a3", "--model", "niqe", "--data", "qbench-a3", "--out", str(env.tmp / "runs"))
    assert suite.returncode == 0, suite.stderr
    for name in ("koniq", "spaq", "flive", "cgi", "kadid"):
        assert f"missing: a3 {name}" in suite.stderr
    assert "from cache" not in suite.stderr


def test_bench_runs_the_installed_parts_and_lists_the_missing(env: Env) -> None:
    images, listing = _agi(env)
    user = env.tmp / "agi-copy"
    user.mkdir()
    for name, data in images.items():
        (user / name).write_bytes(data)
    (user / "agi.json").write_bytes(listing)
    assert env.cli("data", "add", "agi", "--from", str(user)).returncode == 0
    result = env.cli("bench", "niqe", "--out", str(env.tmp / "runs"))
    assert result.returncode == 0, result.stderr
    assert "AGIQA-3K" in result.stdout
    assert "missing: A1 single (llvisionqa-dev) (install it: qbench data get llvisionqa)" in result.stderr
    assert "missing: A1 pairs (qbench2-dev) (install it: qbench data get qbench2)" in result.stderr
    assert "missing: A3 spaq" in result.stderr


def test_koniq_partial_from_the_official_mos_file_reports_n_of_10073(env: Env) -> None:
    official = shared_data("iqa-mos", "koniq.json")
    names = [item["img_path"] for item in json.loads(official.read_text())[:3]]
    user = env.tmp / "koniq-subset" / "koniq10k" / "1024x768"
    user.mkdir(parents=True)
    for i, name in enumerate(names):
        natural_image(i, (1024, 768)).save(user / name, quality=90)
    env.sources.write_text("")  # the built-in catalog: the official hash must match
    add = env.cli(
        "data", "add", "koniq", "--from", str(env.tmp / "koniq-subset"), "--partial", "--mos", str(official)
    )
    assert add.returncode == 0, add.stderr
    assert "koniq: partial 3/10073" in add.stdout
    run = env.cli("run", "a3", "--model", "niqe", "--data", "koniq", "--out", str(env.tmp / "runs"))
    assert run.returncode == 0, run.stderr
    assert "3 of 10073" in " ".join(run.stdout.split())


def test_hub_parquet_repos_install_under_their_real_file_names(env: Env, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from test_a1_data import SINGLE_ITEMS, hf_rows, write_hf_folder

    items = (SINGLE_ITEMS * 3)[:6]
    built = write_hf_folder(
        tmp_path / "built",
        {"dev": hf_rows(items, pair=False), "test": hf_rows(items, pair=False, hidden=True)},
    )
    for split in ("dev", "test"):
        table = pq.read_table(built / "data" / f"{split}-00000-of-00001.parquet")
        for shard in range(3):
            buffer = io.BytesIO()
            pq.write_table(table.slice(2 * shard, 2), buffer)
            env.server.hub(
                "q-future/Q-Bench-HF", f"data/{split}-0000{shard}-of-00003.parquet", buffer.getvalue()
            )
    wrong = "/datasets/q-future/Q-Bench-HF/resolve/main/data/test-00001-of-00003.parquet"
    env.server.reported[wrong] = "ab" * 32
    refused = env.cli("data", "get", "qbench-hf", "--accept-terms")
    assert refused.returncode == 2 and "the server reported abab" in refused.stderr
    assert not (env.home / "qbench-hf").exists()
    del env.server.reported[wrong]
    result = env.cli("data", "get", "qbench-hf", "--accept-terms")
    assert result.returncode == 0, result.stderr
    assert "qbench-hf: ready" in result.stdout  # checked against the Hub's hashes only: not "verified"
    record = json.loads((env.home / "qbench-hf" / "install.json").read_text())
    assert {c["check"] for c in record["files"]} == {"hub-reported sha256 (no recorded hash)"}
    check = env.cli("validate", "--data", "qbench-hf-dev")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "6 items" in check.stdout


def test_locate_prefers_the_scored_resolution_and_refuses_the_other(env: Env, tmp_path: Path) -> None:
    from qbench.catalog.install import locate

    names = ["10004473376.jpg", "10007357496.jpg", "10012398043.jpg"]
    both = tmp_path / "both" / "koniq10k"
    for folder in ("512x384", "1024x768"):
        (both / folder).mkdir(parents=True)
        for i, name in enumerate(names):
            (both / folder / name).write_bytes(png(i))
    found, root = locate(tmp_path / "both", names, prefer="1024x768", avoid="512x384")
    assert root == "koniq10k/1024x768" and all(p.parent.name == "1024x768" for p in found.values())
    (both / "1024x768" / names[0]).unlink()  # a missing 1024x768 image is not taken from 512x384
    found, _ = locate(tmp_path / "both", names, prefer="1024x768", avoid="512x384")
    assert names[0] not in found and len(found) == 2

    listing = mos(names)
    env.override(
        f'[datasets.koniq]\nfiles = [ {{ name = "koniq.json", url = "{GH}/koniq.json", sha256 = "{sha(listing)}" }} ]\n'
    )
    small = tmp_path / "small" / "koniq10k" / "512x384"
    small.mkdir(parents=True)
    for i, name in enumerate(names):
        (small / name).write_bytes(png(i))
    (tmp_path / "small" / "koniq.json").write_bytes(listing)
    result = env.cli("data", "add", "koniq", "--from", str(tmp_path / "small"))
    assert result.returncode == 2 and "512x384" in result.stderr and "1024x768" in result.stderr


def test_adding_the_very_archive_a_source_names_counts_as_verified(env: Env) -> None:
    serve_livec(env)
    archive = env.tmp / "live_challenge.tgz"
    archive.write_bytes(env.server.files[f"/datasets/{HUB_REPO}/resolve/main/live_challenge.tgz"])
    listing = env.server.files[
        "/files/gh/Q-Future/Q-Bench/f19783ea1890212794ab220c90c7f71342a6289b/a3_iqa_databases/jsons/livec.json"
    ]
    mos_file = env.tmp / "livec.json"
    mos_file.write_bytes(listing)
    result = env.cli("data", "add", "livec", "--from", str(archive), "--mos", str(mos_file))
    assert result.returncode == 0, result.stderr
    assert "livec: verified" in result.stdout
    assert env.server.requests == []  # offline: nothing fetched
    record = json.loads((env.home / "livec" / "install.json").read_text())
    assert record["archives"][0]["check"] == "known sha256"
    assert record["archives"][0]["origin"] == f"hf:{HUB_REPO}/live_challenge.tgz (same file)"


def test_bench_runs_a1_single_and_pairs_and_a3_and_prints_one_report(env: Env) -> None:
    singles = {f"{i:05d}.jpg": png(i) for i in range(4)}
    questions = [
        {
            "type": i % 3,
            "concern": i % 4,
            "question": f"How is the clarity of image {i}?",
            "img_path": name,
            "candidates": ["Good", "Poor", "Fair"],
            "correct_ans": "Good",
        }
        for i, name in enumerate(singles)
    ]
    tar = tgz({f"images/{n}": d for n, d in singles.items()})
    repo = "nanyangtu/LLVisionQA-QBench"
    env.server.hub(repo, "llvisionqa_dev.json", json.dumps(questions).encode())
    env.server.hub(repo, "llvisionqa_test.json", json.dumps(questions).encode())
    env.server.hub(repo, "images_llvisionqa.tar", tar)
    pair_items = [
        {
            "type": 0,
            "concern": 0,
            "question": "Is the first image sharper?",
            "candidates": ["Yes", "No"],
            "img_path": "llvisionqa_compare_dev\\00000.jpg_cat_00001.jpg.jpg",
            "correct_ans": "Yes",
        },
        {
            "type": 2,
            "concern": 1,
            "question": "How is the second image?",
            "candidates": ["Darker", "Brighter"],
            "img_path": "llvisionqa_compare_dev\\00002.jpg_cat_00003.jpg.jpg",
            "correct_ans": "Darker",
        },
    ]
    pairs = "".join(json.dumps(item) + "\n" for item in pair_items).encode()
    for name in ("q-bench2-a1-dev.jsonl", "q-bench2-a1-test.jsonl", "q-bench2-a2.jsonl"):
        env.server.hub("q-future/q-bench2", name, pairs)
    env.server.hub(
        "q-future/q-bench2",
        "all_single_images.zip",
        zipped({f"all_single_images/{n}": d for n, d in singles.items()}),
    )
    images, listing = _agi(env)
    env.override(
        f'[datasets.llvisionqa]\nsources = [ {{ name = "hub", hf_repo = "{repo}", file = "images_llvisionqa.tar", '
        f'sha256 = "{sha(tar)}" }} ]\n'
        f'[datasets.agi]\nfiles = [ {{ name = "agi.json", url = "{GH}/agi.json", sha256 = "{sha(listing)}" }} ]\n'
    )
    assert env.cli("data", "get", "llvisionqa", "qbench2", "--accept-terms").returncode == 0
    user = env.tmp / "agi-copy"
    user.mkdir()
    for name, data in images.items():
        (user / name).write_bytes(data)
    (user / "agi.json").write_bytes(listing)
    assert env.cli("data", "add", "agi", "--from", str(user)).returncode == 0
    result = env.cli("bench", "random", "--out", str(env.tmp / "runs"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "A1 perception, single images" in out and "A1 perception, image pairs" in out
    assert out.count("A3 assessment") == 1 and "AGIQA-3K" in out
    assert "missing: A3 koniq (install it: qbench data get koniq)" in result.stderr
    assert "missing: A1" not in result.stderr
    manifests = [json.loads(p.read_text()) for p in (env.tmp / "runs").rglob("manifest.json")]
    assert sorted((m["task"], m["dataset"]) for m in manifests) == [
        ("a1", "llvisionqa-dev"),
        ("a1", "qbench2-dev"),
        ("a3", "agi"),
    ]
    classical = env.cli("bench", "niqe", "--out", str(env.tmp / "runs2"))  # cannot answer questions
    assert classical.returncode == 0, classical.stderr
    assert "skipped: A1 single (llvisionqa-dev): model 'niqe' cannot run task a1" in classical.stderr
    assert "AGIQA-3K" in classical.stdout


def test_bench_with_a_judge_describes_lldescribe_and_says_why_it_is_not_judged(env: Env) -> None:
    from fake_openai_server import FakeOpenAIServer

    tar = tgz({f"images_lldescribe/{i:04d}.jpg": png(i) for i in range(2)} | {"README.md": b"x"})
    env.server.hub("nanyangtu/LLDescribe-QBench", "images_lldescribe.tar", tar)
    assert env.cli("data", "get", "lldescribe", "--accept-terms").returncode == 0
    with FakeOpenAIServer(lambda body: "The image is sharp and well exposed.") as api:
        result = env.cli(
            "bench",
            "openai:fake-model",
            "--judge",
            "openai:fake-model",
            "--api-base",
            api.url,
            "--out",
            str(env.tmp / "runs"),
        )
        described = api.count
    assert result.returncode == 0, result.stderr
    assert described == 2  # one description per image, no judge round (nothing to judge against)
    assert "lldescribe has no public reference descriptions" in result.stderr
    assert "missing: A1 single (llvisionqa-dev)" in result.stderr
    manifest = json.loads(next((env.tmp / "runs").rglob("manifest.json")).read_text())
    assert (manifest["task"], manifest["dataset"]) == ("a2", "lldescribe")


def test_a_download_on_a_terminal_shows_size_rate_and_eta(env: Env) -> None:
    serve_livec(env)
    env.server.chunk, env.server.throttle = 16 * 1024, 0.01
    env.env.update(FORCE_COLOR="1", COLUMNS="120")  # rich draws for a terminal
    result = env.cli("data", "get", "livec", "--accept-terms")
    assert result.returncode == 0, result.stderr
    size = len(env.server.files[f"/datasets/{HUB_REPO}/resolve/main/live_challenge.tgz"]) / 1000
    bar = result.stderr
    assert "live_challenge.tgz" in bar and f"{size:.1f}/{size:.1f} kB" in bar  # done/total size
    assert re.search(r"\d+(\.\d+)? [kMG]?B/s", bar) and "0:00:00" in bar  # rate and time remaining
