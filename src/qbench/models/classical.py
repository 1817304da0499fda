"""Classical baselines and the random floor, as models with the ``quality`` capability.

NIQE and BRISQUE are "lower is better"; qbench's convention is "higher is better", so their adapters return
the negated value (the sign flips SRCC/PLCC, not their magnitude). ``random`` gives seeded scores derived from
each request's content, so a resumed or re-batched run gets the same numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qbench.options import parse_options
from qbench.types import Request


class ClassicalIQA:
    """A no-reference IQA function wrapped as a model (decode happens in the runner's workers)."""

    batch_size = 4

    def __init__(self, name: str, function: Any, version: str) -> None:
        self.name = name
        self._function = function
        self._version = version

    def info(self) -> dict[str, Any]:
        return {"kind": "classical-iqa", "version": self._version, "sign": "negated (higher is better)"}

    def quality(self, images: Sequence[Any]) -> list[float]:
        return [-float(self._function(img)) for img in images]


def create_niqe(arg: str, options: Mapping[str, str]) -> ClassicalIQA:
    parse_options(options, {}, "niqe")
    from qbench.models.niqe import niqe

    return ClassicalIQA("niqe", niqe, "niqe-v1")


def create_brisque(arg: str, options: Mapping[str, str]) -> ClassicalIQA:
    parse_options(options, {}, "brisque")
    from qbench.models.brisque import brisque

    return ClassicalIQA("brisque", brisque, "brisque-v1")


class RandomModel:
    """Seeded random answers: a floor for every task that needs no text generation."""

    name = "random"
    batch_size = 64

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def info(self) -> dict[str, Any]:
        return {"kind": "random", "seed": self.seed}

    def _rng(self, request: Request) -> np.random.Generator:
        blob = json.dumps(request.describe(), sort_keys=True).encode() + str(self.seed).encode()
        return np.random.default_rng(int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "little"))

    def quality(self, images: Sequence[Any]) -> list[float]:
        out = []
        for img in images:
            digest = hashlib.blake2b(
                np.asarray(img).tobytes()[: 1 << 16] + str(self.seed).encode(), digest_size=8
            )
            out.append(float(np.random.default_rng(int.from_bytes(digest.digest(), "little")).random()))
        return out

    def score_tokens(self, requests: Sequence[Request]) -> list[dict[str, float]]:
        return [
            {w: float(v) for w, v in zip(r.words, self._rng(r).normal(size=len(r.words)))} for r in requests
        ]

    def score_options(self, requests: Sequence[Request]) -> list[list[float]]:
        return [[float(v) for v in self._rng(r).random(len(r.options))] for r in requests]


def create_random(arg: str, options: Mapping[str, str]) -> RandomModel:
    opts = parse_options(options, {"seed": int}, "random")
    return RandomModel(seed=opts.get("seed", int(arg) if arg else 0))
