"""``--executor ray``: batches spread over Ray actors, each loading the model once on its GPU/CPU share.

The driver keeps the one run folder: it hands out batches, receives records as each batch finishes and
appends them, so resume, the cache and the metrics work exactly as in a local run (same records, same
order of scoring). Workers need the image paths to be visible (a shared file system on a multi-node
cluster). ``RAY_ADDRESS`` selects a running cluster; without it a local one is started.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from qbench.config import RunConfig
from qbench.data.dataset import Dataset
from qbench.errors import MissingDependency
from qbench.types import Record, Sample

IN_FLIGHT_PER_WORKER = 2


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependency("ray", "ray") from None
    return ray


class _Worker:
    """One model replica: decodes its batches' images and runs the model, with its own cache handle."""

    def __init__(
        self,
        model: Any,
        model_options: dict[str, str],
        task_name: str,
        task_options: dict[str, str],
        capability: str,
        dataset: Dataset,
        cache_enabled: bool,
    ) -> None:
        from qbench.cache import ResponseCache
        from qbench.models.base import load_model
        from qbench.pipeline import CachedCaller
        from qbench.registry import TASKS

        self.model = load_model(model, model_options)
        self.task = TASKS.get(task_name)(task_options)
        self.task.setup(capability, dataset)
        self.caller = CachedCaller(self.model, capability, ResponseCache(enabled=cache_enabled))

    def process(self, batch: list[Sample]) -> tuple[list[Record], int]:
        from qbench.pipeline import run_batch

        before = self.caller.hits
        records = run_batch(self.task, self.caller, batch)
        return records, self.caller.hits - before


class RayBatches:
    """An iterable of record batches computed on Ray; ``cache_hits`` counts the workers' cache hits."""

    def __init__(
        self,
        todo: list[Sample],
        batch_size: int,
        task: Any,
        config: RunConfig,
        capability: str,
        dataset: Dataset,
        model_options: dict[str, str],
    ) -> None:
        self.todo = todo
        self.batch_size = batch_size
        self.task_name = config.task
        self.task_options = dict(config.task_options)
        self.config = config
        self.capability = capability
        self.dataset = replace(dataset, samples=())  # workers need its kind and name, not its items
        self.model_options = model_options
        self.cache_hits = 0

    def __iter__(self) -> Iterator[list[Record]]:
        if not self.todo:
            return
        ray = _ray()
        if not ray.is_initialized():
            ray.init(
                address=os.environ.get("RAY_ADDRESS") or None,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
                configure_logging=False,
            )
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = self.config.workers or (gpus or max(1, int(resources.get("CPU", 1))))
        worker_cls = ray.remote(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1)(_Worker)
        workers = [
            worker_cls.remote(
                self.config.model,
                self.model_options,
                self.task_name,
                self.task_options,
                self.capability,
                self.dataset,
                self.config.cache,
            )
            for _ in range(count)
        ]
        batches = [self.todo[i : i + self.batch_size] for i in range(0, len(self.todo), self.batch_size)]
        queue = list(reversed(batches))
        pending: dict[Any, Any] = {}
        for worker in workers:
            for _ in range(IN_FLIGHT_PER_WORKER):
                if queue:
                    pending[worker.process.remote(queue.pop())] = worker
        try:
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                worker = pending.pop(ready)
                if queue:
                    pending[worker.process.remote(queue.pop())] = worker
                records, hits = ray.get(ready)
                self.cache_hits += hits
                yield records
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            for worker in workers:
                ray.kill(worker)
