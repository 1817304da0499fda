"""Photos resized ahead of a CLIP-style processor give the processor's own pixels, bit for bit, whatever the
photo's size and shape; anything else goes through the processor untouched (qbench.models.hf_pixels)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

pytest.importorskip("transformers")
from PIL import Image

from qbench.models import hf_pixels
from qbench.models.hf_pixels import PreResizer, qualifies

# (width, height): thin, tiny, odd, one pixel off the target, exactly the target, portrait and landscape photos,
# smaller than the target (an upscale) and far larger (a 12-MP photo)
SIZES = [
    (3, 40),
    (40, 3),
    (17, 17),
    (335, 1000),
    (337, 336),
    (336, 336),
    (1000, 335),
    (641, 479),
    (2000, 1333),
]


def noise(width: int, height: int, seed: int) -> Image.Image:
    """Random pixels: the hardest content for two resamplers to agree on by chance."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def llava_1_5() -> Any:
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    return LlavaImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})


def clip() -> Any:
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    return CLIPImageProcessorPil()


def siglip() -> Any:
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    return SiglipImageProcessorPil()


def qwen2_vl() -> Any:
    """Qwen2-VL's processor (Qwen2.5-VL's too) with its published pixel budget: 56x56 to 1280 patches of 28."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil()


def same_outputs(ours: Any, own: Any) -> bool:
    """Every output (pixels, and Qwen2-VL's patch grid) equal in keys, dtype, shape and value."""
    return ours.keys() == own.keys() and all(
        np.asarray(ours[k]).dtype == np.asarray(own[k]).dtype and np.array_equal(ours[k], own[k]) for k in own
    )


@pytest.mark.parametrize(
    "make", [llava_1_5, clip, siglip, qwen2_vl], ids=["llava-1.5", "clip", "siglip", "qwen2-vl"]
)
def test_every_size_gives_the_processors_own_pixels(make: Any) -> None:
    processor = make()
    assert qualifies(processor)
    shortcut = PreResizer(processor)
    for seed, (width, height) in enumerate(SIZES):
        photo = noise(width, height, seed)
        images, kwargs = shortcut.apply(processor, [[photo]])
        assert kwargs == {"do_resize": False}, (width, height)
        ours = processor(images=images[0], return_tensors="np", **kwargs)
        own = processor(images=[photo], return_tensors="np")
        assert same_outputs(ours, own), f"{width}x{height}"


def test_a_batch_of_several_requests_and_images_keeps_its_order() -> None:
    processor = llava_1_5()
    photos = [[noise(640, 480, 1), noise(300, 900, 2)], [noise(1024, 768, 3)]]
    images, kwargs = PreResizer(processor).apply(processor, photos)
    ours = processor(images=[img for row in images for img in row], return_tensors="np", **kwargs)
    own = processor(images=[img for row in photos for img in row], return_tensors="np")
    assert np.array_equal(ours["pixel_values"], own["pixel_values"])


@pytest.mark.parametrize(
    "odd",
    [
        lambda: noise(64, 48, 0).convert("L"),
        lambda: noise(64, 48, 0).convert("RGBA"),
        lambda: noise(64, 48, 0).convert("P"),
        lambda: _with_transparency_key(noise(64, 48, 0)),
    ],
    ids=["grey", "rgba", "palette", "rgb-with-transparency-key"],
)
def test_a_batch_holding_an_image_that_is_not_plain_rgb_is_left_to_the_processor(odd: Any) -> None:
    processor = llava_1_5()
    photos = [[noise(640, 480, 1)], [odd()]]
    images, kwargs = PreResizer(processor).apply(processor, photos)
    assert kwargs == {} and images is photos


def _with_transparency_key(image: Image.Image) -> Image.Image:
    image.info["transparency"] = (0, 0, 0)  # a PNG colour key: transformers composites it on white
    return image


def test_processors_that_pad_first_or_tile_do_not_qualify() -> None:
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    class OwnResize(LlavaImageProcessorPil):
        def resize(self, image: Any, size: Any, resample: Any = None, **kwargs: Any) -> Any:
            return super().resize(image, size, resample, **kwargs)

    assert not qualifies(LlavaImageProcessorPil(do_pad=True))  # pads to a square before resizing
    assert not qualifies(LlavaImageProcessorPil(do_resize=False))
    assert not qualifies(Idefics3ImageProcessorPil())  # resizes, then tiles and resizes again
    assert not qualifies(GotOcr2ImageProcessorPil())  # InternVL's tiles
    assert not qualifies(LlavaNextImageProcessorPil())  # any-resolution patches
    assert not qualifies(OwnResize())
    photos = [[noise(64, 48, 0)]]
    processor = Idefics3ImageProcessorPil()
    assert PreResizer(processor).apply(processor, photos) == (photos, {})


def test_a_shortcut_that_disagrees_with_the_processor_is_switched_off_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A transformers release that resized differently: the first photo's check catches it."""
    real = hf_pixels.target_size

    def one_row_off(processor: Any, width: int, height: int) -> tuple[int, int] | None:
        hw = real(processor, width, height)
        return None if hw is None else (hw[0] + 1, hw[1])

    monkeypatch.setattr(hf_pixels, "target_size", one_row_off)
    processor = llava_1_5()
    shortcut = PreResizer(processor)
    photos = [[noise(640, 480, 1)]]
    with caplog.at_level(logging.WARNING, logger="qbench.models.hf_pixels"):
        assert shortcut.apply(processor, photos) == (photos, {})
        assert shortcut.apply(processor, [[noise(500, 400, 2)]])[1] == {}  # off for the rest of the run
    assert not shortcut.enabled
    assert len([r for r in caplog.records if "does not give its own pixels" in r.getMessage()]) == 1


@pytest.mark.parametrize("family", ["llava", "qwen2_vl"])
def test_the_hf_adapter_feeds_the_model_the_processors_own_pixels(family: str) -> None:
    """Through the adapter's own encoding of chat requests (tiny models), against a plain processor call."""
    import tiny_models
    from qbench.models.hf import HFModel
    from qbench.types import ImageSlot, Request, Text

    model = HFModel(str(tiny_models.cached(family)), dtype="float32")
    assert model._pre_resize.enabled
    photos = [noise(640, 480, 5), noise(90, 700, 6)]
    requests = [
        Request(content=(ImageSlot(0), Text("Rate the quality of the image.")), images=(p,)) for p in photos
    ]
    batch = model._encode_requests(requests, model._thread_processor())
    texts = [model.render(r, r.assistant_prefix)[0] for r in requests]
    plain = model.processor(
        text=texts, images=[[p] for p in photos], return_tensors="pt", padding=True, padding_side="left"
    )
    assert model._pre_resize.verified and model._pre_resize.enabled
    for key in plain:
        assert torch_equal(batch[key], plain[key]), key


def torch_equal(a: Any, b: Any) -> bool:
    import torch

    return bool(torch.equal(a, b))
