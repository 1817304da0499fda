"""Exact level-word log-probs from an SGLang server, through its native ``POST /generate`` (protocol 9.4).

SGLang's OpenAI-compatible ``/v1/chat/completions`` has no field for the log-probs of chosen token ids (only
``logprobs``/``top_logprobs``), so a level word outside the top list is missing there, and a word that splits
cannot be found by its text. Its native ``/generate`` takes ``token_ids_logprob`` and returns the log-prob of
exactly those ids at the first output position, whatever their rank. But ``/generate`` takes a *rendered*
prompt, not chat messages, so for the logit-based A3 modes the ``openai:`` adapter (``-M logprobs=auto`` on a
server that answers ``GET /get_model_info`` like SGLang, or ``-M logprobs=sglang``):

1. loads the served model's processor from a local folder (``-M tokenizer=PATH``, else the server's own
   ``tokenizer_path`` when that folder exists on this machine; offline, nothing is downloaded);
2. renders the request with that processor's chat template and joins the assistant prefix exactly as the
   ``hf:`` adapter does (:func:`qbench.models.chat_render.render_chat`, the same code, not a copy);
3. takes the words' ids from that same tokenizer by protocol 8.2 (:class:`qbench.models.token_ids.WordIds`);
4. posts ``text``, ``image_data`` (the very data URLs the chat path would send), ``token_ids_logprob``,
   ``sampling_params`` ``{"max_new_tokens": 1, "temperature": 0}``, ``return_logprob: true`` and reads
   ``meta_info.output_token_ids_logprobs[0]``.

Generation requests (A1, A2, ratings) stay on ``/v1/chat/completions``.

What this relies on, read in SGLang's source (sgl-project/sglang):

- ``python/sglang/srt/managers/io_struct.py``, ``GenerateReqInput``: the fields ``text``, ``image_data``
  ("an image instance, file name, URL, or base64 encoded string"; for a single request, whose ``text`` is a
  string, a list is that request's images, left as given by ``_normalize_single_inputs``),
  ``sampling_params``, ``return_logprob``, ``logprob_start_len`` (-1: output positions only),
  ``top_logprobs_num``, ``token_ids_logprob`` (a flat list of ids, checked against the vocabulary size by
  ``TokenizerManager._validate_token_ids_logprob``) and ``return_text_in_logprobs``.
- ``python/sglang/srt/managers/tokenizer_manager.py``: a text prompt is tokenized with the tokenizer's
  defaults (``self.tokenizer(texts)``, special tokens added) or, with images, by the model's multimodal
  processor (``process_mm_data_async`` with ``input_text``); ``meta_info['output_token_ids_logprobs']`` and
  ``['output_top_logprobs']`` hold one list per output position of ``(logprob, token_id, text_or_None)``
  triples (``detokenize_top_logprobs_tokens`` / ``detokenize_logprob_tokens``).
- ``python/sglang/srt/entrypoints/http_server.py``: ``GET /get_model_info`` answers ``model_path``,
  ``tokenizer_path`` (``server_args.tokenizer_path``) and, in newer versions, ``is_generation`` (SGLang's
  native API docs, ``basic_usage/native_api``, list the same); vLLM has no such route (404), which tells the
  two apart, so a reply with a string ``model_path`` is taken as SGLang.

Because SGLang adds the tokenizer's special tokens to ``text``, a template that writes BOS itself would get
a second one; the ``hf:`` adapter tokenizes such a prompt without special tokens. So a leading BOS string is
taken off the text when the tokenizer adds BOS by itself: both paths then see one BOS. The exactness also
assumes the server prepares images as the model's transformers processor does (SGLang's multimodal
processors wrap it for most families); the loopback test server does exactly that.

This module imports transformers only inside :class:`LocalPrompts` (loaded when this path is used).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qbench.errors import UsageError
from qbench.models.chat_render import fallback_template, render_chat
from qbench.models.token_ids import WordIds, root_url
from qbench.types import Request

GENERATE_VERSION = "sglang-generate-token-ids-logprob-v1"
TOKENIZER_HINT = "-M tokenizer=PATH: a local folder with the served model's processor and tokenizer files"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


@dataclass(frozen=True)
class ServerModel:
    """What an SGLang server's ``GET /get_model_info`` says about the model it serves."""

    model_path: str
    tokenizer_path: str | None


@dataclass
class NativeScores:
    """The words' log-probs read from one ``/generate`` reply; ``missing`` lists the words whose id the reply
    left out, ``floor`` is the lowest log-prob it listed (for ``-T missing=floor``)."""

    values: dict[str, float]
    floor: float | None
    missing: list[str] = field(default_factory=list)


def model_info_url(api_base: str) -> str:
    return root_url(api_base, "get_model_info")


def generate_url(api_base: str) -> str:
    return root_url(api_base, "generate")


def read_model_info(reply: Any) -> ServerModel | None:
    """The server's model when ``reply`` looks like SGLang's ``/get_model_info`` answer, else None."""
    if not isinstance(reply, Mapping) or not isinstance(reply.get("model_path"), str):
        return None
    tokenizer = reply.get("tokenizer_path")
    return ServerModel(reply["model_path"], tokenizer if isinstance(tokenizer, str) and tokenizer else None)


def tokenizer_folder(given: str | None, server: ServerModel | None) -> tuple[Path | None, str]:
    """The local folder to render prompts with, and, when there is none, why (one line without the hint).

    ``given`` (``-M tokenizer``) must be such a folder; otherwise the server's ``tokenizer_path`` is used when
    it names a folder on this machine (a server started on the same host with a local path)."""
    if given:
        path = Path(given).expanduser()
        if not path.is_dir():
            return None, f"-M tokenizer={given} is not a folder"
        if not any((path / f).is_file() for f in TOKENIZER_FILES):
            return None, f"-M tokenizer={given} holds no tokenizer ({', '.join(TOKENIZER_FILES)})"
        return path.resolve(), ""
    if server is None or not server.tokenizer_path:
        return None, "the server does not say where its tokenizer is"
    path = Path(server.tokenizer_path).expanduser()
    if path.is_dir() and any((path / f).is_file() for f in TOKENIZER_FILES):
        return path.resolve(), ""
    return (
        None,
        f"the server's tokenizer_path '{server.tokenizer_path}' is not a tokenizer folder on this machine",
    )


class LocalPrompts:
    """The served model's processor, loaded from a local folder, rendering requests as the ``hf:`` adapter
    does and giving the words' token ids by protocol 8.2. Thread-safe (one lock around the tokenizer)."""

    def __init__(self, folder: Path) -> None:
        import transformers

        from qbench.models.hf_processors import load_processor

        self.folder = folder
        try:
            config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
            self.processor = load_processor(str(folder), config, local_files_only=True)
            self.template = fallback_template(self.processor)
        except LookupError:
            raise UsageError(
                f"the tokenizer folder '{folder}' has no chat template, so prompts cannot be rendered for "
                "SGLang's /generate",
                hint=TOKENIZER_HINT,
            ) from None
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(
                f"cannot load a processor from '{folder}' to render prompts for SGLang's /generate: {first}",
                hint=TOKENIZER_HINT,
            ) from None
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self._lock = threading.Lock()
        bos = getattr(self.tokenizer, "bos_token", None)
        adds_bos = bool(bos) and self._encode("a", special=True)[:1] == [self.tokenizer.bos_token_id]
        # SGLang adds the default special tokens to `text`: a BOS the template wrote would be doubled
        self.strip_bos: str | None = bos if adds_bos else None
        self.words = WordIds(self._tokens, where=f"the tokenizer in {folder}")
        template = self.template or self.processor.chat_template
        self.template_sha256 = hashlib.sha256(str(template).encode()).hexdigest()[:16]

    def _encode(self, text: str, *, special: bool) -> list[int]:
        with self._lock:
            return [int(t) for t in self.tokenizer(text, add_special_tokens=special)["input_ids"]]

    def _tokens(self, text: str) -> list[int]:
        return self._encode(text, special=False)

    def prompt(self, request: Request) -> str:
        """The text to send as ``/generate``'s ``text``: the chat template's prompt and the assistant prefix."""
        with self._lock:  # one template render at a time: the processor is shared by the adapter's threads
            text, _ = render_chat(self.processor, self.template, request, request.assistant_prefix)
        if self.strip_bos and text.startswith(self.strip_bos):
            text = text[len(self.strip_bos) :]
        return text

    def describe(self) -> dict[str, Any]:
        """Which tokenizer rendered the prompts (for the record)."""
        return {
            "tokenizer": str(self.folder),
            "processor": type(self.processor).__name__,
            "chat_template_sha256": self.template_sha256,
            "bos": "taken off the text (SGLang adds it)" if self.strip_bos else "as the template writes it",
        }


def generate_body(text: str, images: Sequence[str], ids: Sequence[int], top_n: int) -> dict[str, Any]:
    """The ``/generate`` request: one greedy token, the log-probs of ``ids`` and of the ``top_n`` most likely
    tokens (the latter only bound missing words under ``-T missing=floor``)."""
    body: dict[str, Any] = {
        "text": text,
        "sampling_params": {"max_new_tokens": 1, "temperature": 0},
        "return_logprob": True,
        "logprob_start_len": -1,
        "top_logprobs_num": top_n,
        "token_ids_logprob": sorted(set(ids)),
        "return_text_in_logprobs": False,
    }
    if images:
        body["image_data"] = list(images)
    return body


def check_reply(reply: Any) -> None:
    """Raise ValueError (a malformed reply, asked again) unless ``reply`` is a ``/generate`` answer with
    per-position token-id log-probs."""
    meta = reply.get("meta_info") if isinstance(reply, Mapping) else None
    rows = meta.get("output_token_ids_logprobs") if isinstance(meta, Mapping) else None
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], list):
        raise ValueError(f"not an SGLang /generate reply with output_token_ids_logprobs: {str(reply)[:80]}")


def _triples(row: Any) -> dict[int, float]:
    """``[[logprob, token_id, text], ...]`` as id -> log-prob (first occurrence wins; bad entries skipped)."""
    out: dict[int, float] = {}
    for entry in row if isinstance(row, list) else []:
        if not (isinstance(entry, (list, tuple)) and len(entry) >= 2 and isinstance(entry[1], int)):
            continue
        if isinstance(entry[0], (int, float)) and not isinstance(entry[0], bool):
            out.setdefault(int(entry[1]), float(entry[0]))
    return out


def read_scores(reply: Mapping[str, Any], ids: Mapping[str, int]) -> NativeScores:
    """Each word's log-prob from ``output_token_ids_logprobs[0]``; a word whose id is not there is missing."""
    meta = reply["meta_info"]
    asked = _triples(meta["output_token_ids_logprobs"][0])
    top_rows = meta.get("output_top_logprobs")
    top = _triples(top_rows[0]) if isinstance(top_rows, list) and top_rows else {}
    values = {w: asked[i] for w, i in ids.items() if i in asked}
    listed = [*asked.values(), *top.values()]
    return NativeScores(values, min(listed) if listed else None, [w for w in ids if w not in values])
