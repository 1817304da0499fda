"""The small frozen values that flow between data loaders, tasks, models and the run store.

They are plain dataclasses (no pydantic) so that importing qbench stays cheap; each validates what it can in
``__post_init__`` so that a wrong value fails where it is made, not three modules later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Capability = Literal["generate", "score_tokens", "score_options", "quality"]
CAPABILITIES: tuple[Capability, ...] = ("generate", "score_tokens", "score_options", "quality")


@dataclass(frozen=True)
class Sample:
    """One benchmark item: its images and whatever the task needs to ask and to score.

    One type serves all tasks (unused fields stay empty) so that loaders, stores and reports need no
    per-task variants. ``id`` is unique within a dataset and stable across runs (resume relies on it).
    """

    id: str
    images: tuple[Path, ...]
    mos: float | None = None
    question: str | None = None
    options: tuple[str, ...] = ()
    answer: str | None = None  # gold letter "A".."D"; None when hidden (test split)
    qtype: int | None = None  # 0 yes-or-no, 1 what, 2 how
    concern: int | None = None
    reference: str | None = None  # A2 golden description
    source: str = ""  # the item's own name in its file (img_path as written), for reports and submissions
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("Sample.id must not be empty")
        if self.mos is not None and not math.isfinite(self.mos):
            raise ValueError(f"Sample {self.id}: mos must be a finite number, got {self.mos!r}")
        if self.answer is not None and self.options:
            letters = "ABCDEFGH"[: len(self.options)]
            if self.answer not in letters:
                raise ValueError(f"Sample {self.id}: answer {self.answer!r} is not one of {letters}")


@dataclass(frozen=True)
class Text:
    """A piece of text inside a user turn."""

    text: str


@dataclass(frozen=True)
class ImageSlot:
    """The place of image number ``index`` (into ``Request.images``) inside a user turn."""

    index: int


Part = Text | ImageSlot


@dataclass(frozen=True)
class Request:
    """What a task asks of a model: one user turn of text and images, and what to return.

    Adapters turn ``content`` into their own chat format; tasks never know which model answers.
    ``images`` are decoded PIL images; ``image_keys`` are their content hashes (for the response cache).
    """

    content: tuple[Part, ...]
    images: tuple[Any, ...] = ()
    image_keys: tuple[str, ...] = ()
    system: str | None = None
    assistant_prefix: str = ""  # the start of the assistant's reply (A3: "The quality of the image is")
    words: tuple[str, ...] = ()  # score_tokens: the level words whose next-token logits are wanted
    options: tuple[str, ...] = ()  # score_options: candidate answers whose loss is wanted
    max_new_tokens: int = 512
    greedy: bool = (
        True  # False: the model's default sampling (judge rounds); such requests are cached per round
    )
    # explicit decoding of a sampled request (greedy=False), as sorted (name, value) pairs: temperature, top_k,
    # top_p, seed (A3 ratings with -T samples=K use their authors' published settings). Empty: greedy, or the
    # model's own default sampling.
    sampling: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        for part in self.content:
            if isinstance(part, ImageSlot) and not 0 <= part.index < max(
                len(self.images), len(self.image_keys)
            ):
                raise ValueError(f"ImageSlot({part.index}) has no image ({len(self.images)} given)")

    @property
    def text(self) -> str:
        """The user turn's text alone (images dropped), for adapters without image placement."""
        return "".join(p.text for p in self.content if isinstance(p, Text))

    def describe(self) -> dict[str, Any]:
        """A JSON-able description without pixels: used for cache keys and records."""
        return {
            "content": [p.text if isinstance(p, Text) else {"image": p.index} for p in self.content],
            "image_keys": list(self.image_keys),
            "system": self.system,
            "assistant_prefix": self.assistant_prefix,
            "words": list(self.words),
            "options": list(self.options),
            "max_new_tokens": self.max_new_tokens,
            "greedy": self.greedy,
            **({"sampling": dict(self.sampling)} if self.sampling else {}),
        }


@dataclass(frozen=True)
class Record:
    """The outcome of one sample in a run: the task's output fields, or an error.

    Records are appended to ``records.jsonl``; a sample with ``error`` set is retried on resume.
    """

    id: str
    output: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **dict(self.output), "error": self.error}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Record:
        data = dict(obj)
        rid = str(data.pop("id"))
        error = data.pop("error", None)
        return cls(id=rid, output=data, error=error)
