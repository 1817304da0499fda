"""``openai:MODEL`` — any OpenAI-compatible chat server (vLLM, SGLang, LMDeploy, Ollama, hosted APIs).

Why it looks the way it does:

- **Many requests in flight.** An API model is latency-bound, not compute-bound, so the runner hands it large
  batches (``batch_size``) and the adapter keeps up to ``concurrency`` requests in flight with a thread pool
  around the synchronous SDK client (``max_retries=0``: the retry loop is ours, so that retries can be counted,
  ``Retry-After`` honoured and a broken configuration stop the run at once).
- **Failures are sorted into two kinds.** Transient ones (429, 408, 409, 5xx, timeouts, a dropped connection)
  are retried with exponential backoff and full jitter; a request that still fails comes back as an exception
  in its slot (recorded as that sample's error and retried on resume). Configuration errors (400, 401, 403,
  404 and other 4xx, or a server that cannot be reached at all before it ever answered) raise one
  :class:`ModelError` naming the model and the server, because every other request would fail the same way.
- **Images are sent lossless by default** (PNG data URLs): Q-Bench asks about low-level quality, and a JPEG
  re-encode would add the very artefacts the model is asked to judge. JPEG and resizing are options, and both
  are recorded in :meth:`OpenAICompatModel.info` (so they enter the run fingerprint).
- **The API key never enters** ``info()``, messages or errors; the server is named by scheme, host, port and
  path only.

Options (``-M key=value``): see ``OPTIONS`` below and the docstring of :func:`create`.
"""

from __future__ import annotations

import base64
import email.utils
import io
import logging
import math
import os
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from qbench.data.video import API_DETAIL, API_JPEG
from qbench.errors import ModelError, RunError, StopRun, UsageError
from qbench.models.http_guard import GuardedBackend, ResponseTooLarge, guarded_client
from qbench.models.sglang_native import (
    GENERATE_VERSION,
    TOKENIZER_HINT,
    LocalPrompts,
    check_reply,
    generate_body,
    generate_url,
    model_info_url,
    read_model_info,
    read_scores,
    tokenizer_folder,
)
from qbench.models.token_ids import (
    LOGPROB_MODES,
    WordIds,
    by_id,
    local_tokenizer,
    server_tokenizer,
    tokenize_url,
)
from qbench.options import parse_options
from qbench.protocol import LOWEST_LISTED
from qbench.redact import redact_url
from qbench.types import ImageSlot, Request, Text

log = logging.getLogger("qbench")

T = TypeVar("T")

OPTIONS: dict[str, type] = {
    "api_base": str,
    "api_key": str,
    "concurrency": int,
    "timeout": float,
    "max_retries": int,
    "retry_base": float,
    "retry_cap": float,
    "image_format": str,
    "jpeg_quality": int,
    "max_side": int,
    "image_detail": str,
    "continue_final_message": bool,
    "top_logprobs": int,
    "max_response_mb": float,
    "malformed_retries": int,
    "max_images": int,
    "logprobs": str,
    "tokenizer": str,
}

DEFAULT_API_BASE = "https://api.openai.com/v1"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"}
DUMMY_KEY = "EMPTY"  # what vLLM/SGLang/LMDeploy accept when started without --api-key
MAX_RETRY_AFTER = 120.0  # a Retry-After longer than this is cut to it: the run should not hang for hours
RETRY_STATUS = {408, 409, 429}  # plus every 5xx
#: How the A3 words are found in the server's top log-probs (recorded in info(); bump when it changes).
WORD_MATCH_VERSION = "openai-word-match-v2"  # v2: a word that splits is never matched by text
#: The instruction added to the user text when the server cannot continue an assistant message.
A3_FALLBACK_INSTRUCTION = 'Answer with one word that completes the sentence "{prefix} ..."'
A3_FALLBACK_VERSION = "a3-api-instruction-v1"
#: Connection failures in a row (no answer in between, across all requests), for at least this many
#: seconds, after which the server is taken to be gone and the run stops: retrying every remaining sample
#: against a dead server takes hours. The seconds keep one blip (all in-flight requests reset at once) from
#: stopping a run.
SERVER_GONE_AFTER = 8
SERVER_GONE_SECONDS = 3.0
#: Space markers that tokenizers put before a word: GPT-2 BPE (Ġ) and SentencePiece (▁).
SPACE_MARKERS = (" ", "Ġ", "▁")


@dataclass(frozen=True)
class Settings:
    """Everything an ``openai:`` model is configured with (validated by :func:`create`)."""

    api_base: str = DEFAULT_API_BASE
    api_key: str = ""
    concurrency: int = 16
    timeout: float = 60.0
    max_retries: int = 6
    retry_base: float = 0.5
    retry_cap: float = 30.0
    image_format: str = "png"
    jpeg_quality: int = 95
    max_side: int = 0  # 0: never resize
    image_detail: str | None = None  # OpenAI's image_url.detail (auto/low/high); omitted unless set
    continue_final_message: bool = True
    top_logprobs: int = 20
    max_response_mb: float = 16.0  # a reply larger than this fails its sample (a runaway or hostile server)
    malformed_retries: int = 2  # a 200 reply that is not a chat completion is asked again this many times
    max_images: int = 0  # the most images the server takes in one request (0: no limit known)
    logprobs: str = "auto"  # exact word ids (auto|ids|sglang) or the top list only (top): models.token_ids
    tokenizer: str = ""  # a local folder with the served model's processor (SGLang's /generate path)


class TokenScores(dict[str, float]):
    """Word -> log-prob of the first generated token; a word the server did not list raises a telling KeyError.

    The A3 task reads ``result[word]``; a missing word then becomes that sample's error ("unusable model
    result: KeyError(...)") naming the word, instead of a silent 0 or a made-up value. When a word is missing,
    the lowest log-prob the server listed is kept under ``protocol.LOWEST_LISTED`` (a dict entry, so that it
    survives the response cache) for ``-T missing=floor``.
    """

    def __init__(
        self,
        values: Mapping[str, float],
        top_n: int,
        *,
        source: str = "top-logprobs",
        floor: float | None = None,
        reasons: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(values)
        self.top_n = top_n
        self.source = source  # "token-ids" (vLLM), "sglang-token-ids" (SGLang /generate) or "top-logprobs"
        self.floor = floor
        self.reasons = dict(reasons or {})  # word -> why it is missing, where more is known than "not listed"

    def __missing__(self, word: str) -> float:
        if word in self.reasons:
            raise KeyError(f"'{word}' {self.reasons[word]}")
        raise KeyError(f"'{word}' is not among the {self.top_n} most likely next tokens the server returned")


class MalformedReply(Exception):
    """A 200 reply that is not a usable chat completion (an HTML page, no choices, wrong types)."""


class _Aborted(Exception):
    """Raised inside a worker when the call was given up (a fatal error elsewhere, or Ctrl-C)."""


def server_label(url: str) -> str:
    """``scheme://host:port/path`` without user info, query or fragment: safe to log and fingerprint."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


def match_word(word: str, top: Mapping[str, float]) -> float | None:
    """The log-prob of ``word`` as the next token among ``top`` (token text -> log-prob), or None.

    The rule (``WORD_MATCH_VERSION``): first case-sensitive, then case-insensitive; in each pass the
    space-prefixed forms (``" good"``, ``"Ġgood"``, ``"▁good"``) come before the bare ``"good"``, because
    protocol 8.2 takes the token that follows the prefix in running text, i.e. the space-prefixed one. The
    first form found wins (no summing of variants: the official score uses one token). Surrounding white
    space other than one leading marker is not stripped, and a word that the tokenizer splits is not matched
    (the API shows tokens, not ids); Q-Bench's level words are single tokens in common tokenizers.
    """
    forms = [m + word for m in SPACE_MARKERS] + [word]
    for form in forms:
        if form in top:
            return top[form]
    folded: dict[str, float] = {}
    for token, value in top.items():
        folded.setdefault(token.casefold(), value)  # the most likely spelling first (top is ordered)
    for form in forms:
        if form.casefold() in folded:
            return folded[form.casefold()]
    return None


def attached_jpeg(image: Any) -> tuple[str, bool] | None:
    """The data URL of JPEG bytes a task attached to an image (the official Q-Bench-Video frames), if any."""
    data = getattr(image, "info", {}).get(API_JPEG) if hasattr(image, "info") else None
    if not isinstance(data, bytes):
        return None
    return f"data:image/jpeg;base64,{base64.b64encode(data).decode('ascii')}", False


def encode_image(image: Any, fmt: str, quality: int, max_side: int) -> tuple[str, bool]:
    """A PIL image as a data URL, and whether it was resized.

    PNG keeps the pixels (modes PNG cannot store, such as CMYK or float, are converted to RGB first); JPEG is
    written at ``quality`` without chroma subsampling (4:4:4), the least lossy JPEG there is.
    """
    from PIL import Image

    if not hasattr(image, "save"):
        import numpy as np

        image = Image.fromarray(np.asarray(image))
    resized = False
    if max_side and max(image.size) > max_side:
        if image.mode not in {"RGB", "RGBA", "L", "LA"}:
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        w, h = image.size
        scale = max_side / max(w, h)
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
        resized = True
    buf = io.BytesIO()
    if fmt == "jpeg":
        if image.mode not in {"RGB", "L"}:
            image = image.convert("RGB")
        image.save(buf, format="JPEG", quality=quality, subsampling=0)
        mime = "image/jpeg"
    else:
        if image.mode not in {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}:
            image = image.convert("RGB")
        image.save(buf, format="PNG")
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}", resized


class OpenAICompatModel:
    """A chat model behind an OpenAI-compatible HTTP API, with ``generate`` and ``score_tokens``."""

    def __init__(self, model: str, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self.name = f"openai:{model}"
        self.server = server_label(settings.api_base)
        # Large batches keep every slot busy between the runner's calls; a few waves per batch hide the tail.
        self.batch_size = max(64, 4 * settings.concurrency)
        self.max_images = settings.max_images or None  # models.base.require_images refuses more
        self._client: Any = None
        self._http: Any = None
        self._guard: GuardedBackend | None = None
        self._connection_failures = 0  # in a row, across all requests; any answer resets it
        self._failing_since = 0.0  # when that run of failures began
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._reached = (
            False  # the server has answered at least once (any status): later connect errors retry
        )
        self._usage: dict[str, int] = {
            "requests": 0,
            "answered": 0,
            "retries": 0,
            "failed": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
            "resized_images": 0,
            "score_requests": 0,
            "missing_words": 0,
            "samples_missing_words": 0,
            "exact_scores": 0,
        }
        self._word_ids: WordIds | None = None
        self._ids_support = "not asked"  # what the server did with logprob_token_ids: "yes" or "no (...)"
        # SGLang's /generate with token_ids_logprob (qbench.models.sglang_native): probed once, on first use
        self._sglang_lock = threading.Lock()
        self._sglang_probed = False
        self._sglang: LocalPrompts | None = None
        self._sglang_state = ""  # for the record: "yes", "no (why)", or "" while not asked

    # -- identity ---------------------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What identifies this model's answers (enters the run fingerprint); never the key, never concurrency."""
        s = self.settings
        images: dict[str, Any] = {"format": s.image_format}
        if s.image_format == "jpeg":
            images.update(quality=s.jpeg_quality, subsampling="4:4:4", lossless=False)
        else:
            images["lossless"] = True
        if s.max_side:
            images["resize"] = f"longest side down to {s.max_side} px (Lanczos), larger images only"
        if s.image_detail:
            images["detail"] = s.image_detail
        return {
            "kind": "openai-compatible",
            "model": self.model,
            "server": self.server,
            "images": images,
            "generation": {"greedy": "temperature=0", "sampled": "server default temperature"},
            "score_tokens": {
                "method": "continue_final_message" if s.continue_final_message else A3_FALLBACK_VERSION,
                "top_logprobs": s.top_logprobs,
                "word_match": WORD_MATCH_VERSION,
                "values": "log-probs",
                "exact_ids": s.logprobs if s.continue_final_message else "top",
                **self._sglang_info(),
            },
        }

    def _sglang_info(self) -> dict[str, Any]:
        """The SGLang path's part of the identity: the method and, when known before any request (an explicit
        ``-M logprobs=sglang`` or ``-M tokenizer``), the tokenizer that renders the prompts."""
        s = self.settings
        out: dict[str, Any] = {}
        if s.continue_final_message and s.logprobs in ("auto", "sglang"):
            out["sglang"] = GENERATE_VERSION
        if self._sglang is not None and s.logprobs == "sglang":
            out["sglang_prompts"] = self._sglang.describe()
        elif s.tokenizer:  # the word ids (and, on SGLang, the prompts) come from it
            out["tokenizer"] = str(Path(s.tokenizer).expanduser().resolve())
        return out

    def usage(self) -> dict[str, Any]:
        """Tokens and calls so far, summed over all requests; the runner writes it into the run summary."""
        with self._lock:
            out: dict[str, Any] = dict(self._usage)
        if out["score_requests"]:
            out["missing_rate"] = round(out["samples_missing_words"] / out["score_requests"], 6)
            out["logprob_token_ids"] = self._ids_support
            if self._sglang_state:
                out["sglang_token_ids_logprob"] = self._sglang_state
            words = self._sglang.words if self._sglang is not None else self._word_ids
            if words is not None:
                out["word_ids"] = words.known()
                if words.split():
                    out["split_words"] = words.split()
                if words.unavailable:
                    out["tokenize"] = words.unavailable
            if self._sglang is not None:
                out["sglang_prompts"] = self._sglang.describe()
        return out

    def close(self) -> None:
        if self._guard is not None:
            self._guard.abort_all()  # threads blocked on a hung server return now, not after their timeout
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- capabilities -----------------------------------------------------------------------------------------

    def generate(self, requests: Sequence[Request]) -> list[str | Exception]:
        """One reply per request; a request that still fails after retries is an exception in its slot."""
        return self._run_all(self._generate_jobs(requests))

    def stream(self, capability: str, requests: Sequence[Request]) -> Iterator[list[tuple[int, Any]]]:
        """``(index, result)`` pairs as the replies arrive, a few at a time, so that each can be saved at once.

        Results are those :meth:`generate` or :meth:`score_tokens` would put in slot ``index``. Closing the
        iterator early (Ctrl-C, a fatal error) gives up the requests still queued or in flight.
        """
        if capability == "generate":
            jobs: list[Callable[[threading.Event], Any]] = list(self._generate_jobs(requests))
        elif capability == "score_tokens":
            jobs = list(self._score_jobs(requests))
        else:
            raise UsageError(f"{self.name} has no capability {capability}")
        return self._iter_all(jobs)

    def _generate_jobs(self, requests: Sequence[Request]) -> list[Callable[[threading.Event], str]]:
        def job(request: Request) -> Callable[[threading.Event], str]:
            def run(abort: threading.Event) -> str:
                kwargs: dict[str, Any] = {
                    "messages": self._messages(request),
                    "max_tokens": request.max_new_tokens,
                }
                if request.greedy:
                    kwargs["temperature"] = 0
                elif request.sampling:  # explicit settings and seed (vLLM/SGLang take top_k as an extra)
                    given = dict(request.sampling)
                    kwargs.update(
                        {k: given[k] for k in ("temperature", "top_p", "seed") if given.get(k) is not None}
                    )
                    if given.get("top_k") is not None:
                        kwargs["extra_body"] = {"top_k": given["top_k"]}
                completion = self._complete(kwargs, abort, "generate")
                choice = completion.choices[0]
                text = choice.message.content
                if text is None:
                    raise RunError(
                        f"{self.name} at {self.server} returned no text (finish_reason={choice.finish_reason})"
                    )
                return str(text)

            return run

        return [job(r) for r in requests]

    def score_tokens(self, requests: Sequence[Request]) -> list[dict[str, float] | Exception]:
        """Log-probs of each request's ``words`` as the token that follows its ``assistant_prefix`` (A3).

        The official A3 score is a softmax at T=100 over the two words' *logits*; a server gives log-probs,
        ``log p_i = x_i - logsumexp(x)``. The shared constant cancels in any two-way softmax at any temperature,
        so the same formula on log-probs gives exactly the same score (up to float rounding of the server's
        output). Log-probs are those of the unprocessed distribution in vLLM's default ``logprobs_mode``; the
        request asks for temperature 0 anyway.

        By default the prefix is sent as a final assistant message that the server continues
        (``continue_final_message=true, add_generation_prompt=false``, supported by vLLM and SGLang); with
        ``-M continue_final_message=false`` the user text instead ends with an instruction to answer with the
        one word that completes the sentence (a different prompt, recorded in info()). A word absent from the
        top-``top_logprobs`` list makes that sample an error naming the word, counted in ``usage()``.

        The level words' exact ids are asked for where the server can give them: SGLang's native ``/generate``
        (``token_ids_logprob``, with the prompt rendered here by the served model's own chat template:
        :mod:`qbench.models.sglang_native`) or vLLM's ``logprob_token_ids`` (:mod:`qbench.models.token_ids`).
        """
        return self._run_all(self._score_jobs(requests))

    def _score_jobs(self, requests: Sequence[Request]) -> list[Callable[[threading.Event], dict[str, float]]]:
        s = self.settings

        def job(request: Request) -> Callable[[threading.Event], dict[str, float]]:
            def run(abort: threading.Event) -> dict[str, float]:
                kwargs: dict[str, Any] = {
                    "max_tokens": 1,
                    "temperature": 0,
                    "logprobs": True,
                    "top_logprobs": s.top_logprobs,
                }
                ids = None
                if s.continue_final_message and request.words:
                    prompts = self._native_prompts()
                    if prompts is not None:
                        return self._score_native(prompts, request, abort)
                if s.continue_final_message:
                    messages = self._messages(request)
                    if request.assistant_prefix:
                        messages.append({"role": "assistant", "content": request.assistant_prefix})
                    kwargs["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
                    ids = self._exact_ids(request)
                    if ids and s.logprobs != "top":
                        kwargs["extra_body"]["logprob_token_ids"] = sorted(set(ids.values()))
                        kwargs["extra_body"]["return_tokens_as_token_ids"] = True
                else:
                    extra = A3_FALLBACK_INSTRUCTION.format(prefix=request.assistant_prefix.strip())
                    messages = self._messages(request, extra_text=extra if request.assistant_prefix else None)
                kwargs["messages"] = messages
                completion = self._complete(kwargs, abort, "score_tokens")
                return self._read_logprobs(
                    completion, request.words, ids, request.assistant_prefix, asked=s.logprobs != "top"
                )

            return run

        return [job(r) for r in requests]

    # -- internals --------------------------------------------------------------------------------------------

    def _messages(self, request: Request, extra_text: str | None = None) -> list[dict[str, Any]]:
        """System message (if any), then one user message with the request's parts in order.

        A request without images is sent as a plain string, which text-only servers (a judge behind Ollama or
        an older engine) accept where they may reject a list of parts.
        """
        s = self.settings
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        has_images = any(isinstance(p, ImageSlot) for p in request.content)
        if not has_images:
            text = request.text + (("\n" + extra_text) if extra_text else "")
            messages.append({"role": "user", "content": text})
            return messages
        parts: list[dict[str, Any]] = []
        encoded: dict[int, str] = {}
        for part in request.content:
            if isinstance(part, Text):
                parts.append({"type": "text", "text": part.text})
            elif isinstance(part, ImageSlot):
                image = request.images[part.index]
                fixed = attached_jpeg(image)  # video frames: the official API bytes (qbench.data.video)
                if part.index not in encoded:
                    url, resized = fixed or encode_image(image, s.image_format, s.jpeg_quality, s.max_side)
                    encoded[part.index] = url
                    if resized:
                        self._count(resized_images=1)
                image_url: dict[str, Any] = {"url": encoded[part.index]}
                detail = getattr(image, "info", {}).get(API_DETAIL) if fixed else s.image_detail
                if detail:
                    image_url["detail"] = detail
                parts.append({"type": "image_url", "image_url": image_url})
        if extra_text:
            parts.append({"type": "text", "text": extra_text})
        messages.append({"role": "user", "content": parts})
        return messages

    def _exact_ids(self, request: Request) -> dict[str, int] | None:
        """The token ids of the request's words from the server's tokenizer, or the local one of ``-M
        tokenizer`` (None: unknown). Under ``-M logprobs=top`` only the local one is used, and only to see
        which words split (the ids are never sent)."""
        s = self.settings
        if not request.words or (s.logprobs == "top" and not s.tokenizer):
            return None
        with self._lock:
            if self._word_ids is None and s.tokenizer:
                folder = Path(s.tokenizer).expanduser().resolve()
                self._word_ids = WordIds(local_tokenizer(folder), where=f"the tokenizer in {folder}")
            elif self._word_ids is None:
                client = self._client

                def post(url: str, body: dict[str, Any]) -> Any:
                    return client.post(url, body=body, cast_to=object)

                self._word_ids = WordIds(server_tokenizer(post, tokenize_url(s.api_base)))
        ids = self._word_ids.resolve(request.assistant_prefix, request.words)
        if ids is None and self.settings.logprobs == "ids":
            raise ModelError(
                f"{self.name} at {self.server}: -M logprobs=ids needs the server's token ids, and "
                f"{self._word_ids.unavailable or 'a word adds no token'}",
                hint="-M logprobs=auto falls back to top_logprobs",
            )
        return ids

    def _native_prompts(self) -> LocalPrompts | None:
        """The local prompt renderer when scores go through SGLang's ``/generate`` (None: the chat path).

        Decided once: ``-M logprobs=sglang`` decides in :func:`create` (an error there when it cannot work);
        ``auto`` asks ``GET /get_model_info`` on first use and takes this path on an SGLang server with a
        usable local tokenizer, else stays on the chat path and records why.
        """
        s = self.settings
        if not s.continue_final_message or s.logprobs not in ("auto", "sglang"):
            return None
        with self._sglang_lock:
            if not self._sglang_probed:
                self._sglang, self._sglang_probed = self._setup_sglang(strict=s.logprobs == "sglang")
            return self._sglang

    def _setup_sglang(self, *, strict: bool) -> tuple[LocalPrompts | None, bool]:
        """The renderer (or None) and whether that is settled: a server that could not be reached is asked
        again by the next request (the chat request of this one reports the failure its own way)."""
        import openai

        s = self.settings
        client = self._get_client()
        try:
            server = read_model_info(client.get(model_info_url(s.api_base), cast_to=object))
            why = "" if server else "its GET /get_model_info answer is not SGLang's"
        except openai.APIConnectionError as exc:
            if strict:
                raise ModelError(
                    f"cannot connect to the server at {self.server} for {self.name} to ask GET /get_model_info "
                    f"({_root_cause(exc)})",
                    hint="is it running? set --api-base, -M api_base=... or OPENAI_BASE_URL",
                ) from None
            return None, False
        except Exception as exc:  # vLLM answers 404; anything else also means "not SGLang's /generate"
            server, why = None, f"GET /get_model_info: {_describe(exc)}"
        if server is None:
            if strict:
                raise ModelError(
                    f"{self.name} at {self.server}: -M logprobs=sglang needs an SGLang server, and {why}",
                    hint="-M logprobs=auto uses SGLang's /generate where it finds it",
                )
            return None, True  # not SGLang: the vLLM field and top_logprobs, as before (nothing to record)
        folder, why = tokenizer_folder(s.tokenizer or None, server)
        prompts: LocalPrompts | None = None
        if folder is not None:
            try:
                prompts = LocalPrompts(folder)
            except UsageError as exc:
                if strict:
                    raise
                why = exc.message
        if prompts is None:
            if strict:
                raise UsageError(
                    f"{self.name} at {self.server}: -M logprobs=sglang renders prompts for SGLang's /generate "
                    f"with the served model's own tokenizer, and {why}",
                    hint=TOKENIZER_HINT,
                )
            self._sglang_state = f"no ({why}; {TOKENIZER_HINT}): the chat path's log-probs used instead"
            log.warning(
                "%s at %s is SGLang, but %s: scoring from top_logprobs (%s)",
                self.name,
                self.server,
                why,
                TOKENIZER_HINT,
            )
            return None, True
        self._sglang_state = "yes"
        return prompts, True

    def _score_native(
        self, prompts: LocalPrompts, request: Request, abort: threading.Event
    ) -> dict[str, float]:
        """One ``score_tokens`` request through SGLang's ``/generate`` with ``token_ids_logprob``."""
        s = self.settings
        ids = prompts.words.resolve(request.assistant_prefix, request.words)
        if ids is None:
            raise ModelError(
                f"{self.name}: {prompts.words.unavailable or 'a level word adds no token'} "
                f"(words {', '.join(request.words)} after '{request.assistant_prefix}')"
            )
        images = [
            part["image_url"]["url"]
            for message in self._messages(request)  # the very data URLs the chat path sends
            if isinstance(message["content"], list)
            for part in message["content"]
            if part.get("type") == "image_url"
        ]
        body = generate_body(prompts.prompt(request), images, list(ids.values()), s.top_logprobs)
        client, url = self._get_client(), generate_url(s.api_base)
        reply = self._complete(
            body,
            abort,
            "score_tokens",
            send=lambda: client.post(url, body=body, cast_to=object),
            check=check_reply,
        )
        got = read_scores(reply, ids)
        missing = len(got.missing)
        self._count(
            score_requests=1,
            exact_scores=int(not missing),
            missing_words=missing,
            samples_missing_words=int(missing > 0),
        )
        reasons = {
            w: f"(token id {ids[w]}) has no log-prob in the server's /generate reply, though asked for"
            for w in got.missing
        }
        scores = TokenScores(
            got.values, s.top_logprobs, source="sglang-token-ids", floor=got.floor, reasons=reasons
        )
        if missing and got.floor is not None:
            scores[LOWEST_LISTED] = got.floor
        return scores

    def _read_logprobs(
        self,
        completion: Any,
        words: Sequence[str],
        ids: Mapping[str, int] | None = None,
        prefix: str = "",
        *,
        asked: bool = True,
    ) -> dict[str, float]:
        """The words' log-probs from a chat completion: by id when ``ids`` were asked for (``asked``) and all
        came back, else from the top list, by id where it names ids, else by token text (never for a word the
        tokenizer splits)."""
        choice = completion.choices[0]
        content = getattr(getattr(choice, "logprobs", None), "content", None)
        if not content:
            raise ModelError(
                f"server {self.server} returned no log-probs for {self.name}; A3 needs a server that supports "
                "logprobs with top_logprobs (e.g. vLLM)"
            )
        first = content[0]
        entries = [(str(e.token), float(e.logprob)) for e in first.top_logprobs or []]
        entries.append((str(first.token), float(first.logprob)))  # the chosen token, if the list left it out
        listed = by_id(entries)
        values: dict[str, float] = {}
        if ids and asked:
            values = {w: listed[i] for w, i in ids.items() if i in listed}
            exact = len(values) == len(ids) and len(listed) >= len(set(ids.values()))
            with self._lock:
                if exact:
                    self._ids_support = "yes"
                elif self._ids_support != "yes":
                    self._ids_support = "no (the reply does not list every id asked for)"
            if exact:
                self._count(score_requests=1, exact_scores=1)
                return TokenScores(
                    values, self.settings.top_logprobs, source="token-ids", floor=min(listed.values())
                )
            if self.settings.logprobs == "ids":
                raise ModelError(
                    f"{self.name} at {self.server} ignores logprob_token_ids (-M logprobs=ids needs it)",
                    hint="-M logprobs=auto falls back to top_logprobs",
                )
        top: dict[str, float] = {}
        for token, logprob in entries:
            top.setdefault(token, logprob)
        split: dict[str, str] = {}
        for word in words:
            if word in values:
                continue
            pieces = self._word_ids.pieces(prefix, word) if ids and self._word_ids is not None else 0
            if pieces > 1:  # its first token is not the word: a text match would take another token
                where = self._word_ids.where if self._word_ids is not None else "the tokenizer"
                split[word] = (
                    f"splits into {pieces} tokens ({where}), so it cannot be found by its text in "
                    "top_logprobs (no exact ids from this server); not bounded by -T missing=floor"
                )
                continue
            value = match_word(word, top)
            if value is not None:
                values[word] = value
        missing = len(words) - len(values)
        self._count(score_requests=1, missing_words=missing, samples_missing_words=int(missing > 0))
        if missing:
            log.debug("%s: %s not among the top log-probs %s", self.name, set(words) - set(values), top)
        floor = min((v for _, v in entries), default=None)
        scores = TokenScores(values, self.settings.top_logprobs, floor=floor, reasons=split)
        if missing and floor is not None and not split:  # a split word's bound is unknown: no floor
            scores[LOWEST_LISTED] = floor
        return scores

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for key, delta in deltas.items():
                self._usage[key] += delta

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import openai

                self._http, self._guard = guarded_client(self.settings.timeout, self.settings.concurrency)
                self._client = openai.OpenAI(
                    api_key=self.settings.api_key,
                    base_url=self.settings.api_base,
                    timeout=self.settings.timeout,
                    max_retries=0,
                    http_client=self._http,
                )
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="qbench-openai")
            return self._client

    def _run_all(self, jobs: list[Callable[[threading.Event], T]]) -> list[T | Exception]:
        """Run jobs on the pool; per-job exceptions stay in their slot, a ModelError stops everything."""
        results: list[Any] = [None] * len(jobs)
        for group in self._iter_all(jobs):
            for index, result in group:
                results[index] = result
        return results

    def _iter_all(
        self, jobs: list[Callable[[threading.Event], T]]
    ) -> Iterator[list[tuple[int, T | Exception]]]:
        """Jobs on the pool; each finished group as ``(index, result or exception)``; a ModelError or
        StopRun stops everything, and so does closing the iterator (queued jobs never start).

        Finished futures arrive through a queue (one callback each), so that handing back N answers costs
        O(N), not the O(N^2) of waiting again on every pending future after each one.
        """
        if not jobs:
            return
        self._get_client()
        assert self._pool is not None
        abort = threading.Event()
        finished: queue.SimpleQueue[tuple[int, Future[T]]] = queue.SimpleQueue()
        futures: list[Future[T]] = []
        for i, job in enumerate(jobs):
            future = self._pool.submit(self._guarded, job, abort)

            def done(f: Future[T], i: int = i) -> None:
                finished.put((i, f))

            future.add_done_callback(done)
            futures.append(future)
        try:
            left = len(futures)
            while left:
                ready = [finished.get()]  # blocks until one is done; Ctrl-C interrupts the wait
                while True:
                    try:
                        ready.append(finished.get_nowait())
                    except queue.Empty:
                        break
                group: list[tuple[int, T | Exception]] = []
                for i, future in ready:
                    exc = future.exception()
                    if isinstance(exc, (ModelError, StopRun)):
                        raise exc
                    group.append((i, exc if isinstance(exc, Exception) else future.result()))
                left -= len(ready)
                yield sorted(group, key=lambda pair: pair[0])
        except BaseException:
            abort.set()  # workers stop before their next attempt or sleep; queued jobs never start
            for future in futures:
                future.cancel()
            raise

    def _guarded(self, job: Callable[[threading.Event], T], abort: threading.Event) -> T:
        """A job; any failure but ModelError is returned to its slot as an Exception by _run_all."""
        if abort.is_set():
            raise _Aborted("call given up")
        try:
            return job(abort)
        except (ModelError, StopRun):
            abort.set()  # here, not only in _iter_all: this thread must not start the next queued job first
            raise

    def _complete(
        self,
        kwargs: dict[str, Any],
        abort: threading.Event,
        capability: str,
        send: Callable[[], Any] | None = None,
        check: Callable[[Any], None] | None = None,
    ) -> Any:
        """One chat completion with our retry loop: backoff with full jitter, Retry-After honoured.

        ``timeout`` is a deadline for the whole request (a reply that trickles in too); a malformed 200 reply
        is asked again ``malformed_retries`` times; a reply over ``max_response_mb`` fails at once; after
        SERVER_GONE_AFTER connection failures in a row (across all requests) the run stops.
        """
        import openai

        client = self._get_client()
        if send is None:  # a chat completion; the SGLang path sends its own /generate request

            def send() -> Any:
                return client.chat.completions.create(model=self.model, **kwargs)

        check = check or _check_completion
        s = self.settings
        max_bytes = int(s.max_response_mb * 1e6) if s.max_response_mb > 0 else None
        last: Exception | None = None
        malformed = 0
        for attempt in range(s.max_retries + 1):
            if abort.is_set():
                raise _Aborted("call given up")
            if attempt:
                self._count(retries=1)
            self._count(requests=1)
            try:
                if self._guard is not None:
                    with self._guard.request(s.timeout, max_bytes):
                        completion = send()
                else:
                    completion = send()
                check(completion)
            except openai.APIStatusError as exc:
                self._answered()
                if exc.status_code not in RETRY_STATUS and exc.status_code < 500:
                    raise self._fatal_status(exc, capability) from None
                last = exc
                delay = self._retry_after(exc)
            except (openai.APIConnectionError, ResponseTooLarge) as exc:  # includes APITimeoutError
                if abort.is_set():
                    raise _Aborted("call given up") from None
                too_large = _cause(exc, ResponseTooLarge)  # while the SDK reads the body: raised as is
                if too_large is not None:
                    self._answered()
                    self._count(failed=1)
                    raise RunError(
                        f"{self.name} at {self.server}: {too_large} (raise -M max_response_mb=... if it is real)"
                    ) from None
                if not isinstance(exc, openai.APITimeoutError):
                    self._connection_failed(exc)
                last = exc
                delay = None
            except (MalformedReply, openai.APIResponseValidationError, ValueError, TypeError) as exc:
                # the SDK raises JSONDecodeError (a ValueError) on a 200 body that is not JSON
                self._answered()
                malformed += 1
                last = exc if isinstance(exc, MalformedReply) else MalformedReply(_malformed_reason(exc))
                if malformed > s.malformed_retries:
                    self._count(failed=1)
                    raise RunError(
                        f"{self.name} at {self.server} sent a malformed reply {malformed} times: {last}"
                    ) from None
                delay = None
            else:
                self._answered()
                self._add_usage(completion)
                return completion
            if attempt == s.max_retries:
                break
            if delay is None:
                delay = random.uniform(0, min(s.retry_cap, s.retry_base * 2**attempt))
            else:
                delay = min(delay, MAX_RETRY_AFTER) * random.uniform(1.0, 1.1)  # spread a herd told the same
            log.debug("%s: retry %d in %.2fs after %s", self.name, attempt + 1, delay, _describe(last))
            if abort.wait(delay):
                raise _Aborted("call given up")
        self._count(failed=1)
        raise RunError(
            f"{self.name} at {self.server}: gave up after {s.max_retries + 1} attempts; last: {_describe(last)}"
        )

    def _answered(self) -> None:
        """The server answered (any status): it is reachable, and the run of connection failures ends."""
        with self._lock:
            self._reached = True
            self._connection_failures = 0

    def _connection_failed(self, exc: Exception) -> None:
        """A request could not reach the server: fatal before it ever answered, or after too many in a row."""
        with self._lock:
            reached = self._reached
            if not self._connection_failures:
                self._failing_since = time.monotonic()
            self._connection_failures += 1
            failures = self._connection_failures
            seconds = time.monotonic() - self._failing_since
        if not reached and _refused(exc):
            raise ModelError(
                f"cannot connect to the server at {self.server} for {self.name} ({_root_cause(exc)})",
                hint="is it running? set --api-base, -M api_base=... or OPENAI_BASE_URL",
            ) from None
        if failures >= SERVER_GONE_AFTER and seconds >= SERVER_GONE_SECONDS:
            raise StopRun(
                f"the server at {self.server} stopped answering ({failures} connection failures in a row "
                f"over {seconds:.0f} s, last: {_root_cause(exc)}); the answers received so far are saved",
                hint="start the server again, then run the same command to resume",
            ) from None

    def _add_usage(self, completion: Any) -> None:
        usage = getattr(completion, "usage", None)
        deltas = {"answered": 1}
        if usage is not None:
            for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
                deltas[key] = int(getattr(usage, key, 0) or 0)
        self._count(**deltas)

    def _retry_after(self, exc: Any) -> float | None:
        """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After``, seconds or a date)."""
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        raw_ms = headers.get("retry-after-ms")
        if raw_ms:
            try:
                return max(0.0, float(raw_ms) / 1000)
            except ValueError:
                pass
        raw = headers.get("retry-after")
        if not raw:
            return None
        try:
            seconds = float(raw)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                return None
            seconds = when.timestamp() - time.time()
        return max(0.0, seconds) if math.isfinite(seconds) else None

    def _fatal_status(self, exc: Any, capability: str) -> ModelError:
        status = exc.status_code
        detail = _server_message(exc)
        hint: str | None = None
        if status in (401, 403):
            hint = "check the API key: OPENAI_API_KEY or -M api_key=..."
        elif status == 404:
            hint = (
                "check the model name (GET /v1/models lists what the server serves) and the base URL "
                "(it usually ends in /v1)"
            )
        elif capability == "score_tokens" and self.settings.continue_final_message:
            hint = "if the server cannot continue an assistant message, try -M continue_final_message=false"
        elif status == 413 or "context" in detail.lower() or "too long" in detail.lower():
            hint = "smaller images may help: -M max_side=1024"
        return ModelError(f"{self.name} at {self.server} answered HTTP {status}: {detail}", hint=hint)


def _check_completion(completion: Any) -> None:
    """Raise :class:`MalformedReply` unless ``completion`` looks like a chat completion with one choice."""
    choices = getattr(completion, "choices", None)
    if isinstance(completion, (str, bytes)):
        raise MalformedReply(f"not JSON: {_snippet(completion)}")
    if not isinstance(choices, list) or not choices:
        raise MalformedReply("no choices in the reply")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if message is None or not (content is None or isinstance(content, str)):
        raise MalformedReply(f"choices[0].message.content is {type(content).__name__}, not text")


def _malformed_reason(exc: Exception) -> str:
    if isinstance(exc, ValueError) and type(exc).__name__ == "JSONDecodeError":
        document = getattr(exc, "doc", "")
        return f"not JSON: {_snippet(document)}" if document else "not JSON"
    body = getattr(exc, "body", None)
    return f"not a chat completion: {_snippet(body if body is not None else str(exc))}"


def _snippet(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = " ".join(text.split())
    if text.lower().startswith(("<!doctype html", "<html")):
        return f"an HTML page ({text[:60]}...)"
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def _cause(exc: BaseException, kind: type[BaseException]) -> Any:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        message = message or body.get("message") or body.get("detail")
    if not message:
        message = getattr(exc, "message", None) or str(exc)
    text = " ".join(str(message).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return str(exc) or type(exc).__name__


def _refused(exc: BaseException) -> bool:
    """Whether a connection error means 'cannot connect' (refused, unknown host), not a dropped reply."""
    seen: BaseException | None = exc
    while seen is not None:
        if (
            isinstance(seen, (ConnectionRefusedError, socket.gaierror))
            or type(seen).__name__ == "ConnectError"
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no attempt"
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"HTTP {status}: {_server_message(exc)}"
    return f"{type(exc).__name__}: {_root_cause(exc)}"


def _resolve_key(explicit: str | None, api_base: str) -> str:
    key = explicit or os.environ.get("OPENAI_API_KEY") or ""
    if key:
        return key
    if (urlsplit(api_base).hostname or "") in LOCAL_HOSTS:
        return DUMMY_KEY  # a local vLLM/SGLang started without --api-key takes any key
    raise ModelError(
        f"no API key for the server at {server_label(api_base)}",
        hint="set OPENAI_API_KEY or pass -M api_key=...",
    )


def create(
    arg: str, options: Mapping[str, str], *, api_base: str | None = None, concurrency: int | None = None
) -> OpenAICompatModel:
    """``openai:MODEL`` with ``-M`` options, and the run's ``--api-base`` and ``--concurrency`` (typed; a ``-M``
    option of the same name wins).

    ``api_base`` (else ``OPENAI_BASE_URL``, else api.openai.com), ``api_key`` (else ``OPENAI_API_KEY``; a
    local server gets the dummy key "EMPTY"), ``concurrency`` (16), ``timeout`` (60 s per request),
    ``max_retries`` (6), ``retry_base``/``retry_cap`` (0.5 s / 30 s backoff), ``image_format`` (png|jpeg),
    ``jpeg_quality`` (95), ``max_side`` (0 = no resize), ``image_detail`` (auto|low|high, omitted unless set),
    ``continue_final_message`` (true), ``top_logprobs`` (20), ``max_response_mb`` (16: a bigger reply fails
    its sample; 0 = no bound), ``malformed_retries`` (2: a 200 reply that is not a chat completion is asked
    again this often, then the sample fails with the reason), ``max_images`` (0 = no limit: a task whose
    requests carry more images is refused before it starts), ``logprobs`` (auto: the level words' exact token
    ids from SGLang's ``/generate`` on a server that answers ``/get_model_info`` like SGLang and whose tokenizer
    is here, else from a vLLM server's ``logprob_token_ids``, else read ``top_logprobs``; ids: require vLLM's
    field; sglang: require SGLang's ``/generate``, checked here, before any work; top: never ask;
    :mod:`qbench.models.token_ids`, :mod:`qbench.models.sglang_native`), ``tokenizer`` (a local folder with the
    served model's processor, to render prompts for SGLang's ``/generate``; default: the server's
    ``tokenizer_path`` when it is a folder here).
    """
    if not arg:
        raise UsageError("model spec 'openai:' needs a model name", hint="e.g. openai:gpt-4o")
    opts = parse_options(options, OPTIONS, f"openai:{arg}")
    if concurrency is not None:
        opts.setdefault("concurrency", concurrency)
    api_base = opts.pop("api_base", None) or api_base or os.environ.get("OPENAI_BASE_URL") or DEFAULT_API_BASE
    if urlsplit(api_base).scheme not in {"http", "https"} or not urlsplit(api_base).hostname:
        raise UsageError(
            f"api base '{redact_url(api_base)}' must be an http(s) URL", hint="e.g. http://127.0.0.1:8000/v1"
        )
    try:
        port = urlsplit(api_base).port
        if port == 0:
            raise ValueError(port)
    except ValueError:
        raise UsageError(
            f"api base '{redact_url(api_base)}' has a port out of range",
            hint="a port is 1..65535, e.g. :8000",
        ) from None
    fmt = str(opts.pop("image_format", "png")).lower()
    fmt = {"jpg": "jpeg"}.get(fmt, fmt)
    if fmt not in {"png", "jpeg"}:
        raise UsageError(f"model option 'image_format={fmt}' must be png or jpeg")
    detail = opts.pop("image_detail", None)
    if detail is not None and detail not in {"auto", "low", "high"}:
        raise UsageError(f"model option 'image_detail={detail}' must be auto, low or high")
    settings = Settings(
        api_base=api_base,
        api_key=_resolve_key(opts.pop("api_key", None), api_base),
        image_format=fmt,
        image_detail=detail,
        **opts,
    )
    checks = [
        (settings.concurrency >= 1, "concurrency must be at least 1"),
        (settings.timeout > 0, "timeout must be positive (seconds)"),
        (settings.max_retries >= 0, "max_retries must be 0 or more"),
        (settings.retry_base >= 0 and settings.retry_cap >= 0, "retry_base and retry_cap must be 0 or more"),
        (1 <= settings.jpeg_quality <= 100, "jpeg_quality must be 1..100"),
        (settings.max_side >= 0, "max_side must be 0 (no resize) or a size in pixels"),
        (settings.top_logprobs >= 2, "top_logprobs must be at least 2"),
        (settings.max_response_mb >= 0, "max_response_mb must be 0 (no bound) or more"),
        (settings.malformed_retries >= 0, "malformed_retries must be 0 or more"),
        (settings.max_images >= 0, "max_images must be 0 (no limit) or more"),
        (settings.logprobs in LOGPROB_MODES, f"logprobs must be one of {', '.join(LOGPROB_MODES)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(f"model option {message}")
    if settings.tokenizer:
        folder, why = tokenizer_folder(settings.tokenizer, None)
        if folder is None:
            raise UsageError(why, hint=TOKENIZER_HINT)
    model = OpenAICompatModel(arg, settings)
    if settings.logprobs == "sglang":  # before any work: an SGLang server and a local tokenizer, or one line
        if not settings.continue_final_message:
            raise UsageError("model option logprobs=sglang needs continue_final_message=true")
        try:
            model._native_prompts()
        except BaseException:
            model.close()
            raise
    return model
