"""Resumable, checked downloads over HTTP (httpx2) with a progress bar (rich).

A download goes to ``FILE.part`` and is renamed to ``FILE`` only after its checksum passed: an interrupted
download resumes from the bytes already there (HTTP Range), a wrong one is deleted and reported, and nothing
that did not pass is ever used. Hub files are fetched from ``huggingface_hub.hf_hub_url`` (which honours
``HF_ENDPOINT``) with the Hub's own headers (token, user agent).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbench.catalog.home import Checked
from qbench.catalog.registry import Catalog, Remote
from qbench.errors import DataError, QBenchError, UsageError

log = logging.getLogger("qbench")
CHUNK = 1 << 20
RETRIES = 5


class DownloadError(QBenchError):
    """The network failed; what arrived is kept in ``.part`` and the same command resumes it."""

    exit_code = 1


class HTTPRefused(QBenchError):
    """The server answered 4xx (gone, forbidden): not retried."""

    exit_code = 1


@dataclass(frozen=True)
class Target:
    """A resolved remote: the URL to GET, the headers to send, and what the bytes must hash to."""

    url: str
    headers: dict[str, str]
    sha256: str = ""
    git_sha1: str = ""
    size: int | None = None
    label: str = ""


def resolve(remote: Remote, catalog: Catalog, *, file: str | None = None) -> Target:
    """The URL of a remote (after mirrors); Hub files through huggingface_hub, refused under HF_HUB_OFFLINE."""
    if remote.hf_repo:
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
            raise UsageError(
                f"{remote.where} is on the Hugging Face Hub and HF_HUB_OFFLINE is set",
                hint="unset HF_HUB_OFFLINE, or install from a local copy with `qbench data add`",
            )
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        endpoint = os.environ.get("HF_ENDPOINT") or None
        url = hf_hub_url(
            remote.hf_repo,
            file or remote.file or remote.name,
            repo_type="dataset",
            revision=remote.revision or "main",
            endpoint=endpoint,
        )
        headers = dict(build_hf_headers())
    elif remote.url:
        url, headers = remote.url, {"user-agent": "qbench"}
    else:
        raise UsageError(f"source '{remote.name}' has neither url nor hf_repo")
    return Target(catalog.mirrored(url), headers, remote.sha256, remote.git_sha1, remote.bytes, remote.where)


def fetch(target: Target, dest: Path, *, progress: bool = True) -> Checked:
    """Download ``target`` to ``dest`` (resuming ``dest.part``), check it, and say how it was checked."""
    import httpx2

    if dest.exists():  # finished before (e.g. a failed unpack): check and reuse, or drop it
        try:
            return check_file(dest, target)
        except DataError:
            dest.unlink(missing_ok=True)
            raise
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempts = 0
    reported = ""
    with httpx2.Client(follow_redirects=True, timeout=httpx2.Timeout(30.0, read=120.0)) as client:
        while True:
            try:
                reported = _transfer(client, target, part, progress) or reported
                break
            except (httpx2.TransportError, DownloadError) as exc:
                attempts += 1
                kept = part.stat().st_size if part.exists() else 0
                unreachable = isinstance(exc, httpx2.ConnectError) and attempts > 1  # no host, no route
                if attempts > RETRIES or unreachable:
                    raise DownloadError(
                        f"download failed after {attempts - 1} retries ({exc}); {kept} bytes kept",
                        file=target.url,
                        hint="run the same command again to resume",
                    ) from None
                log.warning("download interrupted (%s); resuming from byte %d", exc, kept)
                time.sleep(min(2**attempts, 30) / 10)
    try:
        checked = check_file(part, target, name=dest.name, reported=reported)
    except DataError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return checked


def _reported_sha256(response: Any) -> str:
    """The sha256 the Hub states for an LFS file (``X-Linked-Etag`` on its redirect), if any."""
    for step in (*response.history, response):
        tag = step.headers.get("x-linked-etag", "").removeprefix("W/").strip('"').lower()
        if len(tag) == 64 and all(c in "0123456789abcdef" for c in tag):
            return tag
    return ""


def _transfer(client: Any, target: Target, part: Path, progress: bool) -> str:
    """One GET, from the bytes ``part`` already holds; appends to it as data arrive.

    Returns the sha256 the server reported for the file (the Hub does for LFS files), or "".
    """
    import httpx2

    offset = part.stat().st_size if part.exists() else 0
    headers = dict(target.headers)
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with client.stream("GET", target.url, headers=headers) as response:
        reported = _reported_sha256(response)
        if response.status_code == 416 and offset:  # nothing left to send: the .part is whole
            return reported
        if response.status_code >= 500:  # the server's trouble: retried, resuming
            raise DownloadError(f"HTTP {response.status_code} {response.reason_phrase}", file=target.url)
        if response.status_code >= 400:
            raise HTTPRefused(
                f"HTTP {response.status_code} {response.reason_phrase}",
                file=target.url,
                hint="check the source, or set a mirror in a sources file (--sources / QBENCH_SOURCES)",
            )
        if offset and response.status_code != 206:
            log.info("the server ignored the range request: starting %s again", target.label)
            offset = 0
        length = response.headers.get("content-length")
        total = offset + int(length) if length and length.isdigit() else target.size
        with open(part, "ab" if offset else "wb") as fh, _bar(target.label, total, offset, progress) as bar:
            try:
                for chunk in response.iter_bytes():  # as they arrive: a drop loses nothing
                    fh.write(chunk)
                    bar(len(chunk))
            except httpx2.TransportError:
                fh.flush()
                raise
        got = part.stat().st_size
        if total is not None and got < total:
            raise DownloadError(f"connection closed at byte {got} of {total}", file=target.url)
    return reported


class _bar:
    """A rich progress bar (size, rate, ETA) on a terminal; silent otherwise."""

    def __init__(self, label: str, total: int | None, done: int, show: bool) -> None:
        self.label, self.total, self.done, self.show = label, total, done, show
        self.progress: Any = None

    def __enter__(self) -> Any:
        from rich.console import Console

        if self.show and Console(stderr=True).is_terminal:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total, completed=self.done)
        return self.advance

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """What ``git hash-object FILE`` prints: the only recorded checksum of some official files."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(
    path: Path, target: Target | Remote, *, name: str | None = None, reported: str = ""
) -> Checked:
    """Compare a file with its recorded sha256 (else git blob id); with neither, compute and say so.

    ``reported`` is what the server said the sha256 is (the Hub, for LFS files): without a recorded hash it
    still catches a corrupt transfer, but it is not an independent record, so the install is not "verified".
    """
    sha = sha256_file(path)
    name = name or path.name
    label = target.label if isinstance(target, Target) else target.where
    if target.sha256:
        if sha != target.sha256.lower():
            raise DataError(
                f"checksum mismatch: sha256 {sha}, expected {target.sha256}",
                file=name,
                hint=f"from {label}; the file was not used and nothing was installed",
            )
        return Checked(name, sha, "known sha256", label)
    if target.git_sha1:
        blob = git_blob_sha1(path)
        if blob != target.git_sha1.lower():
            raise DataError(
                f"checksum mismatch: git blob {blob}, expected {target.git_sha1}",
                file=name,
                hint=f"from {label}; the file was not used and nothing was installed",
            )
        return Checked(name, sha, "known git blob", label)
    if reported:
        if sha != reported:
            raise DataError(
                f"checksum mismatch: sha256 {sha}, the server reported {reported}",
                file=name,
                hint=f"from {label}; the file was not used and nothing was installed",
            )
        log.warning("%s has no recorded checksum: sha256 %s matches the Hub's, recorded", name, sha)
        return Checked(name, sha, "hub-reported sha256 (no recorded hash)", label)
    log.warning(
        "%s has no recorded checksum: computed sha256 %s (recorded in the install; compare it with others)",
        name,
        sha,
    )
    return Checked(name, sha, "computed (no recorded hash)", label)
