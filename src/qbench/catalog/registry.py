"""The catalog: every dataset qbench can fetch or adopt, read from TOML.

The built-in registry is package data (``sources.toml``). A user file in the same format (``--sources FILE``
or ``QBENCH_SOURCES``) is laid over it: a dataset it names is added, or its fields replace the built-in ones;
its ``[mirrors]`` rewrite URL prefixes (internal mirrors, air-gapped clusters).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from qbench.errors import DataError, UsageError

SOURCES_ENV = "QBENCH_SOURCES"


@dataclass(frozen=True)
class Remote:
    """One file somewhere: a URL or a Hub repository file, and what it must hash to (when known)."""

    name: str
    url: str = ""
    hf_repo: str = ""
    file: str = ""
    revision: str = "main"
    sha256: str = ""
    git_sha1: str = ""
    bytes: int | None = None
    manual: bool = False
    terms: str = ""
    note: str = ""

    @property
    def where(self) -> str:
        """Where it lives, for people: a URL or ``hf:repo/file``."""
        if self.hf_repo:
            return f"hf:{self.hf_repo}/{self.file or self.name}"
        return self.url


@dataclass(frozen=True)
class View:
    """A name ``--data`` accepts: a list file inside the install, its format and split."""

    name: str
    list: str
    format: str
    split: str | None = None


@dataclass(frozen=True)
class CatalogEntry:
    """One installable dataset: label files, image sources, and the names it answers to."""

    name: str
    title: str
    task: str
    views: tuple[View, ...]
    files: tuple[Remote, ...] = ()
    sources: tuple[Remote, ...] = ()
    items: int | None = None
    size: str = ""
    license: str = ""
    homepage: str = ""
    terms: str = ""
    verified: str = ""
    unverified: str = ""
    prefer: str = ""
    avoid: str = ""

    @property
    def downloadable(self) -> tuple[Remote, ...]:
        return tuple(s for s in self.sources if not s.manual)

    @property
    def needs_images(self) -> bool:
        return bool(self.sources)

    @property
    def manual_first(self) -> bool:
        """The preferred (first) source is a browser download: ``add`` is the way, mirrors only on request."""
        return bool(self.sources) and self.sources[0].manual

    def get_command(self) -> str:
        """The exact command that installs this dataset: ``get`` when the preferred source is scriptable."""
        if self.manual_first:
            return f"qbench data add {self.name} --from DIR_OR_ARCHIVE"
        return f"qbench data get {self.name}"

    def manual_hint(self) -> str:
        manual = [s for s in self.sources if s.manual]
        if not manual:
            return ""
        note = f" ({manual[0].note})" if manual[0].note else ""
        return f"download it by hand from {manual[0].url}{note}"


@dataclass(frozen=True)
class Catalog:
    entries: dict[str, CatalogEntry]
    suites: dict[str, tuple[str, ...]]
    mirrors: dict[str, str] = field(default_factory=dict)
    origin: str = "built-in"

    def entry(self, name: str) -> CatalogEntry:
        if name in self.entries:
            return self.entries[name]
        from qbench.registry import did_you_mean

        raise UsageError(f"no dataset '{name}' in the catalog", hint=did_you_mean(name, sorted(self.names())))

    def view(self, name: str) -> tuple[CatalogEntry, View] | None:
        """The entry and view a ``--data`` name refers to (a view name, or an entry with one view)."""
        for entry in self.entries.values():
            for view in entry.views:
                if view.name == name:
                    return entry, view
        named = self.entries.get(name)
        if named and len(named.views) == 1:
            return named, named.views[0]
        return None

    def names(self) -> list[str]:
        out = list(self.entries)
        out += [v.name for e in self.entries.values() for v in e.views if v.name not in self.entries]
        return out + list(self.suites)

    def mirrored(self, url: str) -> str:
        """The URL after the longest matching mirror prefix is rewritten."""
        for prefix in sorted(self.mirrors, key=len, reverse=True):
            if url.startswith(prefix):
                return self.mirrors[prefix] + url[len(prefix) :]
        return url


def _remote(raw: dict[str, Any], where: str) -> Remote:
    known = set(Remote.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise DataError(f"unknown keys {unknown}", file=where)
    name = raw.get("name") or raw.get("file") or ""
    if not name:
        raise DataError("a file or source needs a name", file=where)
    return Remote(**{**raw, "name": name})


ENTRY_KEYS = {"title", "task", "views", "files", "sources", "items", "size", "license", "homepage", "terms"}
ENTRY_KEYS |= {"verified", "unverified", "prefer", "avoid"}


def _entry(name: str, raw: dict[str, Any], where: str) -> CatalogEntry:
    unknown = sorted(set(raw) - ENTRY_KEYS)
    if unknown:  # a typo ("sorces") would otherwise silently keep the built-in value
        raise DataError(f"dataset '{name}' has unknown keys {unknown}", file=where)
    try:
        views = tuple(
            View(name=view_name, list=v.get("list", ""), format=v["format"], split=v.get("split"))
            for view_name, v in (raw.get("views") or {name: {"list": "", "format": ""}}).items()
        )
        return CatalogEntry(
            name=name,
            title=raw.get("title", name),
            task=raw.get("task", ""),
            views=views,
            files=tuple(_remote(f, f"{where}: {name}.files") for f in raw.get("files", [])),
            sources=tuple(_remote(s, f"{where}: {name}.sources") for s in raw.get("sources", [])),
            items=raw.get("items"),
            **{k: str(raw.get(k, "")) for k in ("size", "license", "homepage", "terms", "verified")},
            **{k: str(raw.get(k, "")) for k in ("unverified", "prefer", "avoid")},
        )
    except (KeyError, TypeError) as exc:
        raise DataError(f"dataset '{name}' is malformed ({exc})", file=where) from None


def _read(path: Path | None) -> dict[str, Any]:
    try:
        if path is None:
            return tomllib.loads(resources.files("qbench.catalog").joinpath("sources.toml").read_text())
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise DataError("sources file not found", file=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"not valid TOML ({exc})", file=path) from None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else (lists included) is replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def user_sources_file(explicit: str | Path | None = None) -> Path | None:
    value = explicit or os.environ.get(SOURCES_ENV)
    return Path(value).expanduser() if value else None


@cache
def _load(user_file: Path | None, stamp: tuple[int, int] | None = None) -> Catalog:
    """The merged catalog; ``stamp`` (mtime, size of the user file) makes an edited file read again."""
    raw = _read(None)
    origin = "built-in"
    if user_file is not None:
        raw = _merge(raw, _read(user_file))
        origin = f"built-in + {user_file}"
    where = str(user_file or "sources.toml")
    entries = {name: _entry(name, body, where) for name, body in raw.get("datasets", {}).items()}
    suites = {name: tuple(members) for name, members in raw.get("suites", {}).items()}
    for suite, members in suites.items():
        for member in members:
            if member not in entries:
                raise DataError(f"suite '{suite}' names an unknown dataset '{member}'", file=where)
    return Catalog(entries, suites, dict(raw.get("mirrors", {})), origin)


def load_catalog(user_file: str | Path | None = None) -> Catalog:
    """The built-in catalog with the user's sources file (argument, else ``QBENCH_SOURCES``) laid over it."""
    path = user_sources_file(user_file)
    try:
        stamp = (path.stat().st_mtime_ns, path.stat().st_size) if path is not None else None
    except OSError:
        stamp = None
    return _load(path, stamp)
