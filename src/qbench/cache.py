"""The response cache: SQLite in WAL mode under the user cache dir, shared by all runs.

A key is a hash of everything that determines a model's answer: the model fingerprint, the request (text,
image content hashes, prefix, words, options, generation settings) and, for sampled requests such as judge
rounds, the round number. Only deterministic requests or explicit rounds are cached; a value is written
only after the model answered, so a kill never leaves a half entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
)


def default_path() -> Path:
    if os.environ.get("QBENCH_CACHE_DIR"):
        return Path(os.environ["QBENCH_CACHE_DIR"]) / "responses.sqlite"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("qbench")) / "responses.sqlite"


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
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(SCHEMA)
            self._conn.commit()

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        if not self._conn or not keys:
            self.misses += len(keys)
            return {}
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in self._conn.execute(
                    f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk
                ):
                    found[key] = json.loads(value)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(self, items: Mapping[str, Any]) -> None:
        if not self._conn or not items:
            return
        now = time.time()
        rows = [(k, json.dumps(v), now) for k, v in items.items()]
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", rows)
            self._conn.commit()

    def stats(self) -> dict[str, Any]:
        if not self._conn:
            return {"path": str(self.path), "entries": 0, "bytes": 0}
        with self._lock:
            (count,) = self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.exists())
        return {"path": str(self.path), "entries": int(count), "bytes": size}

    def clear(self) -> int:
        if not self._conn:
            return 0
        with self._lock:
            (count,) = self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()
            self._conn.execute("DELETE FROM responses")
            self._conn.commit()
            self._conn.execute("VACUUM")
        return int(count)

    def close(self) -> None:
        if self._conn:
            self._conn.close()
            self._conn = None
