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

With ``-M tokenizer=PATH`` the ids come from that local copy of the served model's tokenizer instead of the
server's ``/tokenize`` (also under ``-M logprobs=top``, where they are never sent, only used to see which
words split). Without either, a split cannot be seen (``-M logprobs=top``, a server without ``/tokenize``:
``usage()['tokenize']`` says so) and a word is matched by its text as before.

A word whose next-token form splits (`` high`` = `` h`` + ``igh`` on some tokenizers) has its first token
asked for by id, as the ``hf:`` adapter scores it. In the ``top_logprobs`` fallback such a word is *not*
looked up by its text: the list shows token texts, the first piece's text is not the word, and the bare
word may be a different token that is listed (the matcher used to take it: a silently wrong score). The
word fails its sample with the reason instead (:meth:`WordIds.pieces`); ``-T missing=floor`` does not bound
it either, because "below every listed token" is only known for a word that is absent from the list, and a
split word's first piece may well be listed under a text that cannot be recognised.

SGLang's equivalent (``token_ids_logprob``) exists only on its native ``/generate`` endpoint, which takes a
rendered prompt instead of chat messages: :mod:`qbench.models.sglang_native` (``-M logprobs=auto|sglang``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

LOGPROB_MODES = ("auto", "ids", "sglang", "top")
EXACT_VERSION = "logprob-token-ids-v1"
ID_PREFIX = "token_id:"


def root_url(api_base: str, route: str) -> str:
    """A route at the server root, where vLLM and SGLang serve their own endpoints:
    ``root_url("http://h:8000/v1", "tokenize")`` -> ``http://h:8000/tokenize``."""
    parts = urlsplit(api_base)
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/{route}", "", ""))


def tokenize_url(api_base: str) -> str:
    """vLLM serves ``/tokenize`` at the server root: ``http://h:8000/v1`` -> ``http://h:8000/tokenize``."""
    return root_url(api_base, "tokenize")


def server_tokenizer(post: Callable[[str, dict[str, Any]], Any], url: str) -> Callable[[str], list[int]]:
    """``text -> ids`` through a server's ``POST /tokenize`` (``post(url, body) -> JSON``: the adapter's client)."""

    def tokens(text: str) -> list[int]:
        reply = post(url, {"prompt": text, "add_special_tokens": False})
        ids = reply.get("tokens") if isinstance(reply, Mapping) else None
        if not isinstance(ids, list) or not all(isinstance(t, int) for t in ids):
            raise ValueError(f"/tokenize answered without a list of token ids: {str(reply)[:80]}")
        return ids

    return tokens


def _diverge(base: Sequence[int], full: Sequence[int]) -> int:
    """The position of the first id of ``full`` that differs from ``base`` (``len(base)`` if none does)."""
    return next((i for i, (a, b) in enumerate(zip(base, full)) if a != b), len(base))


def first_new_id(base: Sequence[int], full: Sequence[int]) -> int | None:
    """The first id of ``full`` that differs from ``base`` (protocol 8.2), None when it adds nothing."""
    start = _diverge(base, full)
    return int(full[start]) if start < len(full) else None


def local_tokenizer(folder: Path) -> Callable[[str], list[int]]:
    """``text -> ids`` (no special tokens) with the tokenizer in a local folder (``-M tokenizer``), loaded
    offline on first use (a failure then surfaces as :attr:`WordIds.unavailable`); one call at a time, as fast
    tokenizers must not be shared by threads."""
    lock = threading.Lock()
    loaded: list[Any] = []

    def tokens(text: str) -> list[int]:
        with lock:
            if not loaded:
                import transformers

                loaded.append(transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True))
            return [int(t) for t in loaded[0](text, add_special_tokens=False)["input_ids"]]

    return tokens


class WordIds:
    """Word -> token id by protocol 8.2 through ``tokenize(text) -> ids`` (no special tokens), cached.

    ``tokenize`` is the server's ``/tokenize`` (:func:`server_tokenizer`) or a local tokenizer (the SGLang
    path); any exception from it means "no tokenizer here", and the reason is kept for the record
    (``where`` names it: "the server's /tokenize").
    """

    def __init__(self, tokenize: Callable[[str], list[int]], where: str = "the server's /tokenize") -> None:
        self._tokenize = tokenize
        self.where = where
        self._ids: dict[tuple[str, str], tuple[int | None, int]] = {}  # (prefix, word) -> (id, pieces)
        self._lock = threading.Lock()
        self.unavailable = ""  # why the tokenizer could not be used ("" while it can)

    def resolve(self, prefix: str, words: Sequence[str]) -> dict[str, int] | None:
        """The id of each word after ``prefix``; None if the tokenizer cannot be used (or a word adds no id)."""
        with self._lock:
            if self.unavailable:
                return None
            out: dict[str, int] = {}
            for word in words:
                key = (prefix, word)
                if key not in self._ids:
                    try:
                        base = self._tokenize(prefix)
                        full = self._tokenize(f"{prefix} {word}" if prefix else word)
                    except Exception as exc:
                        self.unavailable = f"{self.where} could not be used ({_short(exc)})"
                        return None
                    tid = first_new_id(base, full)
                    self._ids[key] = (tid, len(full) - _diverge(base, full) if tid is not None else 0)
                tid, _ = self._ids[key]
                if tid is None:
                    return None
                out[word] = tid
            return out

    def pieces(self, prefix: str, word: str) -> int:
        """How many tokens ``" {word}"`` adds after ``prefix`` (0: not resolved); more than 1: it splits."""
        with self._lock:
            return self._ids.get((prefix, word), (None, 0))[1]

    def known(self) -> dict[str, int]:
        """Every word id resolved so far (for the record)."""
        with self._lock:
            return {w: t for (_, w), (t, _) in sorted(self._ids.items()) if t is not None}

    def split(self) -> dict[str, int]:
        """Every resolved word that splits, with its number of tokens (for the record)."""
        with self._lock:
            return {w: n for (_, w), (t, n) in sorted(self._ids.items()) if t is not None and n > 1}


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
