"""Run folders: ``manifest.json``, append-only ``records.jsonl`` and ``metrics.json``.

The rules that make a crash harmless:

- records are appended and flushed as they are made (a kill loses nothing written), and fsynced at most
  every FSYNC_SECONDS and when the run ends (a power cut loses at most that much); a torn last line is
  ignored on read and cut off before the next append;
- ``metrics.json`` is written atomically and only at the end; the manifest says ``complete`` only after it;
  resuming sets ``running`` and removes the old metrics before the first new record, so nothing stale is
  ever trusted; a rerun of a finished run that fails before it writes a record leaves that run as it was
  (its records are read, and a broken line reported, before anything is changed);
- a lock file keeps two processes from writing the same run at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from qbench.data.jsonfile import named, write_json_atomic
from qbench.errors import DataError, RunError
from qbench.types import Record

MANIFEST = "manifest.json"
RECORDS = "records.jsonl"
METRICS = "metrics.json"
STORE_VERSION = 1
FSYNC_SECONDS = 1.0  # per-answer appends (API runs) would otherwise pay one fsync per answer
FINISHED = ("complete", "unusable")  # statuses with metrics.json that a failing rerun must not destroy


def slug(text: str) -> str:
    """A folder-safe name: ``hf:/models/llava-1.5`` -> ``hf-llava-1.5``."""
    text = text.rstrip("/")
    prefix, sep, rest = text.partition(":")
    if sep and "/" in rest:
        text = f"{prefix}-{Path(rest).name}"
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-._") or "model"


class Run:
    """One run folder. Create with :meth:`open` (new or resumed) or :func:`load_run` (read only)."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self._lock_fh: Any = None
        self._kept = False  # a finished run reopened: nothing on disk changes until its first new record
        self._synced = time.monotonic()
        self._unsynced = False

    # -- creation and resume -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, manifest: dict[str, Any]) -> Run:
        """Start a new run at ``path`` or resume the one there (same fingerprint, so the same config)."""
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path, manifest)
        run._lock()
        old = _read_manifest(path / MANIFEST) if (path / MANIFEST).exists() else None
        if old is not None:
            if old.get("fingerprint") != manifest.get("fingerprint"):
                raise RunError(f"{path} holds a different run (fingerprint {old.get('fingerprint')})")
            manifest["created"] = old.get("created", manifest.get("created"))
            manifest["resumed"] = int(old.get("resumed", 0)) + 1
        manifest.setdefault("created", _now())
        manifest["store_version"] = STORE_VERSION
        try:
            run.records()  # a broken records file is reported before anything is changed
        except BaseException:
            run.close()
            raise
        finished = old is not None and old.get("status") in FINISHED and (path / METRICS).exists()
        if finished:
            assert old is not None
            run._kept = True
            manifest["status"] = old["status"]
        else:
            run._begin()
        return run

    def _begin(self) -> None:
        """From here on the run is being changed: ``running``, and no metrics that could be stale."""
        self._kept = False
        self.manifest["status"] = "running"
        (self.path / METRICS).unlink(missing_ok=True)
        write_json_atomic(self.path / MANIFEST, self.manifest)

    def _lock(self) -> None:
        self._lock_fh = open(self.path / ".lock", "w")  # noqa: SIM115 - held for the run's lifetime
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(f"{self.path} is in use by another qbench process") from None

    def close(self) -> None:
        try:
            self.sync()
        except OSError:
            pass
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    # -- records -------------------------------------------------------------------------------------
    def records(self) -> dict[str, Record]:
        """The latest record per sample id (a retried sample's later record wins)."""
        latest: dict[str, Record] = {}
        for record in iter_records(self.path / RECORDS):
            latest[record.id] = record
        return latest

    def done_ids(self) -> set[str]:
        return {rid for rid, rec in self.records().items() if rec.ok}

    def append(self, records: Iterable[Record]) -> None:
        """Append records durably; a torn last line from an earlier crash is cut off first."""
        from qbench.undefined import json_safe  # NaN/inf become null: a record line stays valid JSON

        lines = "".join(
            json.dumps(json_safe(r.to_json()), ensure_ascii=False, default=str) + "\n" for r in records
        )
        if not lines:
            return
        if self._kept:
            self._begin()
        target = self.path / RECORDS
        _cut_torn_tail(target)
        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(lines)
                fh.flush()
                if time.monotonic() - self._synced >= FSYNC_SECONDS:
                    os.fsync(fh.fileno())
                    self._synced, self._unsynced = time.monotonic(), False
                else:
                    self._unsynced = True
        except OSError as exc:
            raise named(exc, target) from None

    # -- ending --------------------------------------------------------------------------------------
    def sync(self) -> None:
        """Records written so far reach the disk (before a status that vouches for them)."""
        if self._unsynced and (self.path / RECORDS).exists():
            fd = os.open(self.path / RECORDS, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._unsynced = False
        self._synced = time.monotonic()

    def update(self, **fields: Any) -> None:
        self.sync()
        self.manifest.update(fields)
        write_json_atomic(self.path / MANIFEST, self.manifest)

    def finish(self, metrics: dict[str, Any], *, status: str = "complete", **fields: Any) -> None:
        """Metrics first, then the status (``complete``, or ``unusable`` for a run that measured nothing):
        a crash in between leaves an untrusted run. NaN is written as null with a reason (JSON has no NaN)."""
        from qbench.undefined import without_nan

        write_json_atomic(self.path / METRICS, without_nan(metrics))
        self.update(status=status, finished=_now(), **fields)

    def fail(self, error: str) -> None:
        if not self._kept:  # a finished run that this rerun has not changed keeps its results
            self._try_update(status="failed", error=error, finished=_now())

    def interrupt(self, reason: str) -> None:
        """Ctrl-C or SIGTERM: the records stay, and the same command resumes (status ``interrupted``)."""
        if not self._kept:
            self._try_update(status="interrupted", error=reason, finished=_now())

    def _try_update(self, **fields: Any) -> None:
        """An update on the way out of an error: a full or read-only disk must not hide the first error."""
        try:
            self.update(**fields)
        except OSError:
            pass

    # -- reading -------------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "unknown"))

    @property
    def complete(self) -> bool:
        return self.status == "complete" and (self.path / METRICS).exists()

    def metrics(self) -> dict[str, Any]:
        if not self.complete:
            raise RunError(f"{self.path} is not complete (status: {self.status}); run it again to resume")
        try:
            metrics = json.loads((self.path / METRICS).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            metrics = exc
        if not isinstance(metrics, dict):
            raise DataError(
                f"unreadable metrics ({metrics})"
                if isinstance(metrics, Exception)
                else "metrics are not a JSON object",
                file=self.path / METRICS,
                hint="run the same command again to compute them from the records",
            )
        return metrics


def write_run(
    path: Path, manifest: dict[str, Any], records: Iterable[Record], metrics: dict[str, Any], **fields: Any
) -> Run:
    """A complete run written whole (an import, a merge, a re-scoring): records replaced, never appended to.

    A run that measured nothing (every answer unreadable, every judge round failed) is written with status
    ``unusable`` and the reason; the command that wrote it exits 3 (:func:`qbench.health.raise_if_unusable`).
    """
    from qbench.health import check

    records = list(records)
    run = Run.open(path, manifest)
    try:
        (path / RECORDS).unlink(missing_ok=True)
        run.append(records)
        health = check(str(manifest.get("task")), records, metrics)
        health.report()
        if health.unusable:
            fields = {**fields, "status": "unusable", "error": health.unusable}
        run.finish(metrics, **fields)
    finally:
        run.close()
    return run


def iter_records(path: Path) -> Iterator[Record]:
    """Records in file order; a torn (unterminated, unparsable) last line is skipped."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                if not line.endswith("\n"):
                    return  # torn by a crash mid-write: that sample was not finished
                obj = None
            if not isinstance(obj, dict) or "id" not in obj:
                raise DataError(
                    f"line {lineno} is not a record",
                    file=path,
                    hint="delete that line (or move the run folder aside) and run the same command again",
                )
            yield Record.from_json(obj)


def _cut_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        fh.truncate(data.rfind(b"\n") + 1)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"unreadable run manifest ({exc})", file=path) from None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def load_run(path: str | Path) -> Run:
    """A run folder for reading (no lock)."""
    path = Path(path)
    if not (path / MANIFEST).exists():
        raise DataError("not a qbench run folder (no manifest.json)", file=path)
    return Run(path, _read_manifest(path / MANIFEST))


def find_runs(paths: Iterable[str | Path]) -> list[Run]:
    """Every run folder at or under the given paths, in a stable order."""
    runs: list[Run] = []
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise DataError("no such file or folder", file=root)
        manifests = [root / MANIFEST] if (root / MANIFEST).exists() else sorted(root.rglob(MANIFEST))
        runs.extend(load_run(m.parent) for m in manifests)
    return runs
