"""plan -> skip finished -> batches through the pipeline (or Ray) -> judge -> records -> metrics.

The runner is the only place that connects data, task, model and store. The batch pipeline itself (parallel
decoding, cache lookups, model pre-processing ahead of the model) lives in :mod:`qbench.pipeline`; records are
appended as they are made (per batch, or per answer for an API model), so a kill loses at most what was in
flight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qbench.cache import ResponseCache
from qbench.config import RunConfig, parse_shard
from qbench.data.dataset import load_dataset
from qbench.errors import Interrupted, QBenchError, RunError, UsageError
from qbench.health import UnusableRun, check, no_samples
from qbench.interrupt import Interruptions
from qbench.judging import judge_records
from qbench.models.base import identify, images_needed, load_model, require, require_images
from qbench.models.identity import remembering
from qbench.pipeline import CachedCaller, local_batches
from qbench.plan import Plan, adapter_settings, load_options, make_plan, versions
from qbench.plan import fingerprint as fingerprint  # re-exported: derived runs (merge, rescoring) use it
from qbench.progress import Progress
from qbench.redact import redact_text
from qbench.registry import TASKS
from qbench.startup import EarlyWork, StagedLoad
from qbench.store import Manifest, Run
from qbench.types import Sample

log = logging.getLogger("qbench")

PREFETCH_BATCHES = 2
MAX_FAILED_BATCHES = 3


@dataclass
class RunResult:
    """What :func:`run` returns: where the run is, its metrics, and how it went."""

    path: Path
    metrics: dict[str, Any]
    manifest: Manifest
    errors: int = 0
    summary: dict[str, Any] = field(default_factory=dict)


def select(samples: Sequence[Sample], limit: int | None, shard: str | None) -> list[Sample]:
    """The deterministic slice a run works on: the first ``limit`` samples, then every N-th from K."""
    chosen = list(samples[:limit] if limit else samples)
    if shard:
        k, n = parse_shard(shard)
        chosen = chosen[k - 1 :: n]
    return chosen


def _preload(module: str) -> None:
    """Import ``module`` in a background thread while the model works (the import lock makes a later
    ``import`` wait for it, so this is always safe)."""
    import importlib
    import threading

    threading.Thread(
        target=importlib.import_module, args=(module,), daemon=True, name=f"preload-{module}"
    ).start()


def run(config: RunConfig) -> RunResult:
    """Run (or resume) one task on one model and one dataset; the CLI and ``qbench.evaluate`` both land here."""
    with remembering():  # each model's and judge's identity is computed once in this run
        return _run(config)


def _run(config: RunConfig) -> RunResult:
    task = TASKS.get(config.task)(config.task_options)
    settings = adapter_settings(config)
    # The model loads while the data file is read: in a background thread, where the first images are also
    # decoded and, once its processor works, pre-processed (qbench.startup); or, under Ray, on the replicas
    # (the driver never loads it). Model and capability errors still come first.
    replicas: Any = None
    loading: StagedLoad | None = None
    if config.executor == "ray":
        from qbench.executors.ray_executor import RayPool

        replicas = RayPool(config.model, config.model_options, settings, config.ray_workers)
    else:
        loading = StagedLoad(load_model, config.model, config.model_options, settings)
    early = EarlyWork([], None, loading)
    model = judge = None
    try:
        try:
            dataset = load_dataset(config.data, load_options(config))
        except QBenchError:
            require(replicas.describe() if replicas else _loaded(loading), task.needs, config.task)
            raise
        # a task may choose its samples first (A3 presets' split lists, samples=K copies): before --limit/--shard
        pool = (
            task.choose_samples(dataset)
            if callable(getattr(task, "choose_samples", None))
            else dataset.samples
        )
        samples = select(pool, config.limit, config.shard)
        if loading is not None:
            early = EarlyWork(samples, config.decode_threads, loading)
            early.plan(loading.partial(), task, config.task, dataset, config.batch_size)
            model = loading.result()
        model_id = replicas.describe() if replicas else identify(model)
        capability = require(model_id, task.needs, config.task)
        task.setup(capability, dataset)
        needed = images_needed(task, samples)
        if replicas is not None:
            replicas.require_images(needed, config.task)
        else:
            require_images(model, needed, config.task)
        if config.judge is not None:
            if not callable(getattr(task, "judge_spec", None)):
                raise UsageError(f"task {config.task} takes no --judge")
            judge = load_model(config.judge, config.judge_options, settings)
            require(judge, ("generate",), "judge")
            task.set_judge(judge)
        plan = make_plan(
            config, dataset, len(samples), task.manifest(), model_id, identify(judge) if judge else None
        )
        if replicas is not None:
            replicas.setup(config.task, config.task_options, capability, dataset, plan.cacheable)
        store = Run.open(plan.path, plan.manifest(versions() | (replicas.versions() if replicas else {})))
    except BaseException:
        _close(early, replicas, model, judge)
        raise
    cache = ResponseCache(enabled=plan.cacheable)
    interruptions = Interruptions()
    try:
        if not samples:
            reason = no_samples(0, len(dataset), config.limit, config.shard)
            store.update(status="unusable", error=reason)
            raise UnusableRun(f"unusable run: {reason}; recorded in {store.path}")
        with interruptions:
            return _execute(store, plan, task, model, replicas, capability, samples, cache, judge, early)
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
        store.close()
        cache.close()
        _close(early, replicas, model, judge)


def _loaded(loading: StagedLoad | None) -> Any:
    assert loading is not None
    return loading.result()


def _close(early: EarlyWork, replicas: Any, model: Any, judge: Any) -> None:
    early.close()
    if replicas is not None:
        replicas.close()
    for used in (model, judge):
        if callable(getattr(used, "close", None)):
            used.close()


def _execute(
    store: Run,
    plan: Plan,
    task: Any,
    model: Any,
    replicas: Any,
    capability: str,
    samples: list[Sample],
    cache: ResponseCache,
    judge: Any,
    early: EarlyWork,
) -> RunResult:
    config, dataset = plan.config, plan.dataset
    started = time.monotonic()
    _preload("scipy.stats")  # the metrics need it at the end; importing it costs ~0.5 s of start-up otherwise
    done = store.done_ids()
    todo = [s for s in samples if s.id not in done]
    early.keep(todo)
    batch_size = config.batch_size or plan.model.batch_size or 8
    positions = {s.id: i for i, s in enumerate(dataset.samples)}
    for s in samples:  # samples a task made itself (A3 samples=K copies) are numbered after the dataset's
        positions.setdefault(s.id, len(positions))
    failed_in_a_row = 0
    succeeded = 0
    label = f"{config.task} {plan.model.name} {dataset.name}"
    if replicas is not None:
        batches = replicas.batches(todo, batch_size, positions)
    else:
        caller = CachedCaller(model, capability, cache, plan.model.fingerprint)
        batches = local_batches(todo, batch_size, task, caller, positions, config.decode_threads, early)
    with Progress(len(todo), label, config.progress) as progress:
        for records in batches:
            store.append(records)
            for record in records:
                failed_in_a_row = 0 if record.ok else failed_in_a_row + 1
                succeeded += record.ok
            if failed_in_a_row >= MAX_FAILED_BATCHES * batch_size and not succeeded:
                first = next(r.error for r in records if r.error)
                raise RunError(f"every sample failed so far, so the run stops here; last error: {first}")
            progress.advance(len(records))
    hits = replicas.cache_hits if replicas is not None else caller.hits
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
        "cache_hits": hits,
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
    judged = judge_records(task, records, judge, cache)
    store.append(new for new, old in zip(judged, records) if new != old)
