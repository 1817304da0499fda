"""The ``hf:`` adapter against tiny random models of the real transformers classes (LLaVA, LLaVA-NeXT,
Qwen2-VL, Qwen2.5-VL, InternVL, Idefics3, SmolVLM): every number it returns is checked against a direct
transformers computation on a prompt written out by hand in the family's official format, so a wrong template,
a missing space, a shifted position or a wrong level-word token shows up as a mismatch rather than passing.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import tiny_models  # noqa: E402
from qbench.errors import ModelError, UsageError  # noqa: E402
from qbench.models.base import capabilities, load_model, model_fingerprint  # noqa: E402
from qbench.tasks import prompts  # noqa: E402
from qbench.tasks.base import two_way_softmax  # noqa: E402
from qbench.types import ImageSlot, Part, Request, Text  # noqa: E402

pytestmark = pytest.mark.hf

FAMILIES = tiny_models.FAMILIES
QALIGN = ("excellent", "good", "fair", "poor", "bad")
TOL = 1e-4


# -- helpers -------------------------------------------------------------------------------------------------
def image(seed: int, size: tuple[int, int] = (48, 64)) -> Image.Image:
    """A structured test picture (gradient, blocks and seeded noise), different for every seed and size."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * (3 + seed)) % 256, (yy * (5 + seed)) % 256, ((xx + yy) * 7) % 256], axis=-1)
    noise = rng.normal(0, 10 + 10 * (seed % 4), size=(h, w, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


IMAGES = [image(i, size) for i, size in enumerate([(48, 64), (64, 40), (30, 30), (56, 56), (40, 90)])]


def official_text(family: str, content: tuple[Part, ...], reply: str) -> str:
    """The prompt written out by hand in the family's format, with the protocol 8.1 space before the reply."""
    texts = [p.text for p in content if isinstance(p, Text)]
    if family in ("llava", "llava_next"):  # llava-hf's template: images, then each text and a space
        n = sum(isinstance(p, ImageSlot) for p in content)
        prompt = "USER: " + "<image>\n" * n + "".join(t + " " for t in texts) + "ASSISTANT:"
        return prompt + (" " + reply if reply else "")
    if family in ("qwen2_vl", "qwen2_5_vl"):
        vision = "<|vision_start|><|image_pad|><|vision_end|>"
        body = "".join(vision if isinstance(p, ImageSlot) else p.text for p in content)
        system = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        return f"{system}<|im_start|>user\n{body}<|im_end|>\n<|im_start|>assistant\n" + reply
    if family == "internvl":
        body = "".join("<IMG_CONTEXT>\n" if isinstance(p, ImageSlot) else p.text for p in content)
        return f"<|im_start|>user\n{body}<|im_end|>\n<|im_start|>assistant\n" + reply
    body = "".join("<image>" if isinstance(p, ImageSlot) else p.text for p in content)
    colon = ":" if isinstance(content[0], ImageSlot) else ": "
    return f"<|im_start|>User{colon}{body}<end_of_utterance>\nAssistant:" + (" " + reply if reply else "")


_DIRECT: dict[str, tuple[Any, Any]] = {}


def direct(family: str) -> tuple[Any, Any]:
    """The family's processor and model loaded straight through transformers (not through the adapter)."""
    if family not in _DIRECT:
        from qbench.models.hf_processors import image_only_processor_class

        folder = tiny_models.cached(family)
        try:
            processor = transformers.AutoProcessor.from_pretrained(folder)
            assert isinstance(processor, transformers.ProcessorMixin)
        except (OSError, ImportError, AssertionError):  # the video-processor families (environment.md)
            config = transformers.AutoConfig.from_pretrained(folder)
            processor = image_only_processor_class(config.model_type).from_pretrained(folder)
        model = transformers.AutoModelForImageTextToText.from_pretrained(folder).eval()
        _DIRECT[family] = (processor, model)
    return _DIRECT[family]


def direct_inputs(family: str, text: str, images: list[Image.Image]) -> Any:
    processor, _ = direct(family)
    return processor(text=[text], images=[images] if images else None, return_tensors="pt")


def direct_last_logits(family: str, content: tuple[Part, ...], images: list[Image.Image], reply: str) -> Any:
    _, model = direct(family)
    with torch.no_grad():
        return model(**direct_inputs(family, official_text(family, content, reply), images)).logits[0, -1]


def word_id(family: str, word: str) -> int:
    """`` word``'s first token, straight from the tokenizer (byte-level BPE: the space-prefixed token)."""
    processor, _ = direct(family)
    return processor.tokenizer(" " + word, add_special_tokens=False)["input_ids"][0]


_MODELS: dict[tuple[str, str], Any] = {}


def adapter(family: str, **options: str) -> Any:
    key = (family, json.dumps(options, sort_keys=True))
    if key not in _MODELS:
        _MODELS[key] = load_model(f"hf:{tiny_models.cached(family)}", options)
    return _MODELS[key]


def a3_request(img: Image.Image, words: tuple[str, ...] = prompts.A3_WORDS) -> Request:
    return Request(
        content=prompts.a3_content(), images=(img,), assistant_prefix=prompts.A3_PREFIX, words=words
    )


# -- A3: the official score --------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_a3_scores_equal_direct_official_computation(family: str) -> None:
    model = adapter(family)
    results = model.score_tokens([a3_request(img) for img in IMAGES[:3]])
    good, poor = word_id(family, "good"), word_id(family, "poor")
    for img, got in zip(IMAGES[:3], results):
        logits = direct_last_logits(family, prompts.a3_content(), [img], prompts.A3_PREFIX)
        assert got["good"] == pytest.approx(float(logits[good]), abs=TOL)
        assert got["poor"] == pytest.approx(float(logits[poor]), abs=TOL)
        expected = two_way_softmax(float(logits[good]), float(logits[poor]), prompts.A3_TEMPERATURE)
        assert two_way_softmax(got["good"], got["poor"], 100.0) == pytest.approx(expected, abs=1e-6)
    # the images really matter: different pictures, different logits
    assert len({round(r["good"] - r["poor"], 5) for r in results}) == 3
    assert all(isinstance(v, float) for r in results for v in r.values())


@pytest.mark.parametrize("family", FAMILIES)
def test_several_level_words_and_split_words_are_recorded(family: str) -> None:
    model = adapter(family)
    [got] = model.score_tokens([a3_request(IMAGES[0], QALIGN)])
    logits = direct_last_logits(family, prompts.a3_content(), [IMAGES[0]], prompts.A3_PREFIX)
    assert set(got) == set(QALIGN)
    for word in QALIGN:
        assert got[word] == pytest.approx(float(logits[word_id(family, word)]), abs=TOL)
    info = model.info()
    # the tiny vocabulary knows " good" and " poor" whole but spells " excellent" in pieces (protocol 8.2)
    assert "excellent" in info["split_words"] and "good" not in info["split_words"]
    assert info["level_tokens"]["good"]["id"] == word_id(family, "good")


def mixed_requests() -> list[Request]:
    """Requests whose prompts differ in length (question text, system prompt, image size): real padding."""
    question = Text(prompts.a1_text("How is the clarity of the image?", ["High", "Medium", "Low"]))
    return [
        a3_request(IMAGES[0]),
        Request(
            content=(ImageSlot(0), question),
            images=(IMAGES[1],),
            assistant_prefix="The answer is",
            words=("A", "B", "C"),
        ),
        Request(
            content=prompts.a3_content(),
            images=(IMAGES[2],),
            system="You rate images.",
            assistant_prefix=prompts.A3_PREFIX,
            words=QALIGN,
        ),
        a3_request(IMAGES[3]),
        Request(
            content=(*prompts.image_parts(2), Text("Which image is sharper?")),
            images=(IMAGES[4], IMAGES[0]),
            assistant_prefix=prompts.A3_PREFIX,
            words=("good", "poor"),
        ),
    ]


def record_batches(model: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the processor calls the model makes: proof that a batch was not split up behind our back
    (the adapter retries a failed batch one request at a time, which would make any comparison pass)."""
    sizes: list[int] = []
    encode = model._encode

    def recording(texts: list[str], images: list[list[Any]], processor: Any = None) -> Any:
        sizes.append(len(texts))
        return encode(texts, images, processor)

    monkeypatch.setattr(model, "_encode", recording)
    return sizes


@pytest.mark.parametrize("family", FAMILIES)
def test_scores_are_bit_identical_to_the_one_image_loop(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default each request is forwarded alone, padded batch or not, prepared ahead or not: the logits are
    exactly (==, not approx) those of the official loop, which forwards one image at a time."""
    model = adapter(family)
    requests = [a3_request(img) for img in IMAGES[:3]] + mixed_requests()
    alone = [model.score_tokens([r])[0] for r in requests]
    assert model.score_tokens(requests) == alone
    prepared = model.prepare("score_tokens", requests)
    assert model.score_tokens(requests, prepared) == alone
    good, poor = word_id(family, "good"), word_id(family, "poor")
    for img, got in zip(IMAGES[:3], alone):
        logits = direct_last_logits(family, prompts.a3_content(), [img], prompts.A3_PREFIX)
        assert (got["good"], got["poor"]) == (float(logits[good]), float(logits[poor]))
    assert model.info()["score_forward"] == "one request at a time"
    assert adapter(family, batched_scores="true").info()["score_forward"] == "batched"


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_equals_unbatched(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = adapter(family, batched_scores="true")
    requests = mixed_requests()
    texts = [model.render(r, r.assistant_prefix)[0] for r in requests]
    lengths = {
        int(model._encode([t], [list(r.images)])["input_ids"].shape[1]) for t, r in zip(texts, requests)
    }
    assert len(lengths) > 1, "the batch must need padding for this test to mean anything"
    sizes = record_batches(model, monkeypatch)
    batched = model.score_tokens(requests)
    assert sizes == [len(requests)]
    for request, got in zip(requests, batched):
        [alone] = model.score_tokens([request])
        assert got.keys() == alone.keys()
        for word in got:
            assert got[word] == pytest.approx(alone[word], abs=TOL)
    option_requests = [options_request(IMAGES[i], q, opts) for i, (q, opts) in enumerate(OPTION_ITEMS)]
    sizes.clear()
    batched_losses = model.score_options(option_requests)
    assert sizes == [4, 4, 1]  # 9 (request, option) sequences in chunks of the batch size
    for request, got in zip(option_requests, batched_losses):
        assert got == pytest.approx(model.score_options([request])[0], abs=TOL)


# -- generation ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_generation_one_and_two_images(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = adapter(family)
    sizes = record_batches(model, monkeypatch)
    one = Request(content=prompts.a2_content(1), images=(IMAGES[0],), max_new_tokens=6)
    two = Request(content=prompts.a2_content(2), images=(IMAGES[1], IMAGES[2]), max_new_tokens=6)
    prefixed = Request(
        content=prompts.a3_content(), images=(IMAGES[3],), assistant_prefix="The quality", max_new_tokens=3
    )
    batched = model.generate([one, two, prefixed])
    assert sizes == [2, 1]  # grouped by max_new_tokens: the two 6-token requests together
    assert all(isinstance(text, str) for text in batched)
    assert batched == [model.generate([r])[0] for r in (one, two, prefixed)]
    # each is transformers' own greedy generate on the hand-written prompt, cut at max_new_tokens
    for request, text in zip((one, two, prefixed), batched):
        assert text == direct_generate(family, request, request.max_new_tokens)


def direct_generate(family: str, request: Request, max_new_tokens: int) -> str:
    processor, direct_model = direct(family)
    images = [request.images[p.index] for p in request.content if isinstance(p, ImageSlot)]
    inputs = direct_inputs(family, official_text(family, request.content, request.assistant_prefix), images)
    with torch.no_grad():
        out = direct_model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=processor.tokenizer.pad_token_id,
        )
    new = out[0, inputs["input_ids"].shape[1] :]
    assert len(new) <= max_new_tokens
    return processor.tokenizer.decode(new, skip_special_tokens=True).strip()


def test_max_new_tokens_option_overrides_the_request() -> None:
    model = adapter("llava", max_new_tokens="2")
    request = Request(content=prompts.a2_content(1), images=(IMAGES[0],), max_new_tokens=50)
    [text] = model.generate([request])
    assert text == direct_generate("llava", request, 2)
    assert model.info()["max_new_tokens"] == 2


# -- close-set (perplexity) options ------------------------------------------------------------------------
OPTION_ITEMS = [
    ("How is the clarity of the image?", ("High", "Medium", "Low")),
    ("Is the image blurry?", ("Yes", "No")),
    ("What is the main distortion?", ("Noise", "Blur", "Overexposure", "Motion")),
]


def options_request(img: Image.Image, question: str, options: tuple[str, ...]) -> Request:
    return Request(content=prompts.a1_options_content(question, 1), images=(img,), options=options)


@pytest.mark.parametrize("family", FAMILIES)
def test_score_options_is_the_official_loss_and_picks_the_lowest(family: str) -> None:
    model = adapter(family)
    requests = [options_request(IMAGES[i], q, opts) for i, (q, opts) in enumerate(OPTION_ITEMS)]
    results = model.score_options(requests)
    _, direct_model = direct(family)
    for request, losses in zip(requests, results):
        assert len(losses) == len(request.options)
        expected = []
        for option in request.options:
            inputs = direct_inputs(
                family, official_text(family, request.content, option), [request.images[0]]
            )
            with torch.no_grad():  # the official perplexity demo: labels = input_ids, the model's mean loss
                expected.append(float(direct_model(**inputs, labels=inputs["input_ids"]).loss))
        assert losses == pytest.approx(expected, abs=TOL)
        assert int(np.argmin(losses)) == int(np.argmin(expected))
        assert len(set(np.round(losses, 6))) == len(losses)  # distinct options, distinct losses


# -- identity: info() and the fingerprint ----------------------------------------------------------------
def test_info_identifies_weights_dtype_device_and_image_settings(tmp_path: Path) -> None:
    model = adapter("qwen2_vl")
    info = model.info()
    assert info["model"] == str(tiny_models.cached("qwen2_vl"))
    assert info["class"] == "Qwen2VLForConditionalGeneration" and info["processor"] == "Qwen2VLProcessor"
    assert info["dtype"] == "float32" and info["device"] == "cpu"
    assert info["image_settings"]["size"]["longest_edge"] == 112 * 112
    assert len(info["folder_hash"]) == 16 and info["trust_remote_code"] is False
    json.dumps(info)  # goes into manifest.json as is
    assert capabilities(model) == {"generate", "score_tokens", "score_options"}
    assert model.batch_size == 4  # CPU default

    smaller = adapter("qwen2_vl", max_pixels=str(56 * 56))
    assert smaller.info()["image_settings"]["size"]["longest_edge"] == 56 * 56
    assert model_fingerprint(smaller) != model_fingerprint(model)
    half = adapter("qwen2_vl", dtype="bfloat16")
    assert half.info()["dtype"] == "bfloat16" and model_fingerprint(half) != model_fingerprint(model)
    [scores] = half.score_tokens([a3_request(IMAGES[0])])
    [full] = model.score_tokens([a3_request(IMAGES[0])])
    assert scores["good"] == pytest.approx(full["good"], abs=0.1)  # same model, coarser arithmetic

    # a copy of the folder with one changed file size gets another hash
    copy = tmp_path / "copy"
    shutil.copytree(tiny_models.cached("llava"), copy)
    before = load_model(f"hf:{copy}", {}).info()["folder_hash"]
    (copy / "README.md").write_text("a model card\n")
    assert load_model(f"hf:{copy}", {}).info()["folder_hash"] != before


def test_image_splitting_option_changes_the_image_tokens() -> None:
    tiled, whole = adapter("smolvlm"), adapter("smolvlm", do_image_splitting="false")
    request = a3_request(IMAGES[3])
    tokens = [
        int(m._encode([m.render(request)[0]], [[IMAGES[3]]])["input_ids"].shape[1]) for m in (tiled, whole)
    ]
    assert tokens[0] > tokens[1]
    assert whole.info()["image_settings"]["do_image_splitting"] is False


# -- the processor workaround (environment.md) -------------------------------------------------------------
PROCESSOR_NAMES = {
    "qwen2_vl": "Qwen2VLProcessor",
    "qwen2_5_vl": "Qwen2_5_VLProcessor",
    "internvl": "InternVLProcessor",
    "smolvlm": "SmolVLMProcessor",
}


@pytest.mark.parametrize("family", sorted(PROCESSOR_NAMES))
def test_video_processor_families_get_a_real_image_processor(family: str) -> None:
    """transformers alone fails here (no torchvision for the video processor, or no video processor config)
    or, where torchvision is installed but broken, silently gives the tokenizer; the adapter gets the family's
    own processor class, minus the video part, and the folder it saved looks like the official one."""
    folder = tiny_models.cached(family)
    model = adapter(family)
    assert type(model.processor).__name__ == PROCESSOR_NAMES[family]
    assert model.processor.image_processor is not None and model.processor.tokenizer is not None
    saved = json.loads((folder / "processor_config.json").read_text())
    assert saved["processor_class"] == PROCESSOR_NAMES[family] and "video_processor" not in saved


def test_silent_tokenizer_only_fallback_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """What environment.md describes: AutoProcessor handing back only the tokenizer, without an error."""
    real = transformers.AutoProcessor.from_pretrained

    def tokenizer_only(path: Any, **kwargs: Any) -> Any:
        processor = real(path, **kwargs) if "llava" in str(path) else None
        return (
            processor.tokenizer if processor is not None else transformers.AutoTokenizer.from_pretrained(path)
        )

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", tokenizer_only)
    # Qwen2-VL: the image-only processor is built instead, and the scores are the usual ones
    recovered = load_model(f"hf:{tiny_models.cached('qwen2_vl')}", {})
    assert type(recovered.processor).__name__ == "Qwen2VLProcessor"
    assert recovered.score_tokens([a3_request(IMAGES[0])])[0] == pytest.approx(
        adapter("qwen2_vl").score_tokens([a3_request(IMAGES[0])])[0]
    )
    # LLaVA needs no video processor, so nothing to repair: a clear error instead of image-less prompts
    with pytest.raises(ModelError, match="only a TokenizersBackend"):
        load_model(f"hf:{tiny_models.cached('llava')}", {})


# -- errors: one clear line each -----------------------------------------------------------------------
def test_missing_folder_and_unknown_hub_id(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_model(f"hf:{tmp_path / 'nope'}", {})
    with pytest.raises(ModelError, match="not in the Hugging Face cache"):
        load_model("hf:qbench-test/no-such-model", {})
    with pytest.raises(UsageError, match="needs a model id"):
        load_model("hf:", {})


def test_folder_with_only_a_tokenizer(tmp_path: Path) -> None:
    folder = tmp_path / "text-only"
    folder.mkdir()
    source = tiny_models.cached("llava")
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ):
        shutil.copy(source / name, folder / name)
    with pytest.raises(ModelError, match="has no image processor") as info:
        load_model(f"hf:{folder}", {})
    assert "\n" not in info.value.one_line()


def test_remote_code_only_when_asked(tmp_path: Path) -> None:
    folder = tmp_path / "custom"
    shutil.copytree(tiny_models.cached("llava"), folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="qbench_custom", auto_map={"AutoConfig": "configuration_custom.CustomConfig"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "configuration_custom.py").write_text("raise RuntimeError('remote code ran')\n")
    with pytest.raises(ModelError, match="trust_remote_code=true"):
        load_model(f"hf:{folder}", {})
    with pytest.raises(ModelError, match="remote code ran"):  # asked for: the repository's code does run
        load_model(f"hf:{folder}", {"trust_remote_code": "true"})


def test_option_errors_name_the_option() -> None:
    folder = tiny_models.cached("llava")
    with pytest.raises(UsageError, match="did you mean 'dtype'"):
        load_model(f"hf:{folder}", {"dtpye": "float32"})
    with pytest.raises(UsageError, match="not one of auto, float32"):
        load_model(f"hf:{folder}", {"dtype": "float8"})
    with pytest.raises(UsageError, match="must be a bool"):
        load_model(f"hf:{folder}", {"trust_remote_code": "maybe"})
    with pytest.raises(UsageError, match="Qwen-style"):
        load_model(f"hf:{folder}", {"max_pixels": "1000"})
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA device"):
            load_model(f"hf:{folder}", {"device": "cuda"})
    if importlib.util.find_spec("accelerate") is None:
        with pytest.raises(ModelError, match="needs the Python package 'accelerate'"):
            load_model(f"hf:{folder}", {"device_map": "auto"})


def test_a_bad_request_fails_alone() -> None:
    model = adapter("llava")
    keys_only = Request(
        content=prompts.a3_content(),
        image_keys=("abc",),
        assistant_prefix=prompts.A3_PREFIX,
        words=("good", "poor"),
    )
    results = model.score_tokens([a3_request(IMAGES[0]), keys_only])
    assert isinstance(results[1], ModelError) and "no decoded pixels" in str(results[1])
    assert results[0] == pytest.approx(model.score_tokens([a3_request(IMAGES[0])])[0])
    assert math.isfinite(results[0]["good"])


def test_prepared_batches_from_other_threads_score_exactly_the_same() -> None:
    """The runner pre-processes batches in threads (model.prepare); each thread has its own processor copy."""
    from concurrent.futures import ThreadPoolExecutor

    model = adapter("llava")
    requests = [a3_request(img) for img in (IMAGES * 2)[:6]]
    plain = model.score_tokens(requests[:3]) + model.score_tokens(requests[3:])
    with ThreadPoolExecutor(2) as pool:
        prepared = list(pool.map(lambda rs: model.prepare("score_tokens", rs), [requests[:3], requests[3:]]))
    threaded = model.score_tokens(requests[:3], prepared=prepared[0]) + model.score_tokens(
        requests[3:], prepared=prepared[1]
    )
    assert threaded == plain
    assert model.prepare("score_options", requests) is None  # options are encoded in chunks of their own
    mixed = [requests[0], Request(content=prompts.a2_content(1), images=(IMAGES[0],), max_new_tokens=3)]
    assert model.prepare("generate", mixed) is None  # two generation settings: two batches
