"""Credentials never reach a file or a terminal: user:password@ and secret query values in URLs, secret options.

Used wherever a URL or an option a user typed is written: the run manifest, log lines, error lines, the
resume command, reports (which read the manifest).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
#: Option and query-parameter names whose values are secrets (matched as substrings, case-insensitive).
SECRET_NAMES = ("key", "token", "password", "passwd", "secret", "auth", "signature", "sig", "credential")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(s in lowered for s in SECRET_NAMES)


def redact_url(url: str) -> str:
    """``http://user:pw@host/v1?api_key=k&x=1`` -> ``http://***@host/v1?api_key=***&x=1``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret(k) for k, _ in pairs):
            query = urlencode([(k, MASK if is_secret(k) else v) for k, v in pairs], safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Every URL inside ``text`` redacted (messages that quote what the user passed)."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text) if "://" in text else text


def redact_options(options: Mapping[str, str]) -> dict[str, str]:
    """Options as written to a manifest: secret-named values masked, URLs in the others redacted."""
    return {k: (MASK if is_secret(k) else redact_text(str(v))) for k, v in options.items()}


def redact_argv(argv: list[str]) -> list[str]:
    """A command line with secrets masked: URLs, ``-M api_key=...``-style pairs, and ``--api-key VALUE``."""
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        if arg.startswith("--") and is_secret(arg.split("=", 1)[0]):
            out.append(arg.split("=", 1)[0] + ("=" + MASK if "=" in arg else ""))
            mask_next = "=" not in arg
            continue
        key, sep, _ = arg.partition("=")
        if sep and not key.startswith("-") and "://" not in key and is_secret(key):
            out.append(f"{key}={MASK}")
            continue
        out.append(redact_text(arg))
    return out


class RedactFilter(logging.Filter):
    """A log handler filter: URLs in every message are redacted before the line is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True
