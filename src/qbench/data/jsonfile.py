"""Reading the JSON shapes the official scripts leave behind: a list, JSON lines, or concatenated objects.

The official A3 scripts append ``json.dump(item)`` to one file with no separator (``{...}{...}``); their
notebook parses that by string replacement. We decode object after object instead, so a broken file gets an
error that names the byte offset and the item number rather than a generic parse failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qbench.errors import DataError


def read_records(path: Path) -> list[dict[str, Any]]:
    """All objects in ``path`` (a JSON list, JSONL, or concatenated objects), each checked to be an object."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("file not found", file=path) from None
    except IsADirectoryError:
        raise DataError("is a folder, expected a JSON file", file=path) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path) from None
    stripped = text.lstrip()
    if not stripped:
        raise DataError("file is empty", file=path)
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=path
            ) from None
    else:
        items = _concatenated(text, path)
    if not isinstance(items, list):
        raise DataError("expected a list of objects", file=path)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise DataError(f"expected an object, got {type(item).__name__}", file=path, item=i)
    return items


def _concatenated(text: str, path: Path) -> list[Any]:
    decoder = json.JSONDecoder()
    items: list[Any] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= end:
            return items
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=path, item=len(items)
            ) from None
        items.append(obj)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that a crash leaves either the old file or the new one, never half of one."""
    import os

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, ensure_ascii=False, default=_json_default)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise named(exc, path) from None


def named(exc: OSError, path: Path) -> OSError:
    """``exc`` with the file it was about (a failed write or fsync does not say), for the one-line error."""
    if exc.filename is None:
        return type(exc)(exc.errno, exc.strerror, str(path))
    return exc


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_text_atomic(path: Path, text: str) -> None:
    """Write text so that a crash leaves either the old file or the new one."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
