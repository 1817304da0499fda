"""Video decoding with PyAV (qbench.data.video): the official frame indices, read back from the pixels.

Every video here is written by PyAV in the test with H.264 B-frames (decode order differs from presentation
order); frame ``i`` shows ``i`` in black and white stripes (tests/video_files.py), so the test reads which
frames were returned from the pixels themselves, not from what the decoder says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("av")

from qbench.data import video
from qbench.errors import DataError, MissingDependency
from video_files import frame_number, write_video


def official(n: int, k: int) -> list[int]:
    # written out from GPT_test.py: [int(total_valid_frames / num_frames) * i for i in range(num_frames)]
    return [int(n / k) * i for i in range(k)]


@pytest.mark.parametrize("n", [1, 7, 15, 16, 17, 31, 33, 50, 97])
def test_exactly_the_official_frames_are_decoded(tmp_path: Path, n: int) -> None:
    path = write_video(tmp_path / f"v{n}.mp4", n)
    assert video.count_frames(path) == n
    for k in (16, 8):
        frames, indices = video.read_frames(path, k)
        assert indices == official(n, k)
        assert [frame_number(f) for f in frames] == indices  # the pixels say which frame it is
        assert all(f.mode == "RGB" and f.size == (160, 32) for f in frames)


def test_short_videos_repeat_the_first_frame_as_the_official_script_does(tmp_path: Path) -> None:
    frames, indices = video.read_frames(write_video(tmp_path / "short.mp4", 10), 16)
    assert indices == [0] * 16 and {frame_number(f) for f in frames} == {0}


def test_vlmevalkit_sampling_is_an_explicit_other_rule(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", 100)
    frames, indices = video.read_frames(path, 16, "vlmevalkit")
    assert indices == [int(i * 100 / 17) for i in range(1, 17)]
    assert [frame_number(f) for f in frames] == indices
    assert indices != official(100, 16)
    with pytest.raises(ValueError, match="unknown frame sampling"):
        video.frame_indices(100, 16, "uniform")  # type: ignore[arg-type]


def test_other_containers_and_codecs(tmp_path: Path) -> None:
    for name, codec in (("a.mkv", "ffv1"), ("b.webm", "libvpx-vp9"), ("c.avi", "mpeg4")):
        path = write_video(tmp_path / name, 40, codec=codec)
        frames, indices = video.read_frames(path, 16)
        assert [frame_number(f) for f in frames] == indices == official(40, 16), name


def test_broken_or_missing_files_are_one_data_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01 this is not a video" * 50)
    with pytest.raises(DataError) as caught:
        video.read_frames(junk, 16, item="7")
    line = caught.value.one_line()
    assert str(junk) in line and "item 7" in line and "\n" not in line and caught.value.exit_code == 2
    with pytest.raises(DataError, match="video file not found"):
        video.read_frames(tmp_path / "gone.mp4", 16)
    # a truncated file: the packets that are left still decode, or the error names the file
    good = write_video(tmp_path / "good.mp4", 60)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    try:
        frames, indices = video.read_frames(cut, 16)
    except DataError as exc:
        assert str(cut) in exc.one_line()
    else:
        assert [frame_number(f) for f in frames] == indices


def test_api_frames_are_shrunk_to_512_and_sent_as_jpeg(tmp_path: Path) -> None:
    from io import BytesIO

    from PIL import Image

    big = write_video(tmp_path / "big.mp4", 20, width=1280, height=720)
    frames, indices = video.read_frames(big, 16)
    frame = video.api_frame(frames[3])
    assert frame.size == (1280, 720)  # local models keep the full pixels
    sent = Image.open(BytesIO(frame.info[video.API_JPEG]))
    assert sent.format == "JPEG" and sent.size == (512, 288)  # int(1280 * 0.4), int(720 * 0.4)
    assert frame.info[video.API_DETAIL] == "low"
    assert frame_number(sent) == indices[3]
    small = Image.new("RGB", (300, 200))
    assert Image.open(BytesIO(video.api_frame(small).info[video.API_JPEG])).size == (
        300,
        200,
    )  # never enlarged
    tall = Image.new("RGB", (400, 1000))
    assert video.shrink(tall).size == (204, 512)  # int(400 * 0.512)


def test_pair_names_follow_the_official_split() -> None:
    assert video.pair_names("A001.mp4_cat_B002.mp4.mp4") == ("A001.mp4", "B002.mp4")
    with pytest.raises(ValueError):
        video.pair_names("no_pair_here.mp4")


def test_missing_pyav_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real = builtins.__import__

    def no_av(name: str, *args: object, **kwargs: object) -> object:
        if name == "av":
            raise ImportError("no av")
        return real(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_av)
    with pytest.raises(MissingDependency) as caught:
        video.read_frames(tmp_path / "x.mp4", 16)
    assert "qbench[video]" in caught.value.one_line()


def test_frames_over_the_pixel_limit_are_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_video(tmp_path / "v.mp4", 20, width=320, height=240)
    monkeypatch.setenv("QBENCH_MAX_PIXELS", str(320 * 240 - 1))
    with pytest.raises(DataError) as caught:
        video.read_frames(path, 16, item="3")
    line = caught.value.one_line()
    assert "320x240" in line and "QBENCH_MAX_PIXELS=76800" in line and "item 3" in line
    monkeypatch.setenv("QBENCH_MAX_PIXELS", str(320 * 240))
    frames, _ = video.read_frames(path, 16)
    assert len(frames) == 16
