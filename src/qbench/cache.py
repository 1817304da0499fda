"""The response cache: SQLite in WAL mode under the user cache dir, shared by all runs.

A key is a hash of everything that determines a model's answer: the model fingerprint, the request (text,
image content hashes, prefix, words, options, generation settings) and, for sampled requests such as judge
rounds, the round number. Only deterministic requests or explicit rounds are cached; a value is written
only after the model answered, so a kill never leaves a half entry.

The cache is a convenience, never a reason for a run to fail: a database that is not one (a disk error, a
stray file) is moved aside (``responses.sqlite.corrupt-<time>``) with one warning and a fresh one started; an
error while reading or writing it later turns the cache off for the rest of the run. ``clear`` removes the
files themselves, so it works on a broken database too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("qbench")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
)


def default_path() -> Path:
    """The response cache file in the qbench cache folder (:func:`qbench.paths.cache_dir`)."""
    from qbench.paths import cache_dir

    return cache_dir() / "responses.sqlite"


def cache_key(
    model_fingerprint: str, capability: str, request: Mapping[str, Any], round_index: int | None = None
) -> str:
    blob = json.dumps(
        {"model": model_fingerprint, "capability": capability, "request": request, "round": round_index},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """A thread-safe key -> JSON value store; ``enabled=False`` makes every call a no-op miss."""

    def __init__(self, path: Path | None = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.path = path or default_path()
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = self._connect()
            except sqlite3.DatabaseError as exc:
                aside = self._move_aside()
                log.warning("the response cache %s was unreadable (%s); moved it to %s and started a new one",
                            self.path, exc, aside)  # fmt: skip
                self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(SCHEMA)
            conn.execute("SELECT key FROM responses LIMIT 1").fetchall()
            conn.commit()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _files(self) -> list[Path]:
        return [self.path.with_name(self.path.name + suffix) for suffix in ("", "-wal", "-shm")]

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for file in self._files():
            if file.exists():
                file.replace(aside.with_name(aside.name + file.name[len(self.path.name) :]))
        return aside

    def _broken(self, exc: Exception) -> None:
        """An error in the middle of a run: the cache is turned off, the run goes on."""
        log.warning("the response cache %s failed (%s); going on without it", self.path, exc)
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        if not self._conn or not keys:
            self.misses += len(keys)
            return {}
        found: dict[str, Any] = {}
        with self._lock:
            try:
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for key, value in self._conn.execute(
                        f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk
                    ):
                        found[key] = json.loads(value)
            except (sqlite3.Error, ValueError) as exc:
                self._broken(exc)
                found = {}
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(self, items: Mapping[str, Any]) -> None:
        if not self._conn or not items:
            return
        now = time.time()
        rows = [(k, json.dumps(v), now) for k, v in items.items()]
        with self._lock:
            try:
                self._conn.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", rows)
                self._conn.commit()
            except sqlite3.Error as exc:
                self._broken(exc)

    def stats(self) -> dict[str, Any]:
        if not self._conn:
            return {"path": str(self.path), "entries": 0, "bytes": 0}
        with self._lock:
            (count,) = self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.exists())
        return {"path": str(self.path), "entries": int(count), "bytes": size}

    def clear(self) -> int:
        """Remove every cached response (the database files themselves, so a broken one goes too)."""
        count = 0
        with self._lock:
            if self._conn is not None:
                try:
                    (count,) = self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()
                except sqlite3.Error:
                    count = 0
                self._conn.close()
                self._conn = None
            for file in [*self._files(), *self.path.parent.glob(self.path.name + ".corrupt-*")]:
                file.unlink(missing_ok=True)
            if self.enabled:
                self._conn = self._connect()
        return int(count)

    def close(self) -> None:
        if self._conn:
            self._conn.close()
            self._conn = None
