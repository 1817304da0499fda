"""Limits the HTTP client itself cannot set: a whole-request deadline, a response size bound, and a kill switch.

httpx's ``timeout`` bounds each socket operation, so a server that trickles one byte a second never times
out, and nothing bounds how much a reply may send. This module wraps httpcore's network backend (the layer
that owns the sockets), so that for the request running in the current thread

- every read and write gets at most the time left until the request's deadline (then a ``ReadTimeout``,
  which the adapter retries like any timeout);
- the bytes read are counted, and a reply larger than the bound raises :class:`ResponseTooLarge`;
- :meth:`GuardedBackend.abort_all` shuts every open socket down, so that threads blocked on a hung server
  return at once (Ctrl-C, SIGTERM, a fatal error), instead of waiting out their timeout.

The per-request limits live in a thread-local, set by :meth:`GuardedBackend.request`: the sync client reads
and writes a request's sockets in the thread that sent it.
"""

from __future__ import annotations

import socket
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class ResponseTooLarge(Exception):
    """A reply went past the size bound (``-M max_response_mb``)."""


class _Limits(threading.local):
    deadline: float | None = None
    max_bytes: int | None = None
    read: int = 0


class GuardedBackend:
    """A network backend that forwards to ``inner`` and applies the current thread's request limits."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._limits = _Limits()
        self._streams: weakref.WeakSet[GuardedStream] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.aborted = False

    @contextmanager
    def request(self, timeout: float | None, max_bytes: int | None) -> Iterator[None]:
        """Limits for the request sent inside the ``with`` block in this thread."""
        limits = self._limits
        limits.deadline = time.monotonic() + timeout if timeout else None
        limits.max_bytes = max_bytes
        limits.read = 0
        try:
            yield
        finally:
            limits.deadline = None
            limits.max_bytes = None

    def time_left(self, timeout: float | None) -> float | None:
        """``timeout`` cut to what is left of the request's deadline; a timeout error if nothing is."""
        deadline = self._limits.deadline
        if deadline is None:
            return timeout
        left = deadline - time.monotonic()
        if left <= 0 or self.aborted:
            import httpcore2

            raise httpcore2.ReadTimeout("the whole-request deadline (-M timeout) passed")
        return left if timeout is None else min(timeout, left)

    def count(self, n: int) -> None:
        limits = self._limits
        limits.read += n
        if limits.max_bytes is not None and limits.read > limits.max_bytes:
            raise ResponseTooLarge(f"the reply is larger than {limits.max_bytes / 1e6:g} MB")

    def track(self, stream: GuardedStream) -> GuardedStream:
        with self._lock:
            self._streams.add(stream)
        if self.aborted:
            stream.shutdown()
        return stream

    def abort_all(self) -> None:
        """Shut down every open socket: blocked reads return at once with an error."""
        self.aborted = True
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.shutdown()

    # -- the NetworkBackend interface ---------------------------------------------------------------------
    def connect_tcp(self, host: str, port: int, timeout: float | None = None, **kwargs: Any) -> Any:
        stream = self._inner.connect_tcp(host, port, self.time_left(timeout), **kwargs)
        return self.track(GuardedStream(stream, self))

    def connect_unix_socket(self, path: str, timeout: float | None = None, **kwargs: Any) -> Any:
        stream = self._inner.connect_unix_socket(path, self.time_left(timeout), **kwargs)
        return self.track(GuardedStream(stream, self))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedStream:
    """One connection's stream with the deadline, the size count and a shutdown for :meth:`abort_all`."""

    def __init__(self, inner: Any, backend: GuardedBackend) -> None:
        self._inner = inner
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, self._backend.time_left(timeout))
        self._backend.count(len(data))
        return bytes(data)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._backend.time_left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        stream = self._inner.start_tls(ssl_context, server_hostname, self._backend.time_left(timeout))
        return self._backend.track(GuardedStream(stream, self._backend))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def shutdown(self) -> None:
        sock = self._inner.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def guarded_client(timeout: float, max_connections: int) -> tuple[Any, GuardedBackend | None]:
    """An ``httpx2.Client`` for the openai SDK whose sockets go through a :class:`GuardedBackend`.

    Returns ``(client, None)`` if this httpx has no backend to wrap (then only the per-operation timeout
    applies): the adapter still works, without the extra limits.
    """
    import httpx2

    limits = httpx2.Limits(
        max_connections=max(100, max_connections), max_keepalive_connections=max_connections
    )
    transport = httpx2.HTTPTransport(limits=limits)
    pool = getattr(transport, "_pool", None)
    backend: GuardedBackend | None = None
    if pool is not None and hasattr(pool, "_network_backend"):
        backend = GuardedBackend(pool._network_backend)
        pool._network_backend = backend
    client = httpx2.Client(transport=transport, timeout=timeout, follow_redirects=True)
    return client, backend
