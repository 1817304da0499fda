"""``-T samples=K``: the published sampling settings, a recorded seed per sample, mean and spread per image.

Greedy decoding is the reproducible default. With K samples, every sample of an image is decoded with the
settings its prompt's authors published (protocol.md 9.3) and its own seed (``seed + k``), so that each sample
is a separate, cacheable and resumable request whose randomness is recorded:

- VisualQuality-R1: ``do_sample`` with ``top_k=50, top_p=1`` (README), temperature 1.0, seed 42 in our runs;
- Q-Insight: ``temperature=1.0, top_k=50, top_p=0.95`` and ``set_seed(42)`` (``demo_score.py``).

:func:`aggregate` reduces the parsed samples of one image to mean and standard deviation (ddof 1; 0 for a
single parsed sample). Unparsed samples never enter the mean; an image without a parsed sample has no score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_SEED = 42


@dataclass(frozen=True)
class Sampling:
    """Decoding settings for one sampled request (``greedy`` when ``temperature`` is 0)."""

    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def with_seed(self, seed: int) -> Sampling:
        return Sampling(self.temperature, self.top_k, self.top_p, seed)

    def describe(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p, "seed": self.seed}

    def hf_kwargs(self) -> dict[str, Any]:
        """``model.generate`` keyword arguments (the seed is set around the call by the adapter)."""
        if self.greedy:
            return {"do_sample": False}
        out: dict[str, Any] = {"do_sample": True, "temperature": self.temperature}
        if self.top_k is not None:
            out["top_k"] = self.top_k
        if self.top_p is not None:
            out["top_p"] = self.top_p
        return out

    def openai_kwargs(self) -> dict[str, Any]:
        """Chat-completion arguments: ``temperature``, ``top_p``, ``seed``; ``top_k`` as a vLLM/SGLang extra."""
        out: dict[str, Any] = {"temperature": self.temperature}
        if self.greedy:
            return out
        if self.top_p is not None:
            out["top_p"] = self.top_p
        if self.seed is not None:
            out["seed"] = self.seed
        if self.top_k is not None:
            out["extra_body"] = {"top_k": self.top_k}
        return out


GREEDY = Sampling()
#: Published sampling per rating prompt (plain has none: a sampled plain rating uses T=1 and no truncation).
PUBLISHED: dict[str, Sampling] = {
    "vq-r1": Sampling(1.0, 50, 1.0),
    "vq-r1-fast": Sampling(1.0, 50, 1.0),
    "q-insight": Sampling(1.0, 50, 0.95),
    "plain": Sampling(1.0, None, None),
}


def sample_settings(prompt: str, samples: int, seed: int = DEFAULT_SEED) -> list[Sampling]:
    """The settings of each of ``samples`` requests: greedy once for 0 (the default), else seeded samples."""
    if samples < 0:
        raise ValueError("samples must not be negative")
    if samples == 0:
        return [GREEDY]
    base = PUBLISHED[prompt]
    return [base.with_seed(seed + k) for k in range(samples)]


@dataclass(frozen=True)
class Spread:
    """The parsed samples of one image: their mean and standard deviation, and how many were unparsed."""

    mean: float
    std: float
    n: int
    unparsed: int

    def describe(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n, "unparsed": self.unparsed}


def aggregate(ratings: Sequence[float | None]) -> Spread:
    """Mean and sample std (ddof 1) of the parsed ratings; NaN mean when none parsed (never imputed)."""
    parsed = [float(r) for r in ratings if r is not None]
    unparsed = len(ratings) - len(parsed)
    if not parsed:
        return Spread(math.nan, math.nan, 0, unparsed)
    mean = math.fsum(parsed) / len(parsed)
    if len(parsed) == 1:
        return Spread(mean, 0.0, 1, unparsed)
    var = math.fsum((r - mean) ** 2 for r in parsed) / (len(parsed) - 1)
    return Spread(mean, math.sqrt(var), len(parsed), unparsed)
