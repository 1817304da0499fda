"""plan -> skip finished -> batches through the pipeline (or Ray) -> judge -> records -> metrics.

The runner is the only place that connects data, task, model and store. The batch pipeline itself (parallel
decoding, cache lookups, model pre-processing ahead of the model) lives in :mod:`qbench.pipeline`; records are
appended as they are made (per batch, or per answer for an API model), so a kill loses at most what was in
flight.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qbench.cache import ResponseCache
from qbench.config import RunConfig, parse_shard
from qbench.data.dataset import Dataset, LoadOptions, load_dataset
from qbench.errors import Interrupted, QBenchError, RunError, UsageError
from qbench.health import UnusableRun, check, no_samples
from qbench.interrupt import Interruptions
from qbench.models.base import (
    images_needed,
    load_model,
    model_fingerprint,
    model_info,
    model_name,
    require,
    require_images,
)
from qbench.models.identity import volatile
from qbench.pipeline import CachedCaller, local_batches
from qbench.progress import Progress
from qbench.redact import redact_options, redact_text
from qbench.registry import TASKS
from qbench.startup import EarlyWork, StagedLoad
from qbench.store import Run, slug
from qbench.types import Record, Sample
from qbench.version import __version__

log = logging.getLogger("qbench")

PREFETCH_BATCHES = 2
MAX_FAILED_BATCHES = 3


@dataclass
class RunResult:
    """What :func:`run` returns: where the run is, its metrics, and how it went."""

    path: Path
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    errors: int = 0
    summary: dict[str, Any] = field(default_factory=dict)


def select(samples: Sequence[Sample], limit: int | None, shard: str | None) -> list[Sample]:
    """The deterministic slice a run works on: the first ``limit`` samples, then every N-th from K."""
    chosen = list(samples[:limit] if limit else samples)
    if shard:
        k, n = parse_shard(shard)
        chosen = chosen[k - 1 :: n]
    return chosen


def fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _preload(module: str) -> None:
    """Import ``module`` in a background thread while the model works (the import lock makes a later
    ``import`` wait for it, so this is always safe)."""
    import importlib
    import threading

    threading.Thread(
        target=importlib.import_module, args=(module,), daemon=True, name=f"preload-{module}"
    ).start()


def _versions() -> dict[str, str]:
    """qbench, Python, and the heavy libraries this run actually uses (not part of the fingerprint)."""
    import sys

    versions = {"qbench": __version__, "python": platform.python_version()}
    for name in ("torch", "transformers", "openai", "ray"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            versions[name] = str(module.__version__)
    return versions


def model_options(config: RunConfig, *, judge: bool = False) -> dict[str, str]:
    """The ``-M`` (or ``-J``) options plus what run-level flags mean for an API model (--api-base, --concurrency)."""
    spec = config.judge if judge else config.model
    options = dict(config.judge_options if judge else config.model_options)
    if isinstance(spec, str) and spec.startswith("openai:"):
        if config.api_base:
            options.setdefault("api_base", config.api_base)
        options.setdefault("concurrency", str(config.concurrency))
    return options


def _redacted(options: dict[str, str]) -> dict[str, str]:
    """Options as written to the manifest: secrets never reach a file others may read."""
    return redact_options(options)


def run(config: RunConfig) -> RunResult:
    """Run (or resume) one task on one model and one dataset; the CLI and ``qbench.evaluate`` both land here."""
    task = TASKS.get(config.task)(config.task_options)
    # The model loads in the background while the data file is read, the first images are decoded and, once
    # its processor works, pre-processed (qbench.startup). Model and capability errors still come first.
    loading = StagedLoad(load_model, config.model, model_options(config))
    try:
        dataset = load_dataset(
            config.data,
            LoadOptions(
                split=config.split,
                images=config.images,
                format=config.format,
                lang=config.lang,
                image_column=config.image_column,
                mos_column=config.mos_column,
                encoding=config.encoding,
            ),
        )
    except QBenchError:
        require(loading.result(), task.needs, config.task)
        raise
    samples = select(dataset.samples, config.limit, config.shard)
    early = EarlyWork(samples if config.executor == "local" else [], config.workers, loading)
    try:
        early.plan(loading.partial(), task, config.task, dataset, config.batch_size)
        model = loading.result()
        capability = require(model, task.needs, config.task)
        task.setup(capability, dataset)
        require_images(model, images_needed(task, samples), config.task)
    except BaseException:
        early.close()
        raise
    judge = None
    if config.judge is not None:
        if not callable(getattr(task, "judge", None)):
            raise UsageError(f"task {config.task} takes no --judge")
        judge = load_model(config.judge, model_options(config, judge=True))
        require(judge, ("generate",), "judge")
        task.set_judge(judge)
    task_info = task.manifest()
    identity = {
        "task": task_info,
        "model": model_fingerprint(model),
        "dataset": dataset.fingerprint,
        "split": dataset.split,
        "limit": config.limit,
        "shard": config.shard,
    }
    fp = fingerprint(identity)
    path = config.out / config.task / slug(model_name(model)) / slug(dataset.name) / fp
    manifest = {
        "task": config.task,
        "model": model_name(model),
        "model_info": model_info(model),
        "dataset": dataset.name,
        "dataset_info": {
            "path": str(dataset.path) if dataset.path else None,
            "format": dataset.format,
            "fingerprint": dataset.fingerprint,
            "size": len(dataset),
            **dataset.info,
        },
        "split": dataset.split,
        "task_info": task_info,
        "fingerprint": fp,
        "config": {
            k: redact_text(v) if isinstance(v, str) else v
            for k, v in asdict(config).items()
            if k not in {"model", "judge", "data"}
        }
        | {
            "model_options": _redacted(config.model_options),
            "judge_options": _redacted(config.judge_options),
            "model": str(config.model) if isinstance(config.model, str) else model_name(model),
            "judge": str(config.judge) if config.judge is not None else None,
            "data": str(config.data),
        },
        "n": len(samples),
        "identity": identity,
        "versions": _versions(),
        "judge_info": model_info(judge) if judge is not None else None,
    }
    store = Run.open(path, manifest)
    # a model whose code cannot be read has no stable identity: its answers must never be reused
    cache = ResponseCache(enabled=config.cache and not volatile(model) and not volatile(judge))
    interruptions = Interruptions()
    try:
        if not samples:
            reason = no_samples(0, len(dataset), config.limit, config.shard)
            store.update(status="unusable", error=reason)
            raise UnusableRun(f"unusable run: {reason}; recorded in {store.path}")
        with interruptions:
            return _execute(store, task, model, capability, dataset, samples, config, cache, judge, early)
    except KeyboardInterrupt:
        saved = len(store.done_ids() & {s.id for s in samples})
        how = interruptions.received or "interrupted"
        store.interrupt(f"stopped by {how}")
        raise Interrupted(
            f"interrupted ({how}): {saved} of {len(samples)} samples are saved in {store.path}",
            hint="run the same command again to resume",
        ) from None
    except BaseException as exc:
        if store.status == "running":  # an "incomplete" run already says what is missing
            store.fail(redact_text(str(exc) or type(exc).__name__))
        raise
    finally:
        early.close()
        store.close()
        cache.close()
        for used in (model, judge):
            if callable(getattr(used, "close", None)):
                used.close()


def _execute(
    store: Run,
    task: Any,
    model: Any,
    capability: str,
    dataset: Dataset,
    samples: list[Sample],
    config: RunConfig,
    cache: ResponseCache,
    judge: Any,
    early: EarlyWork,
) -> RunResult:
    started = time.monotonic()
    _preload("scipy.stats")  # the metrics need it at the end; importing it costs ~0.5 s of start-up otherwise
    done = store.done_ids()
    todo = [s for s in samples if s.id not in done]
    early.keep(todo)
    batch_size = config.batch_size or int(getattr(model, "batch_size", 8))
    positions = {s.id: i for i, s in enumerate(dataset.samples)}
    failed_in_a_row = 0
    succeeded = 0
    label = f"{config.task} {model_name(model)} {dataset.name}"
    caller = CachedCaller(model, capability, cache)
    if config.executor == "ray":
        from qbench.executors.ray_executor import RayBatches

        batches: Any = RayBatches(todo, batch_size, task, config, capability, dataset, model_options(config))
    else:
        batches = local_batches(todo, batch_size, task, caller, config.workers, early)
    with Progress(len(todo), label, config.progress) as progress:
        for records in batches:
            records = [Record(r.id, {"index": positions[r.id], **r.output}, r.error) for r in records]
            store.append(records)
            for record in records:
                failed_in_a_row = 0 if record.ok else failed_in_a_row + 1
                succeeded += record.ok
            if failed_in_a_row >= MAX_FAILED_BATCHES * batch_size and not succeeded:
                first = next(r.error for r in records if r.error)
                raise RunError(f"every sample failed so far, so the run stops here; last error: {first}")
            progress.advance(len(records))
    if judge is not None:
        _judge_phase(store, task, judge, samples, cache)
    latest = store.records()
    records = [latest[s.id] for s in samples if s.id in latest]
    failed = [r for r in records if not r.ok]
    summary = {
        "samples": len(samples),
        "computed": len(todo),
        "skipped_finished": len(samples) - len(todo),
        "errors": len(failed),
        "cache_hits": caller.hits + getattr(batches, "cache_hits", 0),
        "seconds": round(time.monotonic() - started, 3),
        "startup": asdict(early.stats),
    }
    if callable(getattr(model, "usage", None)):
        summary["usage"] = model.usage()
    if failed:
        store.update(status="incomplete", summary=summary)
        first = failed[0]
        raise RunError(
            f"{len(failed)} of {len(samples)} samples failed (first: {first.id}: {first.error}); "
            f"fix them and run the same command again to finish {store.path}"
        )
    metrics = task.metrics(dataset.name, records)
    health = check(config.task, records, metrics)
    health.report()
    if health.unusable:
        store.finish(metrics, status="unusable", error=health.unusable, summary=summary)
        raise UnusableRun(f"unusable run: {health.unusable}; recorded in {store.path}")
    store.finish(metrics, summary=summary)
    return RunResult(path=store.path, metrics=metrics, manifest=store.manifest, errors=0, summary=summary)


def _judge_phase(store: Run, task: Any, judge: Any, samples: list[Sample], cache: ResponseCache) -> None:
    """Judge the finished records that lack this judge's verdicts; judged records are appended (latest wins)."""
    latest = store.records()
    records = [latest[s.id] for s in samples if s.id in latest and latest[s.id].ok]
    judged = task.judge(records, judge, cache)
    store.append(new for new, old in zip(judged, records) if new != old)
