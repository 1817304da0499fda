"""A real, scripted OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

The openai SDK sends through ``httpx2``, which respx cannot intercept, so tests talk to a real socket: this
module runs a :class:`http.server.ThreadingHTTPServer` (one thread per connection, so many requests can be in
flight) that implements ``POST /v1/chat/completions`` and ``GET /v1/models``.

What it answers is a plain function of the request JSON, ``responder(body) -> str | dict | Reply``:

- a ``str`` is the assistant's text (with log-probs when the request asks for them: see :class:`Reply`);
- a ``dict`` is sent verbatim as the JSON body (status 200);
- a :class:`Reply` sets the status, headers, a delay, the text, usage and ``top_logprobs``.

Helpers build scripted failures: :func:`fail_first` (the first N attempts of every distinct request fail,
e.g. 429 with ``Retry-After`` or 500), ``Reply.error(...)`` and ``Reply(delay=...)`` for a slow reply.
The server records every request body (``server.bodies``), the arrival time and status of every attempt
(``server.log``), counts requests and tracks the maximum number in flight (``server.max_in_flight``).

Use it as a context manager::

    with FakeOpenAIServer(lambda body: "B", latency=0.2) as server:
        model = create("m", {"api_base": server.url})

or run ``python tests/fake_openai_server.py --latency 0.2`` for a standalone server (prints its URL).
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], "str | dict[str, Any] | Reply"]


@dataclass
class Reply:
    """A scripted answer: a chat completion with ``text``, or an error ``status`` with ``message``.

    ``top_logprobs`` (token -> log-prob, most likely first) fills ``choices[0].logprobs`` when the request asked
    for ``logprobs`` and the server supports them; without it a request for log-probs gets the text as the
    only token with log-prob 0. ``usage`` overrides the token counts (default: 10 prompt + 1 per word).
    """

    text: str = "ok"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    message: str = ""
    top_logprobs: Mapping[str, float] | None = None
    usage: Mapping[str, int] | None = None
    finish_reason: str = "stop"
    raw: bytes | None = None  # sent verbatim as the body (a hostile server: HTML, garbage)
    content_type: str = "application/json"
    trickle: float = 0.0  # seconds between the body's bytes (a server that trickles its reply)
    # A full next-token distribution (a model behind the server): log-probs over token ids 0..V-1 and the
    # text of each id. With it the server answers ``top_logprobs`` with the N most likely ids and, when it
    # plays vLLM (``token_ids=True``), ``logprob_token_ids`` with exactly the ids asked for.
    vocab_logprobs: Any = None
    vocab: Any = None

    @classmethod
    def error(cls, status: int, message: str = "", retry_after: float | None = None) -> Reply:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(status=status, message=message or f"scripted error {status}", headers=headers)


def user_text(body: Mapping[str, Any]) -> str:
    """The text of the last user message (parts joined), the natural key of a request in tests."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content or [] if p.get("type") == "text")
    return ""


def echo(body: Mapping[str, Any]) -> str:
    """The default responder: the user's text back, so every reply tells which request it answers."""
    return f"echo: {user_text(body)}"


def fail_first(
    times: int,
    failure: Reply | Callable[[dict[str, Any]], Reply],
    then: Responder = echo,
    key: Callable[[Mapping[str, Any]], str] = user_text,
) -> Responder:
    """A responder whose first ``times`` attempts of every distinct request (by ``key``) get ``failure``."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def respond(body: dict[str, Any]) -> str | dict[str, Any] | Reply:
        k = key(body)
        with lock:
            seen[k] += 1
            n = seen[k]
        if n <= times:
            return failure(body) if callable(failure) else failure
        return then(body)

    return respond


@dataclass
class Attempt:
    """One request the server received: when, what, and how it was answered."""

    time: float
    key: str
    status: int = 0
    done: float = 0.0


class FakeOpenAIServer:
    """A threaded OpenAI-compatible server on 127.0.0.1:0 with a pluggable responder.

    ``latency`` is added to every chat completion (before the responder's own ``delay``); ``api_key`` makes
    the server demand ``Authorization: Bearer <key>`` (401 otherwise); ``logprobs=False`` plays a server
    that ignores ``logprobs`` requests; ``token_ids=True`` plays vLLM's ``logprob_token_ids`` (the log-probs of
    exactly the ids asked for, from a reply's ``vocab_logprobs``) and ``return_tokens_as_token_ids``;
    ``tokenizer(text, add_special_tokens) -> ids`` serves vLLM's ``POST /tokenize``; ``native(body) -> dict``
    serves SGLang's ``POST /generate`` and ``model_info`` its ``GET /get_model_info`` (an SGLang-like server;
    without them both routes answer 404, as vLLM's do); ``model`` is what
    ``/v1/models`` lists; ``port`` (0: any free one)
    lets a test bring a server back on the address a run already knows (the URL is part of a run's identity).
    """

    def __init__(
        self,
        responder: Responder = echo,
        *,
        latency: float = 0.0,
        api_key: str | None = None,
        logprobs: bool = True,
        model: str = "fake-model",
        key: Callable[[Mapping[str, Any]], str] = user_text,
        port: int = 0,
        token_ids: bool = False,
        tokenizer: Callable[[str, bool], list[int]] | None = None,
        native: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        model_info: Mapping[str, Any] | None = None,
    ) -> None:
        self.responder = responder
        self.token_ids = token_ids  # honours vLLM's logprob_token_ids / return_tokens_as_token_ids
        self.tokenizer = tokenizer  # serves vLLM's POST /tokenize (at the server root) when given
        self.tokenize_calls = 0
        self.native = native  # SGLang's POST /generate
        self.model_info = dict(model_info) if model_info is not None else None  # SGLang's GET /get_model_info
        self.native_bodies: list[dict[str, Any]] = []
        self.model_info_calls = 0
        self.latency = latency
        self.api_key = api_key
        self.logprobs = logprobs
        self.model = model
        self.key = key
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.log: list[Attempt] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = 0
        self._port = port

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        handler = _make_handler(self)
        httpd = _QuietServer(("127.0.0.1", self._port), handler, bind_and_activate=False)
        httpd.allow_reuse_address = True  # a test restarts a server on the port a killed run knew
        httpd.daemon_threads = True
        httpd.block_on_close = False
        httpd.request_queue_size = 256  # a burst of connections must not wait on the listen backlog
        httpd.server_bind()
        httpd.server_activate()
        self._httpd = httpd
        self._port = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests read --------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._port, "server not started"
        return self._port  # still known after stop(), for messages that name it

    @property
    def url(self) -> str:
        """The base URL to give a client (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def count(self) -> int:
        """Chat completion requests received (every attempt, retries included)."""
        with self._lock:
            return len(self.log)

    def attempts(self, key: str) -> list[Attempt]:
        with self._lock:
            return [a for a in self.log if a.key == key]

    def answered(self) -> Counter[str]:
        """Successful (200) replies per request key: a test asserts every request was answered once."""
        with self._lock:
            return Counter(a.key for a in self.log if a.status == 200)

    def reset(self) -> None:
        with self._lock:
            self.bodies.clear()
            self.headers.clear()
            self.log.clear()
            self.max_in_flight = self.in_flight

    # -- serving ----------------------------------------------------------------------------------------------

    def _chat(
        self, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Any, Attempt]:
        attempt = Attempt(time=time.monotonic(), key=self.key(body))
        with self._lock:
            self.bodies.append(body)
            self.headers.append(headers)
            self.log.append(attempt)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._ids += 1
            rid = self._ids
        try:
            if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
                return 401, {}, _error_body(401, "Incorrect API key provided"), attempt
            if self.latency:
                time.sleep(self.latency)
            result = self.responder(body)
            if isinstance(result, dict):
                return 200, {}, result, attempt
            reply = Reply(text=result) if isinstance(result, str) else result
            if reply.delay:
                time.sleep(reply.delay)
            if reply.status != 200:
                return reply.status, dict(reply.headers), _error_body(reply.status, reply.message), attempt
            payload: Any = reply.raw if reply.raw is not None else self._completion(body, reply, rid)
            if reply.raw is not None or reply.trickle or reply.content_type != "application/json":
                payload = Raw(payload if isinstance(payload, bytes) else json.dumps(payload).encode(), reply)
            return 200, dict(reply.headers), payload, attempt
        finally:
            with self._lock:
                self.in_flight -= 1

    def _completion(self, body: Mapping[str, Any], reply: Reply, rid: int) -> dict[str, Any]:
        logprobs = None
        if body.get("logprobs") and self.logprobs and reply.vocab_logprobs is not None:
            logprobs = self._vocab_logprobs(body, reply)
        elif body.get("logprobs") and self.logprobs:
            top = dict(reply.top_logprobs) if reply.top_logprobs is not None else {reply.text: 0.0}
            n = int(body.get("top_logprobs") or 0)
            items = list(top.items())
            token, value = max(items, key=lambda kv: kv[1]) if items else (reply.text, 0.0)
            logprobs = {
                "content": [
                    {
                        "token": token,
                        "logprob": value,
                        "bytes": list(token.encode()),
                        "top_logprobs": [
                            {"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in items[:n]
                        ],
                    }
                ]
            }
        usage = (
            dict(reply.usage)
            if reply.usage is not None
            else {
                "prompt_tokens": 10,
                "completion_tokens": max(1, len(reply.text.split())),
            }
        )
        usage.setdefault("total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
        return {
            "id": f"chatcmpl-{rid}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "logprobs": logprobs,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": usage,
        }

    def _vocab_logprobs(self, body: Mapping[str, Any], reply: Reply) -> dict[str, Any]:
        """``choices[0].logprobs`` from a full distribution, the way vLLM builds it."""
        values = [float(v) for v in reply.vocab_logprobs]
        as_ids = self.token_ids and bool(body.get("return_tokens_as_token_ids"))

        def entry(tid: int) -> dict[str, Any]:
            text = f"token_id:{tid}" if as_ids else str(reply.vocab[tid])
            return {"token": text, "logprob": values[tid], "bytes": list(text.encode())}

        chosen = max(range(len(values)), key=values.__getitem__)
        wanted = body.get("logprob_token_ids") if self.token_ids else None
        if wanted:
            listed = [int(t) for t in wanted if 0 <= int(t) < len(values)]
        else:
            n = int(body.get("top_logprobs") or 0)
            listed = sorted(range(len(values)), key=lambda t: -values[t])[:n]
        return {"content": [{**entry(chosen), "top_logprobs": [entry(t) for t in listed]}]}


@dataclass
class Raw:
    """A body sent as bytes, with the reply's content type and trickle."""

    data: bytes
    reply: Reply


class _QuietServer(ThreadingHTTPServer):
    """A client that closes a keep-alive connection (the SDK on close, a timeout) is normal here, not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do: the client reuses connections
        disable_nagle_algorithm = True  # as uvicorn does; else headers and body wait ~40 ms for a delayed ACK

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read server.log instead
            pass

        def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
            raw = body if isinstance(body, Raw) else None
            data = raw.data if raw else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", raw.reply.content_type if raw else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if raw and raw.reply.trickle:
                    for i in range(len(data)):
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(raw.reply.trickle)
                else:
                    self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and went away
                self.close_connection = True

        def _client_gone(self) -> bool:
            """The client closed the connection while we were working (readable with no data = EOF)."""
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                return True

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/get_model_info" and server.model_info is not None:
                with server._lock:
                    server.model_info_calls += 1
                self._send(200, server.model_info)
            elif self.path.rstrip("/") in {"/v1/models", "/models"}:
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": server.model, "object": "model", "created": 0, "owned_by": "fake"}],
                    },
                )
            else:
                self._send(404, _error_body(404, f"no route {self.path}"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.rstrip("/") == "/tokenize" and server.tokenizer is not None:
                body = json.loads(raw or b"{}")
                with server._lock:
                    server.tokenize_calls += 1
                ids = server.tokenizer(
                    str(body.get("prompt", "")), bool(body.get("add_special_tokens", True))
                )
                self._send(200, {"count": len(ids), "max_model_len": 4096, "tokens": ids})
                return
            if self.path.rstrip("/") == "/generate" and server.native is not None:
                body = json.loads(raw or b"{}")
                with server._lock:
                    server.native_bodies.append(body)
                self._send(200, server.native(body))
                return
            if self.path.rstrip("/") not in {"/v1/chat/completions", "/chat/completions"}:
                self._send(404, _error_body(404, f"no route {self.path}"))
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send(400, _error_body(400, "body is not JSON"))
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload, attempt = server._chat(body, headers)
            if self._client_gone():
                attempt.status = (
                    499  # nginx's "client closed request": the client timed out, nothing was sent
                )
                self.close_connection = True
                return
            attempt.status = status
            self._send(status, payload, extra)
            attempt.done = time.monotonic()

    return Handler


def running(responder: Responder = echo, **kwargs: Any) -> Iterator[FakeOpenAIServer]:
    """A generator for a pytest fixture: ``fixture = pytest.fixture(running)`` or ``yield from running(...)``."""
    with FakeOpenAIServer(responder, **kwargs) as server:
        yield server


def a3_words(body: Mapping[str, Any]) -> Reply:
    """An A3 reply: ``good`` and ``poor`` among the top log-probs, varying with the request text."""
    shift = (sum(map(ord, user_text(body))) % 100) / 100
    return Reply(text="good", top_logprobs={" good": -0.2 - shift, " poor": -1.5 + shift, " fair": -3.0})


MODES: dict[str, Responder] = {"echo": echo, "a3": a3_words}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake OpenAI-compatible server until Ctrl-C.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every completion")
    parser.add_argument("--port-file", default=None, help="also write the URL to this file")
    parser.add_argument("--mode", choices=sorted(MODES), default="echo", help="what it answers")
    args = parser.parse_args()
    with FakeOpenAIServer(MODES[args.mode], latency=args.latency) as server:
        print(server.url, flush=True)
        if args.port_file:
            with open(args.port_file, "w") as fh:
                fh.write(server.url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
