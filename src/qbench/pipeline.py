"""The batch pipeline: decode -> request -> cache lookup -> model pre-processing -> model -> records.

Three kinds of threads overlap so that large photos do not starve the model:

- a pool decodes images (Pillow releases the GIL while decoding), sample by sample;
- two threads turn decoded batches into requests, answer what they can from the response cache and let the
  model pre-process the rest (``model.prepare(capability, requests)``, e.g. the HF processor's resize and
  tokenisation), a few batches ahead;
- the calling thread runs the model on prepared batches and writes the records. A model with ``stream``
  (the API adapter) hands its answers back as they arrive; each is cached and recorded at once, so a kill
  loses only the requests still in flight.

A model's ``prepare`` must be safe to call from several threads (the HF adapter gives each thread its own
processor copy: fast tokenizers are not thread-safe). Pixels are exactly those of a plain full decode, so
scores equal the official one-at-a-time loop.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from qbench.cache import ResponseCache, cache_key
from qbench.data.images import file_key, open_image
from qbench.errors import QBenchError, RunError, StopRun
from qbench.models.base import model_fingerprint
from qbench.redact import redact_text
from qbench.types import Record, Request, Sample

log = logging.getLogger("qbench")

PREFETCH_BATCHES = 2
PREPARE_THREADS = 2  # each gets its own processor copy from the model (see HFModel.prepare)


@dataclass
class PreparedBatch:
    """A batch ready for the model: decode errors, requests, cached answers and the model's pre-processing."""

    batch: list[Sample]
    errors: dict[str, str] = field(default_factory=dict)
    ready: list[tuple[Sample, Request]] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)
    found: dict[str, Any] = field(default_factory=dict)
    prepared: Any = None
    early: bool = False  # pre-processed at start-up: the requests carry no pixels (qbench.startup)


class CachedCaller:
    """Calls a model capability on a batch, answering what it can from the response cache first."""

    def __init__(
        self, model: Any, capability: str, cache: ResponseCache, fingerprint: str | None = None
    ) -> None:
        self.model = model
        self.capability = capability
        self.cache = cache
        # the plan's fingerprint of this model (computed once per run); asked for only when none is given
        self.fingerprint = fingerprint or model_fingerprint(model)
        self.hits = 0
        self.can_prepare = callable(getattr(model, "prepare", None)) and capability != "quality"
        self.can_stream = callable(getattr(model, "stream", None)) and capability != "quality"

    def lookup(self, requests: list[Request]) -> tuple[list[str | None], dict[str, Any]]:
        """Cache keys (None: not cacheable, e.g. sampled) and the answers already cached."""
        keys = [
            cache_key(self.fingerprint, self.capability, r.describe()) if r.greedy and r.image_keys else None
            for r in requests
        ]
        return keys, self.cache.get_many(k for k in keys if k)

    def prepare(self, requests: list[Request], keys: list[str | None], found: dict[str, Any]) -> Any:
        """The model's own pre-processing of the requests the cache cannot answer (None if it has none)."""
        if not self.can_prepare:
            return None
        missing = [r for r, k in zip(requests, keys) if k not in found]
        if not missing:
            return None
        try:
            return self.model.prepare(self.capability, missing)
        except Exception:  # the model call will do it (and report a real problem) itself
            log.debug("model.prepare failed; the model call will pre-process", exc_info=True)
            return None

    def finish(
        self, requests: list[Request], keys: list[str | None], found: dict[str, Any], prepared: Any = None
    ) -> list[Any]:
        """Results in request order: cached ones, and the model's answers for the rest (then cached)."""
        results: list[Any] = [None] * len(requests)
        for group in self.stream(requests, keys, found, prepared):
            for i, answer in group:
                results[i] = answer
        return results

    def stream(
        self, requests: list[Request], keys: list[str | None], found: dict[str, Any], prepared: Any = None
    ) -> Iterator[list[tuple[int, Any]]]:
        """``(index, result)`` groups: the cached answers first, then the model's as they arrive, each group
        cached before it is handed on (a model without ``stream`` answers in one group)."""
        self.hits += len(found)
        missing = [i for i, k in enumerate(keys) if k not in found]
        cached = [(i, found[k]) for i, k in enumerate(keys) if k in found]
        if cached:
            yield cached
        if not missing:
            return
        asked = [requests[i] for i in missing]
        if self.can_stream:
            for group in self.model.stream(self.capability, asked):
                yield self._cached([(missing[j], answer) for j, answer in group], keys)
            return
        if self.capability == "quality":
            answers = self.model.quality([r.images[0] for r in asked])
        elif prepared is not None:
            answers = getattr(self.model, self.capability)(asked, prepared=prepared)
        else:
            answers = getattr(self.model, self.capability)(asked)
        if len(answers) != len(asked):
            raise RunError(f"model returned {len(answers)} results for {len(asked)} requests")
        yield self._cached(list(zip(missing, answers)), keys)

    def _cached(self, group: list[tuple[int, Any]], keys: Sequence[str | None]) -> list[tuple[int, Any]]:
        fresh = {}
        for i, answer in group:
            key = keys[i]
            if key and not isinstance(answer, BaseException):
                fresh[key] = answer
        self.cache.put_many(fresh)
        return group

    def __call__(self, requests: list[Request]) -> list[Any]:
        keys, found = self.lookup(requests)
        return self.finish(requests, keys, found)


def decode(sample: Sample) -> tuple[tuple[Any, ...], tuple[str, ...]] | QBenchError:
    """A sample's decoded images and their content keys, or the error naming the file.

    Videos (``extra["media"] == "video"``) are not decoded here: which frames to take is the task's choice,
    so their paths go to the task as they are, keyed by the files' content."""
    try:
        if sample.extra.get("media") == "video":
            return tuple(sample.images), tuple(file_key(p) for p in sample.images)
        images = tuple(open_image(p, item=sample.id) for p in sample.images)
        keys = tuple(file_key(p) for p in sample.images)
        return images, keys
    except QBenchError as exc:
        return exc


def requests_for(
    task: Any, batch: list[Sample], decoded: list[Any]
) -> tuple[dict[str, str], list[tuple[Sample, Request]]]:
    """Split decoded samples into decode errors (id -> one line) and the task's requests for the rest.

    Shared by the run's batches and the start-up batches, so both fail and ask the same way."""
    errors: dict[str, str] = {}
    ready: list[tuple[Sample, Request]] = []
    for sample, item in zip(batch, decoded):
        if isinstance(item, QBenchError):
            errors[sample.id] = item.one_line()
        else:
            images, keys = item
            try:  # a task that reads more at request time (video frames) may find a broken file here
                ready.append((sample, task.request(sample, images, keys)))
            except QBenchError as exc:
                errors[sample.id] = exc.one_line()
    return errors, ready


def prepare_batch(task: Any, caller: CachedCaller, batch: list[Sample], decoded: list[Any]) -> PreparedBatch:
    """Requests for the decodable samples, their cached answers, and the model's pre-processing of the rest."""
    prepared = PreparedBatch(batch)
    prepared.errors, prepared.ready = requests_for(task, batch, decoded)
    requests = [req for _, req in prepared.ready]
    prepared.keys, prepared.found = caller.lookup(requests)
    prepared.prepared = caller.prepare(requests, prepared.keys, prepared.found)
    return prepared


def stream_batch(
    task: Any, caller: CachedCaller, prepared: PreparedBatch, positions: Mapping[str, int]
) -> Iterator[list[Record]]:
    """Records of a prepared batch in groups, as the model's answers arrive (errors included); each record
    is made once, with its sample's ``index`` (position in the dataset) from ``positions``.

    A failure of the model call fails the samples not yet answered (recorded, retried on resume); a
    configuration error or :class:`StopRun` stops the run instead.
    """
    if prepared.errors:
        yield [Record(sid, {"index": positions[sid]}, error=err) for sid, err in prepared.errors.items()]
    if not prepared.ready:
        return
    requests = [req for _, req in prepared.ready]
    waiting = set(range(len(requests)))
    try:
        for group in caller.stream(requests, prepared.keys, prepared.found, prepared.prepared):
            waiting.difference_update(i for i, _ in group)
            yield [_record(task, prepared.ready[i][0], result, positions) for i, result in group]
        return
    except StopRun:
        raise
    except QBenchError as exc:
        if exc.exit_code == 2:  # a configuration error (bad key, unknown model): stop, do not retry per item
            raise
        failure: Exception = exc
    except Exception as exc:  # a model failure on this batch: recorded, retried on resume
        log.debug("model call failed", exc_info=True)
        failure = exc
    yield [_record(task, prepared.ready[i][0], failure, positions) for i in sorted(waiting)]


def _record(task: Any, sample: Sample, result: Any, positions: Mapping[str, int]) -> Record:
    index = {"index": positions[sample.id]}
    if isinstance(result, BaseException):  # errors may quote a URL a user typed: no credentials in records
        return Record(sample.id, index, error=redact_text(f"{type(result).__name__}: {result}"))
    try:
        return Record(sample.id, index | task.output(sample, result))
    except (KeyError, TypeError, ValueError) as exc:
        return Record(sample.id, index, error=f"unusable model result: {exc!r}")


def finish_batch(
    task: Any, caller: CachedCaller, prepared: PreparedBatch, positions: Mapping[str, int]
) -> list[Record]:
    """Run the model on a prepared batch; one record per sample, errors included, in batch order."""
    records = {r.id: r for group in stream_batch(task, caller, prepared, positions) for r in group}
    return [records[s.id] for s in prepared.batch]


def run_batch(
    task: Any, caller: CachedCaller, batch: list[Sample], positions: Mapping[str, int]
) -> list[Record]:
    """All stages of one batch in the calling thread (Ray workers, tests)."""
    prepared = prepare_batch(task, caller, batch, [decode(s) for s in batch])
    return finish_batch(task, caller, prepared, positions)


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def from_start_up(task: Any, caller: CachedCaller, batch: list[Sample], early: Any) -> PreparedBatch | None:
    """A batch pre-processed at start-up (:class:`qbench.startup.EarlyBatch`), unless the cache holds some of
    its answers (its processor outputs are for all of its requests) or start-up could not finish it."""
    if early is None:
        return None
    prepared = PreparedBatch(batch, errors=dict(early.errors), ready=list(early.ready), early=True)
    prepared.keys, prepared.found = caller.lookup([r for _, r in prepared.ready])
    if prepared.found:
        return None
    prepared.prepared = early.prepared
    return prepared


def local_batches(
    todo: list[Sample],
    batch_size: int,
    task: Any,
    caller: CachedCaller,
    positions: Mapping[str, int],
    decode_threads: int | None,
    early: Any = None,
) -> Iterator[list[Record]]:
    """Records as they are made (a batch, or an API model's answers as they arrive), decoding (in
    ``decode_threads`` threads) and preparing up to PREFETCH_BATCHES batches ahead of the model."""
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    decoders = ThreadPoolExecutor(decode_threads or default_workers(), thread_name_prefix="decode")
    preparer = ThreadPoolExecutor(PREPARE_THREADS, thread_name_prefix="prepare")
    pending: deque[Future[PreparedBatch]] = deque()

    def plain(batch: list[Sample]) -> PreparedBatch:
        futures = [(early and early.take(s)) or decoders.submit(decode, s) for s in batch]
        return prepare_batch(task, caller, batch, [f.result() for f in futures])

    def submit(batch: list[Sample]) -> Future[PreparedBatch]:
        ahead = early.take_batch(batch) if early is not None else None
        if ahead is not None:
            return preparer.submit(lambda: from_start_up(task, caller, batch, ahead.result()) or plain(batch))
        futures = [(early and early.take(s)) or decoders.submit(decode, s) for s in batch]
        return preparer.submit(lambda: prepare_batch(task, caller, batch, [f.result() for f in futures]))

    try:
        index = 0
        while index < len(batches) or pending:
            while index < len(batches) and len(pending) <= PREFETCH_BATCHES:
                pending.append(submit(batches[index]))
                index += 1
            prepared = pending.popleft().result()
            if not prepared.early:
                yield from stream_batch(task, caller, prepared, positions)
                continue
            records = [r for group in stream_batch(task, caller, prepared, positions) for r in group]
            if any(not r.ok and r.id not in prepared.errors for r in records):
                # the start-up pre-processing failed in the model; without pixels, do this batch again
                log.debug("a batch pre-processed at start-up failed; decoding it again")
                records = finish_batch(task, caller, plain(prepared.batch), positions)
            yield records
    finally:
        for future in pending:
            future.cancel()
        preparer.shutdown(wait=True, cancel_futures=True)
        decoders.shutdown(wait=True, cancel_futures=True)
