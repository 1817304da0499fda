"""Tiny random models of real transformers image-text-to-text classes, saved as ordinary checkpoint folders.

Nothing can be downloaded here, yet the ``hf:`` adapter must be tested against the real model and processor
classes (chat templates, image placeholders, left padding, Qwen's 3-D rotary positions, Idefics3's image
tiling). So each builder trains a ~400-token byte-level BPE tokenizer on Q-Bench-like sentences (so that
`` good``, `` poor``, ``A``..``D`` are real tokens), gives the processor a small chat template in the family's
own style, makes a config with hidden size 32 and two layers, and ``save_pretrained``s model and processor
into a folder that ``AutoModelForImageTextToText`` / ``AutoProcessor`` load offline; each takes a second.

Weights are random but seeded, so scores are reproducible; they are also scaled up (``_sharpen``) so that
different images and options give clearly different logits, which makes "batched equals unbatched" and
"argmin of the losses" meaningful checks rather than comparisons of near-identical numbers.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

FAMILIES = ("llava", "llava_next", "qwen2_vl", "qwen2_5_vl", "internvl", "idefics3", "smolvlm")

SENTENCES = [
    "Rate the quality of the image.",
    "The quality of the image is good.",
    "The quality of the image is poor.",
    "The quality of the image is excellent, high, fine, fair, low, bad.",
    "How is the clarity of the image? Choose between one of the options as follows:",
    "A. High\nB. Medium\nC. Low\nD. Very low",
    "Is the image blurry? Yes or No. The answer is Yes. The answer is No.",
    "The first image: The second image: Which image is sharper?",
    "Describe the quality, aesthetics and other low-level appearance of the image in details.",
    "Compare and jointly analyze the quality, aesthetics and other low-level appearance of the images.",
    "The image has noise, blur, low light, overexposure, compression artifacts and good sharpness.",
    "USER: ASSISTANT: User: Assistant: system user assistant You are a helpful assistant.",
    "What is the main distortion? Noise Blur Motion Underexposure Overexposure",
    "Is the color of the image vivid? Which part is the clearest? The sky, the face, the background.",
    "The lighting is sufficient. The texture is rich. The composition is balanced.",
]
# the official level words must be single tokens, as in real vocabularies; rarer words may split (and the
# adapter must then record that), so they appear only once above
LEVEL_SENTENCES = ["The quality of the image is good", "The quality of the image is poor", "good poor"]


def _train_tokenizer(special: list[str], vocab_size: int = 400) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` knowing the benchmark's words and the family's specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(SENTENCES * 4 + LEVEL_SENTENCES * 20, trainer=trainer)
    return tok


def _wrap(
    tok: Any, *, bos: str | None, eos: str, pad: str, extra: list[str] | dict[str, str], add_bos: bool
) -> Any:
    """A transformers fast tokenizer around ``tok``; ``add_bos`` prepends BOS like a LLaMA tokenizer does."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    if add_bos and bos is not None:
        bos_id = tok.token_to_id(bos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        pad_token=pad,
        extra_special_tokens=extra,
        padding_side="left",
    )


def _sharpen(model: Any, seed: int) -> Any:
    """Re-draw every weight matrix with a larger spread so that logits depend visibly on the input."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
            elif "norm" not in name and "ln" not in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
    return model.eval()


# Shared sizes: hidden 32, two layers, two heads; the vocabulary is the tiny tokenizer's.
TEXT = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}


def _text_config(tok: Any, **extra: Any) -> dict[str, Any]:
    return {
        **TEXT,
        "vocab_size": len(tok),
        "bos_token_id": tok.bos_token_id or tok.pad_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        **extra,
    }


# --- LLaVA-1.5 and LLaVA-NeXT (llava-hf layout): CLIP tower + LLaMA; "USER: <image>\n... ASSISTANT:" -----
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def _build_llava_like(folder: Path, seed: int, next_: bool) -> Path:
    """LLaVA-1.5 (one 28-pixel crop, 4 image tokens) or LLaVA-NeXT ("anyres": the token count depends on
    the image's shape, so batches need padding)."""
    import torch
    import transformers as tf
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    tok = _wrap(
        _train_tokenizer(specials), bos="<s>", eos="</s>", pad="<pad>", extra=["<image>"], add_bos=True
    )
    crop = {"size": {"shortest_edge": 28}, "crop_size": {"height": 28, "width": 28}}
    pinpoints = [[28, 56], [56, 28], [56, 56]]
    if next_:
        image_processor: Any = LlavaNextImageProcessorPil(**crop, image_grid_pinpoints=pinpoints)
        processor_cls, config_cls = tf.LlavaNextProcessor, tf.LlavaNextConfig
        model_cls = tf.LlavaNextForConditionalGeneration
    else:
        image_processor = LlavaImageProcessorPil(**crop)
        processor_cls, config_cls = tf.LlavaProcessor, tf.LlavaConfig
        model_cls = tf.LlavaForConditionalGeneration
    processor = processor_cls(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=14,
        num_additional_image_tokens=1,
        vision_feature_select_strategy="default",
        chat_template=LLAVA_TEMPLATE,
    )
    config = config_cls(
        vision_config=tf.CLIPVisionConfig(**VISION, image_size=28, patch_size=14, projection_dim=32),
        text_config=tf.LlamaConfig(**_text_config(tok)),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        **({"image_grid_pinpoints": pinpoints} if next_ else {}),
    )
    torch.manual_seed(seed)
    return _save(folder, _sharpen(model_cls(config), seed), processor)


def build_llava(folder: Path, seed: int = 0) -> Path:
    return _build_llava_like(folder, seed, next_=False)


def build_llava_next(folder: Path, seed: int = 4) -> Path:
    return _build_llava_like(folder, seed, next_=True)


# --- Qwen2-VL and Qwen2.5-VL: native-resolution ViT with 2x2 merge, 3-D rotary positions; ChatML ----------
QWEN_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def _build_qwen_like(folder: Path, seed: int, v2_5: bool) -> Path:
    """Qwen2-VL, or Qwen2.5-VL (windowed vision attention, SwiGLU vision tower); both need the image-only
    processor because their processor classes insist on a video processor (environment.md)."""
    import torch
    import transformers as tf
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from qbench.models.hf_processors import image_only_processor_class

    tok = _wrap(
        _train_tokenizer(QWEN_SPECIAL),
        bos=None,
        eos="<|im_end|>",
        pad="<|endoftext|>",
        extra=QWEN_SPECIAL[1:],
        add_bos=False,
    )
    # 28x28 pixels per merged token: 4 to 16 image tokens per image keeps the sequences short
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    processor = image_only_processor_class("qwen2_5_vl" if v2_5 else "qwen2_vl")(
        image_processor=image_processor, tokenizer=tok, chat_template=QWEN_TEMPLATE
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    rope = {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0}  # sums to head_dim/2
    common = {"patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "num_heads": 2, "depth": 2}
    if v2_5:
        vision = {
            **common,
            "hidden_size": 32,
            "intermediate_size": 64,
            "out_hidden_size": 32,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        }
        config_cls, model_cls = tf.Qwen2_5_VLConfig, tf.Qwen2_5_VLForConditionalGeneration
    else:
        vision = {**common, "embed_dim": 32, "hidden_size": 32, "mlp_ratio": 2}
        config_cls, model_cls = tf.Qwen2VLConfig, tf.Qwen2VLForConditionalGeneration
    config = config_cls(
        text_config=_text_config(tok, rope_parameters=rope),
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    _save(folder, _sharpen(model_cls(config), seed), processor)
    if not v2_5:
        # current Qwen checkpoints ship a video processor config; with it, AutoProcessor fails on torchvision,
        # without it (Qwen2.5-VL here) on the missing file: the adapter must get past both
        video = {**image_processor.to_dict(), "video_processor_type": "Qwen2VLVideoProcessor"}
        video.pop("image_processor_type", None)
        (folder / "video_preprocessor_config.json").write_text(json.dumps(video, indent=2, default=str))
    return folder


def build_qwen2_vl(folder: Path, seed: int = 1) -> Path:
    return _build_qwen_like(folder, seed, v2_5=False)


def build_qwen2_5_vl(folder: Path, seed: int = 5) -> Path:
    return _build_qwen_like(folder, seed, v2_5=True)


# --- InternVL (transformers-native "-hf" layout): InternViT tiles + pixel shuffle, Qwen2 text model -------
INTERNVL_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
INTERNVL_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<video>",
]


def build_internvl(folder: Path, seed: int = 6) -> Path:
    import torch
    from transformers import InternVLConfig, InternVLForConditionalGeneration
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from qbench.models.hf_processors import image_only_processor_class

    # the tokenizer attributes InternVL's processor reads
    names = {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    }
    tok = _wrap(
        _train_tokenizer(INTERNVL_SPECIAL),
        bos=None,
        eos="<|im_end|>",
        pad="<|endoftext|>",
        extra=names,
        add_bos=False,
    )
    # 56-pixel tiles of 14-pixel patches, pixel shuffle 0.5: 4 tokens per tile; up to 4 tiles and a thumbnail
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": 56, "width": 56}, crop_to_patches=True, min_patches=1, max_patches=4
    )
    processor = image_only_processor_class("internvl")(
        image_processor=image_processor, tokenizer=tok, image_seq_length=4, chat_template=INTERNVL_TEMPLATE
    )
    config = InternVLConfig(
        vision_config={**VISION, "image_size": [56, 56], "patch_size": [14, 14]},
        text_config=_text_config(tok, model_type="qwen2"),
        image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=4,
        downsample_ratio=0.5,
    )
    torch.manual_seed(seed)
    return _save(folder, _sharpen(InternVLForConditionalGeneration(config), seed), processor)


# --- Idefics3 / SmolVLM: SigLIP tiles + pixel shuffle; "<|im_start|>User:<image>...<end_of_utterance>" ----
IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
IDEFICS3_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *[f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)],
]


def _build_idefics3_like(folder: Path, seed: int, smol: bool) -> Path:
    """Idefics3, or SmolVLM (the same layout; its processor wants a video processor, Idefics3's does not)."""
    import torch
    import transformers as tf
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    from qbench.models.hf_processors import image_only_processor_class

    tok = _wrap(
        _train_tokenizer(IDEFICS3_SPECIAL),
        bos="<|im_start|>",
        eos="<end_of_utterance>",
        pad="<|im_end|>",
        extra=IDEFICS3_SPECIAL[3:],
        add_bos=False,
    )
    # 32-pixel tiles of 8-pixel patches, pixel shuffle 2: 4 image tokens per tile; up to 2x2 tiles + global
    sizes = {"size": {"longest_edge": 64}, "max_image_size": {"longest_edge": 32}, "do_image_splitting": True}
    if smol:
        image_processor: Any = SmolVLMImageProcessorPil(**sizes)
        processor_cls = image_only_processor_class("smolvlm")
        config_cls, model_cls = tf.SmolVLMConfig, tf.SmolVLMForConditionalGeneration
    else:
        image_processor = Idefics3ImageProcessorPil(**sizes)
        processor_cls = tf.Idefics3Processor
        config_cls, model_cls = tf.Idefics3Config, tf.Idefics3ForConditionalGeneration
    processor = processor_cls(
        image_processor=image_processor, tokenizer=tok, image_seq_len=4, chat_template=IDEFICS3_TEMPLATE
    )
    config = config_cls(
        text_config=_text_config(tok),
        vision_config={**VISION, "image_size": 32, "patch_size": 8},
        scale_factor=2,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    return _save(folder, _sharpen(model_cls(config), seed), processor)


def build_idefics3(folder: Path, seed: int = 2) -> Path:
    return _build_idefics3_like(folder, seed, smol=False)


def build_smolvlm(folder: Path, seed: int = 3) -> Path:
    return _build_idefics3_like(folder, seed, smol=True)


def _save(folder: Path, model: Any, processor: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / "qbench_tiny.json").write_text(json.dumps({"tiny": True, "class": type(model).__name__}))
    return folder


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "llava": build_llava,
    "llava_next": build_llava_next,
    "qwen2_vl": build_qwen2_vl,
    "qwen2_5_vl": build_qwen2_5_vl,
    "internvl": build_internvl,
    "idefics3": build_idefics3,
    "smolvlm": build_smolvlm,
}


def build(family: str, root: Path) -> Path:
    """The folder of family's tiny model under ``root``, built on first use."""
    folder = root / family
    if not (folder / "qbench_tiny.json").exists():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        BUILDERS[family](folder)
    return folder


_ROOT: Path | None = None


def cached(family: str) -> Path:
    """The family's tiny model, built once per process (test session) in a temporary folder.

    A plain module-level cache rather than a fixture's, so that every test module that imports this helper
    shares the same folders (a session fixture imported into two modules would be built twice).
    """
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="qbench-tiny-"))
        atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
    return build(family, _ROOT)
