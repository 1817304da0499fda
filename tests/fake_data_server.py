"""A real HTTP server on 127.0.0.1 that plays the Hugging Face Hub (through ``HF_ENDPOINT``) and file hosts.

``/datasets/<repo>/resolve/<revision>/<file>`` is what ``huggingface_hub.hf_hub_url`` builds, so small
repositories can be served under the real repository ids and file names; like the Hub for LFS files it
answers with a redirect (to ``/cdn/...``) that states the file's sha256 in ``X-Linked-Etag`` (``reported``
overrides it). ``/files/<path>`` stands for any other host (the GitHub raw files and archive servers,
reached through a sources file's ``[mirrors]``).

It honours ``Range: bytes=N-`` (206 with ``Content-Range``, 416 past the end), records every request with its
range (``server.requests``), can send slowly (``throttle`` seconds per ``chunk``) and can cut the next
response after ``cut_after[path]`` bytes (the connection closes mid-body, as a dropped network does; once per
setting).
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeDataServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.throttle = 0.0
        self.chunk = 64 * 1024
        self.cut_after: dict[str, int] = {}
        self.reported: dict[str, str] = {}  # hub path -> the sha256 its redirect states (default: true)
        self._server: ThreadingHTTPServer | None = None

    # -- content --------------------------------------------------------------------------------------------
    def hub(self, repo: str, file: str, data: bytes, revision: str = "main") -> str:
        path = f"/datasets/{repo}/resolve/{revision}/{file}"
        self.files[path] = data
        return self.url + path

    def put(self, path: str, data: bytes) -> str:
        full = "/files/" + path.lstrip("/")
        self.files[full] = data
        return self.url + full

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def paths_requested(self) -> list[str]:
        return [p for p, _ in self.requests]

    # -- lifecycle ------------------------------------------------------------------------------------------
    def __enter__(self) -> FakeDataServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
                ranged = self.headers.get("Range")
                owner.requests.append((path, ranged))
                data = owner.files.get(path)
                if data is not None and path.startswith("/datasets/") and "/resolve/" in path:
                    # as the Hub does for LFS files: a redirect to the storage that states size and sha256
                    import hashlib

                    digest = owner.reported.get(path, hashlib.sha256(data).hexdigest())
                    self.send_response(302)
                    self.send_header("Location", "/cdn" + path)
                    self.send_header("X-Linked-Etag", f'"{digest}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if data is None and path.startswith("/cdn/"):
                    data = owner.files.get(path[len("/cdn") :])
                if data is None:
                    self.send_error(404, "not found")
                    return
                start = 0
                if ranged and ranged.startswith("bytes=") and ranged.endswith("-"):
                    start = int(ranged[len("bytes=") : -1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                cut = owner.cut_after.pop(path, None)  # one drop per setting
                sent = 0
                body = data[start:]
                try:
                    while sent < len(body):
                        piece = body[sent : sent + owner.chunk]
                        if cut is not None and sent + len(piece) > cut:
                            piece = piece[: max(cut - sent, 0)]
                            self.wfile.write(piece)
                            self.wfile.flush()
                            self.close_connection = True
                            return  # the body stops short: the client sees a dropped connection
                        self.wfile.write(piece)
                        sent += len(piece)
                        if owner.throttle:
                            time.sleep(owner.throttle)
                except (BrokenPipeError, ConnectionResetError):
                    return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
