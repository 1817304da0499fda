"""Exact level-word log-probs over an OpenAI-compatible server (protocol.md 8.2 and 9.4).

A chat server normally returns only the ``top_logprobs`` (at most 20) most likely next tokens, and a level word
outside that list is simply missing (Q-Align's ``bad`` often is). vLLM can instead return the log-probs of
exact vocabulary ids, whatever their rank: ``logprob_token_ids`` (with ``logprobs: true``); with
``return_tokens_as_token_ids`` each entry is named ``token_id:N``, so that no token text has to be matched.

The ids of the words come from the server's own tokenizer (vLLM's ``POST /tokenize`` at the server root) by
protocol 8.2's rule: the first id that ``" {word}"`` adds after the assistant prefix. The adapter then

1. asks for those ids (``-M logprobs=auto``, the default) and checks the reply names every one of them:
   then the scores are exact (``source: token-ids``);
2. otherwise falls back to the ``top_logprobs`` list (by id where the server names ids, else by token text)
   and records that the server does not support the field (``usage()['logprob_token_ids']``);
3. ``-M logprobs=ids`` makes an unsupported server an error instead; ``-M logprobs=top`` never asks.

SGLang's equivalent (``token_ids_logprob``) exists only on its native ``/generate`` endpoint, which takes a
rendered prompt instead of chat messages; it is not used here (a server without ``logprob_token_ids`` gets the
``top_logprobs`` fallback).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

LOGPROB_MODES = ("auto", "ids", "top")
EXACT_VERSION = "logprob-token-ids-v1"
ID_PREFIX = "token_id:"


def tokenize_url(api_base: str) -> str:
    """vLLM serves ``/tokenize`` at the server root: ``http://h:8000/v1`` -> ``http://h:8000/tokenize``."""
    parts = urlsplit(api_base)
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/tokenize", "", ""))


def first_new_id(base: Sequence[int], full: Sequence[int]) -> int | None:
    """The first id of ``full`` that differs from ``base`` (protocol 8.2), None when it adds nothing."""
    start = next((i for i, (a, b) in enumerate(zip(base, full)) if a != b), len(base))
    return int(full[start]) if start < len(full) else None


class WordIds:
    """Word -> token id through the server's ``/tokenize``, cached; ``None`` when the server has no such route.

    ``post(url, body) -> JSON`` is the adapter's HTTP call (its client, its timeouts); any exception from it
    means "no tokenizer here", and the reason is kept for the record.
    """

    def __init__(self, post: Callable[[str, dict[str, Any]], Any], url: str) -> None:
        self._post = post
        self._url = url
        self._ids: dict[tuple[str, str], int | None] = {}
        self._lock = threading.Lock()
        self.unavailable = ""  # why the server's tokenizer could not be used ("" while it can)

    def _tokens(self, text: str) -> list[int]:
        reply = self._post(self._url, {"prompt": text, "add_special_tokens": False})
        tokens = reply.get("tokens") if isinstance(reply, Mapping) else None
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise ValueError(f"/tokenize answered without a list of token ids: {str(reply)[:80]}")
        return tokens

    def resolve(self, prefix: str, words: Sequence[str]) -> dict[str, int] | None:
        """The id of each word after ``prefix``; None if the server cannot tokenize (or a word adds no id)."""
        with self._lock:
            if self.unavailable:
                return None
            out: dict[str, int] = {}
            for word in words:
                key = (prefix, word)
                if key not in self._ids:
                    try:
                        base = self._tokens(prefix)
                        full = self._tokens(f"{prefix} {word}" if prefix else word)
                    except Exception as exc:
                        self.unavailable = f"the server's /tokenize could not be used ({_short(exc)})"
                        return None
                    self._ids[key] = first_new_id(base, full)
                tid = self._ids[key]
                if tid is None:
                    return None
                out[word] = tid
            return out

    def known(self) -> dict[str, int]:
        """Every word id resolved so far (for the record)."""
        with self._lock:
            return {w: t for (_, w), t in sorted(self._ids.items()) if t is not None}


def by_id(entries: Sequence[tuple[str, float]]) -> dict[int, float]:
    """The ``token_id:N`` entries of a log-prob list as id -> log-prob (first occurrence wins)."""
    out: dict[int, float] = {}
    for token, value in entries:
        if token.startswith(ID_PREFIX) and token[len(ID_PREFIX) :].isdigit():
            out.setdefault(int(token[len(ID_PREFIX) :]), value)
    return out


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 120 else text[:117] + "..."
