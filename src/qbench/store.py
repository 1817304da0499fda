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

import copy
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

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


def fingerprint(parts: Mapping[str, Any]) -> str:
    """The short content hash that names a run folder (of a run's identity, or of what a run derives from)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


ALWAYS_WRITTEN = (
    "task",
    "model",
    "model_info",
    "dataset",
    "dataset_info",
    "split",
    "task_info",
    "fingerprint",
)
RUN_STATE = ("status", "created", "finished", "resumed", "store_version", "summary", "error")


@dataclass
class Manifest(Mapping[str, Any]):
    """A run's ``manifest.json``: what the run is (task, model, data, rules: its fingerprint) and how it went.

    Read with :meth:`from_json`, which takes every manifest qbench has written (keys it does not know are kept
    in ``extra`` and written back unchanged). Code reads attributes; the read-only mapping view
    (``manifest["task_info"]``, ``manifest.get("split")``) is there for callers not moved over yet. Change it
    with :meth:`update` (the store writes it); a run made from other runs gets its manifest from
    :func:`derive`, the one place that knows what a derived run keeps, drops and is named by.
    """

    task: str = ""
    model: str = ""
    model_info: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""
    dataset_info: dict[str, Any] = field(default_factory=dict)
    split: str | None = None
    task_info: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    config: dict[str, Any] | None = None  # the run's settings (`qbench run` only)
    source: str | None = None  # "import" for a run made from saved outputs
    n: int | None = None
    duplicates: int | None = None  # imports: repeated items dropped (protocol 8.9)
    identity: dict[str, Any] | None = None  # what the fingerprint hashes (`qbench run` only; merge needs it)
    versions: dict[str, Any] | None = None
    judge_info: dict[str, Any] | None = None
    derived_from: str | None = None  # `qbench score`: the run re-scored
    merged_from: list[str] | None = None  # `qbench merge`: the shard runs
    created: str | None = None
    store_version: int | None = None
    status: str | None = None
    resumed: int | None = None
    finished: str | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # -- JSON ----------------------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Manifest:
        data = copy.deepcopy(dict(obj))
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: data.pop(k) for k in list(data) if k in known}
        return cls(**values, extra=data)

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to ``manifest.json`` (fields that are not set are left out)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is not None or f.name in ALWAYS_WRITTEN:
                out[f.name] = copy.deepcopy(value)
        out.update(copy.deepcopy(self.extra))
        return out

    def update(self, **changes: Any) -> None:
        known = {f.name for f in fields(self)} - {"extra"}
        for key, value in changes.items():
            if key in known:
                setattr(self, key, value)
            else:
                self.extra[key] = value

    def folder(self, out: Path) -> Path:
        """Where this run lives under a runs folder: ``<task>/<model>/<dataset>/<fingerprint>``."""
        return out / self.task / slug(self.model) / slug(self.dataset) / self.fingerprint

    # -- the read-only mapping view ------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key in self.extra:
            return self.extra[key]
        if key != "extra" and key in self.__dataclass_fields__:
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())

    def __contains__(self, key: object) -> bool:
        return key in self.to_json()


Derivation = Literal["import", "rescore", "merge"]


def derive(base: Manifest, how: Derivation, sources: Sequence[str | Path], **changes: Any) -> Manifest:
    """The manifest of a run made from others: the one way imports, re-scorings and merges are named.

    ``base`` describes the new run's task, model and data (for an import, a fresh manifest of the imported
    model; for a re-scoring, the source run's; for a merge, the first shard's). The new manifest keeps what
    ``base`` says, drops how ``base``'s own run went (status, times, summary, error), applies ``changes``,
    records where it came from (``source``, ``derived_from`` or ``merged_from``) and gets its fingerprint:

    - ``import``: the imported file's content, the task, the model name and the task info (so importing the
      same file again lands in the same folder);
    - ``rescore``: the source run's fingerprint, today's rule versions (in ``task_info``) and the judge;
    - ``merge``: the unsharded configuration (``identity`` with ``shard`` = None), so a merged run has the
      folder and the numbers that one machine running everything would have had. (Shard runs themselves
      are made by ``qbench run --shard``: their identity holds the shard.)
    """
    data = {k: v for k, v in base.to_json().items() if k not in RUN_STATE}
    new = Manifest.from_json(data)
    new.update(**changes)
    paths = [str(s) for s in sources]
    if how == "import":
        new.source = "import"
        digest = new.dataset_info.get("fingerprint")
        key = f"import|{new.task}|{new.model}|{digest}|{new.task_info}"
        new.fingerprint = hashlib.sha256(key.encode()).hexdigest()[:12]
    elif how == "rescore":
        new.derived_from = paths[0]
        new.fingerprint = fingerprint(
            {"from": base.fingerprint, "task": new.task_info, "judge": new.judge_info}
        )
    elif how == "merge":
        new.merged_from = paths
        new.identity = {**(base.identity or {}), "shard": None}
        new.config = {**(new.config or {}), "shard": None}
        new.fingerprint = fingerprint(new.identity)
    else:
        raise ValueError(f"unknown derivation {how!r}")
    return new


class Run:
    """One run folder. Create with :meth:`open` (new or resumed) or :func:`load_run` (read only)."""

    def __init__(self, path: Path, manifest: Manifest | Mapping[str, Any]) -> None:
        self.path = path
        self.manifest = manifest if isinstance(manifest, Manifest) else Manifest.from_json(manifest)
        self._lock_fh: Any = None
        self._kept = False  # a finished run reopened: nothing on disk changes until its first new record
        self._synced = time.monotonic()
        self._unsynced = False

    # -- creation and resume -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, manifest: Manifest | Mapping[str, Any]) -> Run:
        """Start a new run at ``path`` or resume the one there (same fingerprint, so the same config)."""
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path, manifest)
        manifest = run.manifest
        run._lock()
        old = _read_manifest(path / MANIFEST) if (path / MANIFEST).exists() else None
        if old is not None:
            if old.fingerprint != manifest.fingerprint:
                raise RunError(f"{path} holds a different run (fingerprint {old.fingerprint})")
            manifest.created = old.created or manifest.created
            manifest.resumed = int(old.resumed or 0) + 1
        manifest.created = manifest.created or _now()
        manifest.store_version = STORE_VERSION
        try:
            run.records()  # a broken records file is reported before anything is changed
        except BaseException:
            run.close()
            raise
        finished = old is not None and old.status in FINISHED and (path / METRICS).exists()
        if finished:
            assert old is not None
            run._kept = True
            manifest.status = old.status
        else:
            run._begin()
        return run

    def _begin(self) -> None:
        """From here on the run is being changed: ``running``, and no metrics that could be stale."""
        self._kept = False
        self.manifest.status = "running"
        (self.path / METRICS).unlink(missing_ok=True)
        write_json_atomic(self.path / MANIFEST, self.manifest.to_json())

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
        self.manifest.update(**fields)
        write_json_atomic(self.path / MANIFEST, self.manifest.to_json())

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
        return str(self.manifest.status or "unknown")

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
    path: Path, manifest: Manifest, records: Iterable[Record], metrics: dict[str, Any], **fields: Any
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
        health = check(manifest.task, records, metrics)
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


def _read_manifest(path: Path) -> Manifest:
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"unreadable run manifest ({exc})", file=path) from None
    if not isinstance(obj, dict):
        raise DataError("the run manifest is not a JSON object", file=path)
    try:
        return Manifest.from_json(obj)
    except TypeError as exc:
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
