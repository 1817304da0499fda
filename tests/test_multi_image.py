"""Any number of images per request, through every adapter, and one line for a model that cannot take them.

* ``openai:`` against the loopback server: 3 and 4 images arrive as image parts in order, each after its
  label (``The first image:`` ... ``The fourth image:``), pixel for pixel; video frames go as the official
  JPEG bytes with ``detail: low``; ``-M max_images`` refuses more.
* ``hf:`` with a tiny real Qwen2-VL (a multi-image model): the processor gets every image, in order, and a
  model whose chat template takes one image only is refused before any work.
* ``py:``: a class's ``max_images`` is honoured by the same check.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fake_openai_server import FakeOpenAIServer
from qbench.errors import CapabilityError
from qbench.models.base import images_needed, require_images
from qbench.models.openai_compat import create
from qbench.tasks import prompts
from qbench.types import ImageSlot, Request, Text


def noise(seed: int, size: tuple[int, int] = (20, 14)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))


def multi_request(n: int) -> tuple[Request, list[Image.Image]]:
    images = [noise(seed, (20 + seed, 14)) for seed in range(n)]
    content = prompts.a1_content("Which image is the sharpest?", ["first", "second", "third"], n)
    return Request(content=content, images=tuple(images), image_keys=tuple(map(str, range(n)))), images


def decode(url: str) -> tuple[str, Image.Image]:
    header, _, data = url.partition(",")
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return header, image


def test_labels_run_first_to_fourth() -> None:
    for n in (2, 3, 4):
        parts = prompts.image_parts(n)
        assert [p.text for p in parts if isinstance(p, Text)] == list(prompts.IMAGE_LABELS[:n])
        assert [p.index for p in parts if isinstance(p, ImageSlot)] == list(range(n))
    assert prompts.image_parts(2)[0].text == "The first image:"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="one to 4 images"):
        prompts.image_parts(5)


@pytest.mark.parametrize("n", [3, 4])
def test_openai_sends_every_image_in_order_after_its_label(n: int) -> None:
    request, images = multi_request(n)
    with FakeOpenAIServer(lambda body: "B") as server:
        model = create("m", {"api_base": server.url, "api_key": "k"})
        assert model.generate([request]) == ["B"]
        model.close()
    parts = server.bodies[0]["messages"][-1]["content"]
    labels = [i for i, p in enumerate(parts) if p["type"] == "text" and p["text"] in prompts.IMAGE_LABELS]
    assert [parts[i]["text"] for i in labels] == list(prompts.IMAGE_LABELS[:n])
    for k, i in enumerate(labels):
        assert parts[i + 1]["type"] == "image_url"  # each image right after its own label
        _, got = decode(parts[i + 1]["image_url"]["url"])
        assert np.array_equal(np.asarray(got), np.asarray(images[k]))  # the k-th image, pixel for pixel
    assert parts[-1]["type"] == "text" and parts[-1]["text"].startswith("Which image is the sharpest?")


def test_openai_max_images_refuses_with_one_line() -> None:
    model = create("m", {"api_base": "http://127.0.0.1:9/v1", "api_key": "k", "max_images": "2"})
    require_images(model, 2, "a1")
    with pytest.raises(CapabilityError) as caught:
        require_images(model, 4, "micbench")
    assert caught.value.one_line() == (
        "model 'openai:m' takes at most 2 image(s) per request; task micbench sends 4"
    )
    assert caught.value.exit_code == 2


def test_openai_sends_attached_frame_jpeg_with_low_detail() -> None:
    from qbench.data.video import API_JPEG, api_frame

    frame = api_frame(noise(3, (1024, 600)))
    request = Request(content=(Text("The video frames:"), ImageSlot(0), Text("Q?")), images=(frame,))
    with FakeOpenAIServer(lambda body: "A.") as server:
        model = create("m", {"api_base": server.url, "api_key": "k", "image_format": "png"})
        model.generate([request])
        model.close()
    (part,) = [p for p in server.bodies[0]["messages"][-1]["content"] if p["type"] == "image_url"]
    assert part["image_url"]["detail"] == "low"
    header, got = decode(part["image_url"]["url"])
    assert header == "data:image/jpeg;base64" and got.size == (512, 300)
    assert base64.b64decode(part["image_url"]["url"].partition(",")[2]) == frame.info[API_JPEG]


class OneImageModel:
    max_images = 1

    def generate(self, requests: list[Request]) -> list[str]:
        return ["A" for _ in requests]


def test_py_class_max_images_and_what_a_task_needs() -> None:
    with pytest.raises(CapabilityError, match="takes at most 1 image"):
        require_images(OneImageModel(), 3, "micbench")
    require_images(OneImageModel(), 1, "a1")

    class Samples:
        images = (Path("a"), Path("b"), Path("c"))

    assert images_needed(object(), [Samples()]) == 3

    class FrameTask:
        def images_per_request(self, samples: Any) -> int:
            return 16

    assert images_needed(FrameTask(), [Samples()]) == 16


# -- hf: ----------------------------------------------------------------------------------------------------


ONE_IMAGE_TEMPLATE = (
    "{% for message in messages %}{% if message['content'] | selectattr('type', 'equalto', 'image') | list"
    " | length > 1 %}{{ raise_exception('This model takes one image per message.') }}{% endif %}{% endfor %}"
)


@pytest.mark.hf
@pytest.mark.parametrize("n", [3, 4])
def test_hf_multi_image_model_gets_every_image_in_order(n: int) -> None:
    pytest.importorskip("transformers")
    import tiny_models
    from qbench.models.hf import create as create_hf

    model = create_hf(str(tiny_models.cached("qwen2_vl")), {"max_new_tokens": "3"})
    model.check_images(n)  # the template and processor take n images
    require_images(model, n, "micbench")
    request, images = multi_request(n)
    text, rendered = model.render(request)
    assert rendered == images  # the processor gets every image, in order
    assert text.count("<|vision_start|>") == n
    positions = [text.index(label) for label in prompts.IMAGE_LABELS[:n]]
    assert positions == sorted(positions)  # labels (and so their images) in order, in the model's template
    (reply,) = model.generate([request])
    assert isinstance(reply, str)
    model.close()


@pytest.mark.hf
def test_hf_model_whose_template_takes_one_image_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    import shutil

    import tiny_models
    from qbench.models.hf import create as create_hf

    folder = tmp_path / "one-image-llava"
    shutil.copytree(tiny_models.cached("llava"), folder)
    template = (folder / "chat_template.jinja").read_text()
    (folder / "chat_template.jinja").write_text(ONE_IMAGE_TEMPLATE + template)
    model = create_hf(str(folder), {})
    require_images(model, 1, "a1")
    with pytest.raises(CapabilityError) as caught:
        require_images(model, 3, "micbench")
    line = caught.value.one_line()
    assert "cannot take 3 images in one request" in line and "one image per message" in line
    assert "\n" not in line
    model.close()
