"""Start-up overlap: the first samples are decoded and pre-processed while the model loads.

A run's start-up is mostly imports (torch and transformers: several seconds) and then the weights (minutes
for a large checkpoint). The model loads in a background thread (:class:`StagedLoad`) and, meanwhile,
:class:`EarlyWork`

1. decodes the samples' images, in run order, as soon as the data file is read;
2. once the model can pre-process (a model announces it with :func:`preprocessing_ready`: the HF adapter
   does after loading its processor, before its weights), turns decoded batches into the model's own
   processor outputs (``model.prepare``) and drops their full-size pixels, batch after batch, until the
   weights have loaded.

The batch pipeline then takes these batches instead of decoding them again (:mod:`qbench.pipeline`). A batch
whose samples, order or cache state differ from what was prepared (a resumed run, cached answers) is simply
done again the ordinary way, so results never depend on the overlap.

Memory bound: what start-up holds (decoded pixels waiting for the processor, then processor outputs) stays
within EARLY_MEMORY_FRACTION of the memory available when the run starts, capped at EARLY_MEMORY_CAP; a new
image or batch is started only while the total is below the bound, so it is exceeded by at most the images
in flight. With 2 GiB: about 110 decoded 6-MP photos, or some 1,500 LLaVA-1.5 processor outputs (1.35 MB).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from qbench.errors import QBenchError
from qbench.types import Request, Sample

log = logging.getLogger("qbench")

EARLY_MEMORY_FRACTION = 0.25
EARLY_MEMORY_CAP = 2 << 30  # bytes
_hooks = threading.local()


def preprocessing_ready(model: Any) -> None:
    """Called by a model's constructor once its ``prepare`` works, before its weights load (a no-op unless
    the model is being loaded by :class:`StagedLoad`)."""
    hook = getattr(_hooks, "ready", None)
    if hook is not None:
        hook(model)


def early_memory_budget() -> int:
    """Bytes start-up may hold: EARLY_MEMORY_FRACTION of the available memory, at most EARLY_MEMORY_CAP."""
    return int(min(EARLY_MEMORY_CAP, _available_memory() * EARLY_MEMORY_FRACTION))


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return 1 << 30


def nbytes(value: Any) -> int:
    """Bytes held by tensors, arrays or PIL images inside ``value`` (dicts, lists and tuples are walked)."""
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if hasattr(value, "getbands") and hasattr(value, "size"):  # a PIL image: about a byte per band and pixel
        return int(value.size[0] * value.size[1] * len(value.getbands()))
    return 0


class StagedLoad:
    """``load(*args)`` in a daemon thread (a Ctrl-C does not wait for it). :meth:`partial` gives the model as
    soon as it can pre-process (or None when it never announces it), :meth:`result` once fully loaded."""

    def __init__(self, load: Callable[..., Any], *args: Any) -> None:
        self._partial: Future[Any] = Future()
        self._done: Future[Any] = Future()
        threading.Thread(target=self._run, args=(load, args), daemon=True, name="model-load").start()

    def _run(self, load: Callable[..., Any], args: tuple[Any, ...]) -> None:
        _hooks.ready = self._announce
        try:
            self._done.set_result(load(*args))
        except BaseException as exc:
            self._done.set_exception(exc)
        finally:
            _hooks.ready = None
            self._announce(None)

    def _announce(self, model: Any) -> None:
        if not self._partial.done():
            self._partial.set_result(model)

    def partial(self) -> Any:
        """The model, able to pre-process but perhaps without weights yet; None if it cannot say so early
        (or failed to load: :meth:`result` raises that)."""
        return self._partial.result()

    def result(self) -> Any:
        return self._done.result()

    def done(self) -> bool:
        return self._done.done()


@dataclass
class EarlyBatch:
    """A batch pre-processed at start-up: decode errors, requests (without their pixels) and the model's
    processor outputs for all of them."""

    ids: tuple[str, ...]
    errors: dict[str, str] = field(default_factory=dict)
    ready: list[tuple[Sample, Request]] = field(default_factory=list)
    prepared: Any = None


@dataclass
class StartupStats:
    """What start-up did, for the run's summary."""

    decoded: int = 0
    prepared_batches: int = 0
    used_batches: int = 0
    budget_bytes: int = 0
    peak_bytes: int = 0
    prepare_started_s: float | None = None  # seconds after start-up began (None: the model never offered)


class EarlyWork:
    """Decoding, then pre-processing, of the run's samples while the model loads (see the module docstring)."""

    def __init__(
        self,
        samples: list[Sample],
        workers: int | None,
        loading: StagedLoad | None,
        budget: int | None = None,
    ) -> None:
        from qbench.pipeline import default_workers

        self.stats = StartupStats(budget_bytes=early_memory_budget() if budget is None else budget)
        self._started = time.monotonic()
        self._samples = samples
        self._loading = loading
        self._workers = workers or default_workers()
        self._lock = threading.Condition()
        self._decoded: dict[str, Future[Any]] = {}
        self._batches: dict[tuple[str, ...], Future[EarlyBatch | None]] = {}
        self._held = 0
        self._in_flight = 0
        self._stop = False
        self._planned = False  # the runner has said whether and how to pre-process
        self._plan: tuple[Any, Any, str, int] | None = None
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="early") if samples else None
        if self._pool is not None and self.stats.budget_bytes > 0:
            threading.Thread(target=self._work, daemon=True, name="early").start()

    # -- the runner's side ---------------------------------------------------------------------------------
    def plan(self, partial: Any, task: Any, task_name: str, dataset: Any, batch_size: int | None) -> None:
        """Pre-process with ``partial`` (the model before its weights, or None) from now until the run starts.

        The task is set up for the capability the model offers; a capability or data error here stops only
        the early work: the runner checks again once the model has loaded, so its errors still come first.
        """
        from qbench.models.base import require

        plan = None
        if partial is not None and callable(getattr(partial, "prepare", None)):
            try:
                capability = require(partial, task.needs, task_name)
                task.setup(capability, dataset)
            except QBenchError:
                capability = None
            if capability is not None and capability != "quality":
                plan = (partial, task, capability, batch_size or int(getattr(partial, "batch_size", 8)))
        with self._lock:
            self._planned = True
            self._plan = plan
            self._lock.notify_all()

    def keep(self, todo: list[Sample]) -> None:
        """Stop, and drop what start-up did for samples the run does not need (finished in an earlier run)."""
        wanted = {s.id for s in todo}
        with self._lock:
            self._stop = True
            self._lock.notify_all()
            self._decoded = {k: f for k, f in self._decoded.items() if k in wanted}
            self._batches = {k: f for k, f in self._batches.items() if wanted.issuperset(k)}

    def take(self, sample: Sample) -> Future[Any] | None:
        """The sample's decode, if start-up did it (the pipeline then stops the early work)."""
        with self._lock:
            self._stop = True
            self._lock.notify_all()
            return self._decoded.pop(sample.id, None)

    def take_batch(self, batch: list[Sample]) -> Future[EarlyBatch | None] | None:
        """The batch as pre-processed at start-up (exactly these samples in this order), if it was."""
        with self._lock:
            self._stop = True
            self._lock.notify_all()
            future = self._batches.pop(tuple(s.id for s in batch), None)
        if future is not None:
            self.stats.used_batches += 1
        return future

    def close(self) -> None:
        with self._lock:
            self._stop = True
            self._decoded.clear()
            self._batches.clear()
            self._lock.notify_all()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the start-up thread ---------------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            self._decode_ahead()
            self._prepare_ahead()
        except Exception:  # start-up work is only a head start: the pipeline does whatever is missing
            log.debug("start-up pre-processing stopped", exc_info=True)

    def _room(self) -> bool:
        return self._held < self.stats.budget_bytes

    def _decode_ahead(self) -> None:
        """Decode samples in order, within the bound, until the model can pre-process (or the run starts).
        One core is left to the loading thread (imports are single-threaded; slowing them delays everything)."""
        ahead = max(1, self._workers - 1)
        for sample in self._samples:
            with self._lock:
                while not (self._stop or self._plan) and not (self._room() and self._in_flight < ahead):
                    self._lock.wait(0.05)
                if self._stop or self._plan:
                    return
                if sample.id in self._decoded:
                    continue
                self._decoded[sample.id] = self._submit_decode(sample)

    def _submit_decode(self, sample: Sample) -> Future[Any]:
        from qbench.pipeline import decode

        assert self._pool is not None
        self._in_flight += 1
        future = self._pool.submit(decode, sample)
        future.add_done_callback(self._decoded_one)
        return future

    def _decoded_one(self, future: Future[Any]) -> None:
        size = _pixel_bytes(future)
        with self._lock:
            self._in_flight -= 1
            self.stats.decoded += 1
            self._held += size
            self.stats.peak_bytes = max(self.stats.peak_bytes, self._held)
            self._lock.notify_all()

    def _prepare_ahead(self) -> None:
        """Batches in run order: decoded (the next batch's images while this one is pre-processed), made into
        requests, pre-processed by the model, pixels dropped; until the run starts or the bound is reached."""
        with self._lock:
            while not (self._stop or self._planned):
                self._lock.wait(0.05)
            if self._plan is None or self._stop:
                return
            model, task, capability, batch_size = self._plan
        self.stats.prepare_started_s = round(time.monotonic() - self._started, 3)
        batches = [self._samples[i : i + batch_size] for i in range(0, len(self._samples), batch_size)]
        for k, batch in enumerate(batches):
            with self._lock:
                if self._stop or not self._room():
                    return
                futures = [
                    self._decoded.pop(s.id) if s.id in self._decoded else self._submit_decode(s)
                    for s in batch
                ]
                for sample in batches[k + 1] if k + 1 < len(batches) else []:
                    if sample.id not in self._decoded:
                        self._decoded[sample.id] = self._submit_decode(sample)
                result: Future[EarlyBatch | None] = Future()
                self._batches[tuple(s.id for s in batch)] = result
            early = None
            try:
                early = self._prepare(model, task, capability, batch, [f.result() for f in futures])
            finally:
                result.set_result(early)
                with self._lock:
                    self._held -= sum(_pixel_bytes(f) for f in futures)
                    if early is not None:
                        self.stats.prepared_batches += 1
                        self._held += nbytes(early.prepared)
                        self.stats.peak_bytes = max(self.stats.peak_bytes, self._held)
            if early is None:
                return

    def _prepare(
        self, model: Any, task: Any, capability: str, batch: list[Sample], decoded: list[Any]
    ) -> EarlyBatch | None:
        from qbench.pipeline import requests_for

        early = EarlyBatch(tuple(s.id for s in batch))
        early.errors, early.ready = requests_for(task, batch, decoded)
        if early.ready:
            early.prepared = model.prepare(capability, [r for _, r in early.ready])
            if early.prepared is None:
                return None
        # the pixels are in the processor outputs now; the requests keep what the cache and model need
        early.ready = [(s, dataclasses.replace(r, images=())) for s, r in early.ready]
        return early


def _pixel_bytes(future: Future[Any]) -> int:
    """Bytes of a finished decode's images (0 for a decode error)."""
    if not future.done() or future.cancelled() or future.exception() is not None:
        return 0
    result = future.result()
    return 0 if isinstance(result, QBenchError) else nbytes(result[0])
