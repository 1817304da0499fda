"""Every prompt qbench sends, as named, versioned constants (protocol.md 1.5, 2.4, 3, 4.1 and 8.1).

A change of wording is a new version: the version goes into each run's manifest and fingerprint, so old
numbers are never silently mixed with new ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from qbench.protocol import A3_PREFIX, A3_WORDS, OPTION_LETTERS
from qbench.types import ImageSlot, Part, Text

__all__ = ["A3_PREFIX", "A3_WORDS", "OPTION_LETTERS"]  # re-exported from qbench.protocol

# A1 perception (protocol 8.1; the authors' LLaVA script model_vqa_qbench.py)
A1_PROMPT_VERSION = "a1-official-v1"
A1_INSTRUCTION = {"en": "Choose between one of the options as follows:", "zh": "在下列选项中选择一个:"}
PAIR_LABELS = ("The first image:", "The second image:")
#: Labels before each image of a multi-image question (Q-Bench2 pairs, MICBench's 3-4 images; protocol 9.6).
IMAGE_LABELS = ("The first image:", "The second image:", "The third image:", "The fourth image:")

# A2 description (protocol 3)
A2_PROMPT_VERSION = "a2-official-v1"
A2_SINGLE = "Describe the quality, aesthetics and other low-level appearance of the image in details."
A2_PAIR = "Compare and jointly analyze the quality, aesthetics and other low-level appearance of the images in details."

# A3 assessment (protocol 4.1 and 8.1)
A3_PROMPT_VERSION = "a3-official-v1"
A3_QUESTION = "Rate the quality of the image."
A3_TEMPERATURE = 100.0


def option_lines(options: Sequence[str]) -> str:
    """``A. High\\nB. Low\\n...`` — one line per option, as the official script writes them."""
    return "".join(f"{OPTION_LETTERS[i]}. {opt}\n" for i, opt in enumerate(options))


def a1_text(question: str, options: Sequence[str], lang: str = "en") -> str:
    """The official A1 user text: question, instruction, option lines."""
    return f"{question}\n{A1_INSTRUCTION[lang]}\n{option_lines(options)}"


def image_parts(n_images: int) -> tuple[Part, ...]:
    """One image first; several as ``The first image:`` image ``The second image:`` image ... (protocol 8.1,
    9.6), up to ``The fourth image:``."""
    if n_images == 1:
        return (ImageSlot(0),)
    if 2 <= n_images <= len(IMAGE_LABELS):
        return tuple(part for i in range(n_images) for part in (Text(IMAGE_LABELS[i]), ImageSlot(i)))
    raise ValueError(f"Q-Bench prompts take one to {len(IMAGE_LABELS)} images, not {n_images}")


def a1_content(question: str, options: Sequence[str], n_images: int, lang: str = "en") -> tuple[Part, ...]:
    return (*image_parts(n_images), Text(a1_text(question, options, lang)))


def a1_options_content(question: str, n_images: int, lang: str = "en") -> tuple[Part, ...]:
    """The close-set (perplexity) mode shows no options (official a1_perception_demo_perplexity.py)."""
    return (*image_parts(n_images), Text(f"{question}\n{A1_INSTRUCTION[lang]}\n"))


def a2_content(n_images: int) -> tuple[Part, ...]:
    return (*image_parts(n_images), Text(A2_SINGLE if n_images == 1 else A2_PAIR))


def a3_content() -> tuple[Part, ...]:
    return (ImageSlot(0), Text(A3_QUESTION))
