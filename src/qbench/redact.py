"""Credentials never reach a file or a terminal: user:password@ and secret query values in URLs, secret options.

Used wherever a URL or an option a user typed is written: the run manifest, log lines, error lines, the
resume command, reports (which read the manifest).
"""

from __future__ import annotations

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
