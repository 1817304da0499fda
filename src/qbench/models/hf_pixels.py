"""Exact, cheaper pixels for CLIP-style and Qwen2-VL image processors: the photo is resized once, in PIL,
before the processor sees it.

Why: transformers' PIL backend turns a decoded photo into a numpy array, back into a PIL image to resize it,
and the result back into numpy. On a 6-MP JPEG and LLaVA's processor that is 106 ms of work, of which the
resize itself is 42 ms; the decode is another 60 ms. On the 2-core machines the harness is decode- and
processor-bound, so those copies were most of what stood between qbench and the official loop.

The processor's resize is ``PIL.Image.resize((width, height), resample)`` on an image holding the same bytes
as the decoded one (``to_pil_image`` of ``np.array(image)``), so calling it on the decoded image gives the
same bytes. The processor then crops, rescales and normalises the small image with ``do_resize=False``,
exactly as it would have after its own resize. Processors qualify whose preprocessing is that chain
(transformers' generic PIL ``_preprocess``, e.g. CLIP and SigLIP, and LLaVA's when it does not pad first) or
Qwen2-VL's (Qwen2.5-VL's too: a resize to ``smart_resize`` dimensions, then patches); any other
processor, an image that is not plain RGB, or a batch holding one, goes through the processor untouched.

Nothing is taken on trust: the first photo of a run is processed both ways and compared bit for bit; if the
two differ (a transformers release that changed its resize), the shortcut is switched off for the run, with
one warning.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


@functools.cache
def _generic_chains() -> frozenset[Any]:
    """The ``_preprocess`` functions that are exactly resize, centre crop, rescale, normalise (pad after)."""
    from transformers.image_processing_backends import PilBackend

    chains = {PilBackend._preprocess}
    try:
        from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

        chains.add(LlavaImageProcessorPil._preprocess)  # pads to a square first when do_pad: checked below
    except ImportError:  # an older transformers without the PIL backend split: no shortcut
        pass
    return frozenset(chains)


@functools.cache
def _qwen2_vl() -> Any:
    """Qwen2-VL's PIL image processor class (also Qwen2.5-VL's), or None on a transformers without it."""
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    except ImportError:
        return None
    return Qwen2VLImageProcessorPil


def rule(image_processor: Any) -> str | None:
    """How a PIL resize ahead of ``image_processor`` gives its own pixels, or None when it cannot.

    ``"chain"``: the plain chain (resize, crop, rescale, normalise) with transformers' own resize, sized by
    the ``size`` dict. ``"qwen2_vl"``: Qwen2-VL's resize to ``smart_resize`` dimensions (multiples of
    patch x merge size within the pixel budget), then rescale, normalise and patches; with ``do_resize=False``
    the processor patches the given image as it is. Either way the processor's image conversion is
    transformers' own (``PilBackend.process_image``).
    """
    try:
        from transformers.image_processing_backends import PilBackend
    except ImportError:
        return None
    kind = type(image_processor)
    if not (
        isinstance(image_processor, PilBackend)
        and kind.process_image is PilBackend.process_image
        and bool(getattr(image_processor, "do_resize", False))
        and getattr(image_processor, "size", None) is not None
        and getattr(image_processor, "resample", None) is not None
    ):
        return None
    if (
        kind._preprocess in _generic_chains()
        and kind.resize is PilBackend.resize
        and not getattr(image_processor, "do_pad", False)
    ):
        return "chain"
    qwen = _qwen2_vl()
    if qwen is not None and kind._preprocess is qwen._preprocess and kind.resize is qwen.resize:
        return "qwen2_vl"
    return None


def qualifies(image_processor: Any) -> bool:
    """Whether a PIL resize ahead of ``image_processor`` can give its own pixels (:func:`rule`)."""
    return rule(image_processor) is not None


def target_size(image_processor: Any, width: int, height: int) -> tuple[int, int] | None:
    """The (height, width) the processor's own ``resize`` would give a ``width`` x ``height`` image, from
    transformers' own size helpers (the same branches as ``PilBackend.resize``, or Qwen2-VL's
    ``smart_resize``); None for a size rule this module does not know."""
    import numpy as np
    from transformers.image_transforms import get_resize_output_image_size, get_size_with_aspect_ratio
    from transformers.image_utils import ChannelDimension

    size = image_processor.size
    if rule(image_processor) == "qwen2_vl":
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        new_height, new_width = smart_resize(
            height,
            width,
            factor=image_processor.patch_size * image_processor.merge_size,
            min_pixels=size.shortest_edge,
            max_pixels=size.longest_edge,
        )
        return int(new_height), int(new_width)
    if size.shortest_edge and size.longest_edge:
        new_height, new_width = get_size_with_aspect_ratio(
            (height, width), size.shortest_edge, size.longest_edge
        )
        return int(new_height), int(new_width)
    if size.shortest_edge:
        # the helper reads only the array's shape: a zero-stride stand-in costs no memory
        shape_only = np.lib.stride_tricks.as_strided(
            np.zeros(1, np.uint8), shape=(3, height, width), strides=(0, 0, 0)
        )
        out = get_resize_output_image_size(
            shape_only,
            size=size.shortest_edge,
            default_to_square=False,
            input_data_format=ChannelDimension.FIRST,
        )
        return int(out[0]), int(out[1])
    if size.height and size.width:
        return int(size.height), int(size.width)
    return None


def _plain_rgb(image: Any) -> bool:
    """An RGB PIL image without a transparency key: transformers' conversion leaves it as it is."""
    from PIL import Image

    return isinstance(image, Image.Image) and image.mode == "RGB" and image.info.get("transparency") is None


class PreResizer:
    """Resizes a batch's photos ahead of one image processor, once its shortcut has been checked against the
    processor's own pixels. One per model: the check runs once, under a lock, whichever thread comes first."""

    def __init__(self, image_processor: Any) -> None:
        self.enabled = qualifies(image_processor)
        self.verified = False
        self._lock = threading.Lock()

    def _resized(self, image_processor: Any, image: Any) -> Any | None:
        hw = target_size(image_processor, *image.size)
        if hw is None:
            return None
        height, width = hw
        if (width, height) == image.size:
            return image
        return image.resize((width, height), resample=int(image_processor.resample))

    def apply(self, image_processor: Any, images: list[list[Any]]) -> tuple[list[list[Any]], dict[str, Any]]:
        """``images`` (per request, in placeholder order) and the processor keyword arguments to go with them:
        resized with ``do_resize=False`` when every image of the batch qualifies, else unchanged and none."""
        flat = [img for row in images for img in row]
        if not self.enabled or not flat or not all(_plain_rgb(img) for img in flat):
            return images, {}
        resized = [[self._resized(image_processor, img) for img in row] for row in images]
        if any(img is None for row in resized for img in row):
            return images, {}
        if not self.verified:
            with self._lock:
                if not self.verified and self.enabled:
                    self.enabled = self._same_pixels(
                        image_processor, flat[0], resized[0][0] if resized[0] else None
                    )
                    self.verified = True
            if not self.enabled:
                return images, {}
        return resized, {"do_resize": False}

    def _same_pixels(self, image_processor: Any, image: Any, small: Any) -> bool:
        """Bit-for-bit equality of the processor's pixels from the photo and from the resized photo."""
        import numpy as np

        if small is None:
            return False
        try:
            own = dict(image_processor(images=[image], return_tensors="np"))
            ours = dict(image_processor(images=[small], do_resize=False, return_tensors="np"))
        except Exception:  # a processor that rejects the keyword: keep its own path
            log.debug("pre-resize check failed", exc_info=True)
            return False
        # every output, not only the pixels: Qwen2-VL's patch grid decides the prompt's image tokens
        same = own.keys() == ours.keys() and all(
            np.asarray(own[k]).dtype == np.asarray(ours[k]).dtype
            and np.asarray(own[k]).shape == np.asarray(ours[k]).shape
            and bool(np.array_equal(own[k], ours[k]))
            for k in own
        )
        if not same:
            log.warning(
                "%s: resizing photos ahead of the processor does not give its own pixels here; "
                "the processor resizes them itself for this run (slower, same scores)",
                type(image_processor).__name__,
            )
        return same
