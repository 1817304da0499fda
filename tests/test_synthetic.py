"""The synthetic benchmark: deterministic, in the official formats, and with answers that follow from pixels.

Two full builds (A1 single, A1 pairs, A3) are made once per session and shared by the tests; they also give
the build-time check. Everything here is offline and needs only numpy, scipy and Pillow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qbench.data import synthetic as syn
from qbench.data.synthetic import distortions, files, measures, questions

A1_KEYS = ["type", "concern", "question", "img_path", "candidates", "correct_ans"]
PAIR_KEYS = [*A1_KEYS, "correct_choice"]
CELLS = {(t, c) for t in range(3) for c in range(4)}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    syn.load_sources()  # decode the packaged photos once, outside the timings
    timings: dict[str, float] = {}
    roots = []
    for name in ("a", "b"):
        parent = tmp_path_factory.mktemp(f"build_{name}")
        root = parent / "out"
        for builder in (syn.build_iqa, syn.build_a1, syn.build_a1_pairs):
            start = time.perf_counter()
            builder(root, seed=0)
            timings[builder.__name__] = max(timings.get(builder.__name__, 0.0), time.perf_counter() - start)
        roots.append(root)
    return {"a": roots[0], "b": roots[1], "timings": timings}


def _root(builds: dict[str, object]) -> Path:
    root = builds["a"]
    assert isinstance(root, Path)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _a1(root: Path) -> list[dict]:
    return json.loads((root / syn.A1_JSON).read_text(encoding="utf-8"))


def _pairs(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / syn.PAIRS_JSONL).read_text(encoding="utf-8").splitlines()]


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0


# ---- determinism and hygiene ------------------------------------------------------------------------------


def test_two_builds_are_byte_identical(builds: dict[str, object]) -> None:
    a, b = builds["a"], builds["b"]
    assert isinstance(a, Path) and isinstance(b, Path)
    files_a, files_b = _files(a), _files(b)
    assert files_a.keys() == files_b.keys()
    assert [k for k in files_a if files_a[k] != files_b[k]] == []


def test_the_seed_changes_the_questions(tmp_path: Path) -> None:
    zero = syn.build_a1(tmp_path / "zero", seed=0, per_cell=2).read_text(encoding="utf-8")
    one = syn.build_a1(tmp_path / "one", seed=1, per_cell=2).read_text(encoding="utf-8")
    assert zero != one
    assert len(json.loads(zero)) == len(json.loads(one)) == 24


def test_writes_only_inside_out_dir(builds: dict[str, object]) -> None:
    root = _root(builds)
    assert [p.name for p in root.parent.iterdir()] == ["out"]
    assert {p.name for p in root.iterdir()} == {
        "images",
        syn.PAIR_PREFIX,
        syn.PAIR_ORIGINALS_DIR,
        syn.IQA_JSON,
        syn.IQA_META_JSON,
        syn.A1_JSON,
        syn.PAIRS_JSONL,
    }


def test_build_time(builds: dict[str, object]) -> None:
    timings = builds["timings"]
    assert isinstance(timings, dict)
    assert timings["build_iqa"] < 10.0, timings
    assert sum(timings.values()) < 30.0, timings


def test_generation_does_not_need_scikit_image(tmp_path: Path) -> None:
    """The packaged photos stand in for skimage.data: generation must work with scikit-image blocked."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'skimage' or name.startswith('skimage.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from pathlib import Path\n"
        "from qbench.data import synthetic as s\n"
        f"s.build_a1(Path({str(tmp_path)!r}), per_cell=1)\n"
        "assert 'skimage' not in sys.modules\n"
    )
    src = Path(syn.__file__).resolve().parents[3]  # the folder that holds the qbench package
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / syn.A1_JSON).exists()


# ---- source images ----------------------------------------------------------------------------------------


def test_sources_are_packaged_small_and_licensed() -> None:
    sources = syn.load_sources()
    assert list(sources) == list(syn.SOURCE_IMAGES)
    assert 6 <= len(sources) <= 8
    for img in sources.values():
        assert img.ndim == 3 and img.shape[2] == 3 and max(img.shape[:2]) == 384
        assert img.min() >= 0.0 and img.max() <= 1.0
        assert not img.flags.writeable
    folder = Path(syn.__file__).parents[1] / "images"  # qbench/data/images
    assert sum((folder / name).stat().st_size for name in syn.SOURCE_IMAGES) < 600_000
    licences = (folder / "LICENSES.md").read_text(encoding="utf-8")
    for name in syn.SOURCE_IMAGES:
        assert f"`{name}`" in licences


# ---- formats ----------------------------------------------------------------------------------------------


def test_a1_items_are_in_the_official_format(builds: dict[str, object]) -> None:
    root = _root(builds)
    items = _a1(root)
    assert 60 <= len(items) <= 100
    assert {(d["type"], d["concern"]) for d in items} == CELLS
    for d in items:
        assert list(d) == A1_KEYS
        assert d["type"] in (0, 1, 2) and d["concern"] in (0, 1, 2, 3)
        assert isinstance(d["question"], str) and d["question"].endswith("?")
        assert 2 <= len(d["candidates"]) <= 4 and len(set(d["candidates"])) == len(d["candidates"])
        assert d["correct_ans"] in d["candidates"]
        if d["type"] == 0:
            assert sorted(d["candidates"]) == ["No", "Yes"]
        else:
            assert len(d["candidates"]) >= 3
        path = root / d["img_path"]
        assert path.suffix == ".png" and path.exists()
    yes_no = [d for d in items if d["type"] == 0]
    assert 0.3 <= sum(d["correct_ans"] == "No" for d in yes_no) / len(yes_no) <= 0.5
    positions = {d["candidates"].index(d["correct_ans"]) for d in items}
    assert positions >= {0, 1, 2}  # the answer is not always in the same slot


def test_a1_images_are_distinct_files(builds: dict[str, object]) -> None:
    items = _a1(_root(builds))
    assert len({d["img_path"] for d in items}) == len(items)


def test_pairs_follow_the_qbench2_convention(builds: dict[str, object]) -> None:
    root = _root(builds)
    items = _pairs(root)
    assert 40 <= len(items) <= 60
    assert {(d["type"], d["concern"]) for d in items} == CELLS
    for d in items:
        assert list(d) == PAIR_KEYS
        assert d["correct_ans"] in d["candidates"]
        assert d["correct_choice"] == "ABCD"[d["candidates"].index(d["correct_ans"])]
        prefix, cat_name = d["img_path"].split("\\")
        assert prefix == syn.PAIR_PREFIX and cat_name.endswith(".jpg")
        first_name, second_name = cat_name[: -len(".jpg")].split("_cat_")
        first = _rgb(root / syn.PAIR_ORIGINALS_DIR / first_name)
        second = _rgb(root / syn.PAIR_ORIGINALS_DIR / second_name)
        with Image.open(root / prefix / cat_name) as cat:
            assert cat.format == "JPEG"
            assert cat.size == (first.shape[1] + second.shape[1], max(first.shape[0], second.shape[0]))
    raw = (root / syn.PAIRS_JSONL).read_text(encoding="utf-8")
    assert '"llvisionqa_compare_dev\\\\img_000.png_cat_img_001.png.jpg"' in raw  # one escaped backslash


def test_mos_json_is_the_official_a3_shape(builds: dict[str, object]) -> None:
    root = _root(builds)
    items = json.loads((root / syn.IQA_JSON).read_text(encoding="utf-8"))
    assert 60 <= len(items) <= 80
    for d in items:
        assert list(d) == ["img_path", "gt_score"]
        assert 1.0 <= float(d["gt_score"]) <= 5.0
        assert (root / d["img_path"]).exists()
    meta = json.loads((root / syn.IQA_META_JSON).read_text(encoding="utf-8"))
    assert [m["img_path"] for m in meta] == [d["img_path"] for d in items]
    assert sum(not m["steps"] for m in meta) == len(syn.SOURCE_IMAGES)  # one pristine copy per source


def test_mos_json_loads_with_the_a3_loader(builds: dict[str, object]) -> None:
    mos = pytest.importorskip("qbench.data.mos")
    jsonfile = pytest.importorskip("qbench.data.jsonfile")
    root = _root(builds)
    path = root / syn.IQA_JSON
    samples = mos.mos_samples(jsonfile.read_records(path), file=path, image_root=root)
    assert len(samples) == len(syn.SOURCE_IMAGES) * 10


# ---- the pseudo-MOS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(syn.DISTORTIONS))
def test_pseudo_mos_falls_as_strength_rises(name: str) -> None:
    scores = [syn.pseudo_mos({name: s}) for s in np.linspace(0.0, 1.0, 11)]
    assert scores[0] == 5.0
    assert all(a > b for a, b in pairwise(scores))
    assert scores[-1] >= 1.0


def test_pseudo_mos_combines_multiplicatively() -> None:
    both = syn.pseudo_mos({"blur": 0.5, "noise": 0.5})
    assert both < min(syn.pseudo_mos({"blur": 0.5}), syn.pseudo_mos({"noise": 0.5}))
    assert syn.pseudo_mos({name: 1.0 for name in syn.DISTORTIONS}) >= 1.0


def test_built_scores_track_the_recipe(builds: dict[str, object]) -> None:
    from scipy.stats import spearmanr

    root = _root(builds)
    scores = [d["gt_score"] for d in json.loads((root / syn.IQA_JSON).read_text())]
    meta = json.loads((root / syn.IQA_META_JSON).read_text())
    assert spearmanr(scores, [m["mos_clean"] for m in meta])[0] > 0.97
    for m in meta:
        assert m["mos_clean"] == pytest.approx(
            syn.pseudo_mos({s["name"]: s["strength"] for s in m["steps"]}), abs=1e-4
        )


# ---- the distortions do what their names say ---------------------------------------------------------------


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.array(syn.load_sources()["astronaut.jpg"])


@pytest.mark.parametrize("name", list(syn.DISTORTIONS))
def test_strength_zero_is_pristine(name: str, photo: np.ndarray) -> None:
    assert np.array_equal(syn.DISTORTIONS[name](photo, 0.0), photo)


def test_blur_removes_high_frequencies(photo: np.ndarray) -> None:
    energy = [syn.sharpness(syn.blur(photo, s)) for s in (0.0, 0.2, 0.5, 1.0)]
    assert all(a > b for a, b in pairwise(energy))
    assert energy[-1] < 0.1 * energy[0]
    spectrum = np.abs(np.fft.fft2(syn.blur(photo, 0.8).mean(axis=2)))
    original = np.abs(np.fft.fft2(photo.mean(axis=2)))
    high = np.zeros_like(spectrum, dtype=bool)
    high[96:-96, 96:-96] = True  # frequencies above a quarter of the sampling rate
    assert spectrum[high].sum() < 0.05 * original[high].sum()


def test_noise_has_the_stated_standard_deviation() -> None:
    grey = np.full((128, 128, 3), 0.5)
    for s in (0.25, 0.5, 1.0):
        residual = syn.noise(grey, s, rng=np.random.default_rng(1)) - grey
        assert residual.std() == pytest.approx(distortions.NOISE_MAX_SIGMA * s, rel=0.03)
    assert np.array_equal(syn.noise(grey, 0.5), syn.noise(grey, 0.5))  # deterministic without an rng


def test_jpeg_quality_falls_and_error_grows(photo: np.ndarray) -> None:
    assert syn.jpeg_quality(0.01) >= 89 and syn.jpeg_quality(1.0) == 5
    errors = [np.abs(syn.jpeg(photo, s) - photo).mean() for s in (0.1, 0.5, 1.0)]
    assert errors[0] < errors[1] < errors[2]


def test_exposure_moves_brightness(photo: np.ndarray) -> None:
    luma = [measures._mean_luma(syn.overexposure(photo, s)) for s in (0.0, 0.5, 1.0)]
    assert luma[0] < luma[1] < luma[2]
    luma = [measures._mean_luma(syn.underexposure(photo, s)) for s in (0.0, 0.5, 1.0)]
    assert luma[0] > luma[1] > luma[2]
    # one stop is one stop: in linear light the change is exactly a factor 2 (where nothing clips)
    dark = syn.underexposure(photo, 1.0 / distortions.UNDEREXPOSURE_MAX_EV)
    lin_ratio = distortions._srgb_to_linear(dark) / np.maximum(distortions._srgb_to_linear(photo), 1e-9)
    assert np.median(lin_ratio[photo > 0.1]) == pytest.approx(0.5, rel=1e-6)


def test_low_contrast_scales_rms_contrast_exactly(photo: np.ndarray) -> None:
    for s in (0.25, 0.5, 1.0):
        t = 1.0 - distortions.LOW_CONTRAST_MAX_LOSS * s
        out = syn.low_contrast(photo, s)
        assert measures._luma_sd(out) == pytest.approx(t * measures._luma_sd(photo), rel=1e-9)
        assert measures._mean_luma(out) == pytest.approx(measures._mean_luma(photo), abs=1e-9)


@pytest.mark.parametrize("tint", syn.TINTS)
def test_colour_cast_tints_a_grey_image(tint: str) -> None:
    grey = np.array(syn.load_sources()["camera.jpg"])
    assert measures._clearly_tinted(syn.colour_cast(grey, 1.0, tint=tint), tint)
    with pytest.raises(ValueError):
        syn.colour_cast(grey, 0.5, tint="purple")


def test_pixelation_makes_constant_blocks(photo: np.ndarray) -> None:
    out = syn.pixelation(photo, 1.0)
    b = syn.pixelation_block(1.0)
    assert b == 16
    block = out[:b, :b]
    assert np.allclose(block, block[0, 0])
    assert np.allclose(block[0, 0], photo[:b, :b].reshape(-1, 3).mean(axis=0))


def test_combined_steps_follow_the_imaging_chain(photo: np.ndarray) -> None:
    steps = [syn.Step("jpeg", 0.5), syn.Step("blur", 0.5)]
    expected = syn.jpeg(syn.blur(photo, 0.5), 0.5)
    assert np.array_equal(syn.apply_steps(photo, steps), expected)
    assert np.array_equal(syn.apply_steps(photo, steps[::-1]), expected)


# ---- answers follow from the pixels of the written files ----------------------------------------------------


def test_written_a1_answers_match_the_pixels(builds: dict[str, object]) -> None:
    root = _root(builds)
    checked = 0
    for d in _a1(root):
        img = _rgb(root / d["img_path"])
        q, answer = d["question"], d["correct_ans"]
        if q in ("Is this a black-and-white image?", "Is this image in greyscale?"):
            assert files._is_grey(img) == (answer == "Yes")
        elif q == "What is the colour mode of this image?":
            assert files._is_grey(img) == (answer == "Black and white")
        elif q == "How is the brightness of this image?":
            luma = measures._mean_luma(img)
            assert {"Very dark": luma <= 0.15, "Very bright": luma >= 0.72, "Moderate": 0.3 <= luma <= 0.6}[
                answer
            ]
        elif q == "Which part of this image is blurred?":
            region = answer.split()[1]
            blurred = questions._region_mask(img.shape, region)
            other = questions._region_mask(img.shape, questions._OPPOSITE[region])
            assert syn.sharpness(img, blurred) < 0.25 * syn.sharpness(img, other)
        elif q == "What is the dominant colour tone of this image?":
            tint = {v: k for k, v in questions._TINT_WORD.items()}[answer]
            assert measures._clearly_tinted(img, tint)
        elif q == "Which part of this image is darker?":
            region = answer.split()[1]
            darker = measures._mean_luma(img, questions._region_mask(img.shape, region))
            assert darker + 0.2 <= measures._mean_luma(
                img, questions._region_mask(img.shape, questions._OPPOSITE[region])
            )
        else:
            continue
        checked += 1
    assert checked >= 10


def test_written_pair_answers_match_the_pixels(builds: dict[str, object]) -> None:
    root = _root(builds)
    checked = 0
    for d in _pairs(root):
        first_name, second_name = d["img_path"].split("\\")[1][: -len(".jpg")].split("_cat_")
        first = _rgb(root / syn.PAIR_ORIGINALS_DIR / first_name)
        second = _rgb(root / syn.PAIR_ORIGINALS_DIR / second_name)
        q, answer = d["question"], d["correct_ans"]
        if q == "Which image is brighter?":
            brighter = measures._mean_luma(first) > measures._mean_luma(second)
            assert answer == ("The first image" if brighter else "The second image")
        elif q == "Which image is blurrier?":
            blurrier = syn.sharpness(first) < syn.sharpness(second)
            assert answer == ("The first image" if blurrier else "The second image")
        elif q == "Are both images black and white?":
            assert (files._is_grey(first) and files._is_grey(second)) == (answer == "Yes")
        elif q == "How is the colour of the two images?":
            greys = files._is_grey(first) + files._is_grey(second)
            assert answer.startswith({2: "Both are black", 0: "Both are in colour", 1: "One is"}[greys])
        elif q.startswith("Compared to the first image") and answer == "About the same":
            assert np.array_equal(first, second)
        elif q == "Are both images very dark?":
            assert (max(measures._mean_luma(first), measures._mean_luma(second)) <= 0.15) == (answer == "Yes")
        else:
            continue
        checked += 1
    assert checked >= 5
