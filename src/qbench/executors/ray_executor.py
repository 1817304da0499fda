"""``--executor ray``: batches spread over Ray actors, each loading the model once on its GPU/CPU share.

The driver keeps the one run folder: it hands out batches, receives records as each batch finishes and
appends them, so resume, the cache and the metrics work exactly as in a local run (same records, same
order of scoring). Workers need the image paths to be visible (a shared file system on a multi-node
cluster). ``RAY_ADDRESS`` selects a running cluster; without it a local one is started.

The driver never loads the model: the replicas load it (while the driver reads the data file) and report
its :class:`~qbench.models.base.Identity` (name, info, fingerprint, capabilities), which is all the run plan
needs. A replica that cannot load the model reports the error, which the driver raises as the same one line
a local run gives.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from qbench import errors
from qbench.data.base import Dataset
from qbench.errors import MissingDependency, QBenchError, RunError
from qbench.models.base import Identity
from qbench.types import Record, Sample

IN_FLIGHT_PER_WORKER = 2


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependency("ray", "ray") from None
    return ray


@dataclass(frozen=True)
class Failure:
    """An error raised in a replica, carried back to the driver as plain fields (exceptions with keyword-only
    constructors do not survive pickling)."""

    kind: str
    message: str
    file: str | None = None
    item: Any = None
    field: str | None = None
    hint: str | None = None

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        if isinstance(exc, QBenchError):
            return cls(type(exc).__name__, exc.message, exc.file, exc.item, exc.field, exc.hint)
        return cls("", f"{type(exc).__name__}: {exc}")

    def error(self) -> QBenchError:
        """The error as the driver raises it: the same class (so the same exit code) and the same line."""
        kind = getattr(errors, self.kind, None)
        if not (isinstance(kind, type) and issubclass(kind, QBenchError)):
            return RunError(f"a Ray worker could not load the model: {self.message}")
        error = QBenchError.__new__(kind)
        QBenchError.__init__(
            error, self.message, file=self.file, item=self.item, field=self.field, hint=self.hint
        )
        return error


class _Worker:
    """One model replica: decodes its batches' images and runs the model, with its own cache handle."""

    def __init__(self, model: Any, model_options: dict[str, str], settings: dict[str, Any]) -> None:
        from qbench.models.base import load_model

        self.model: Any = None
        self.identity: Identity | None = None
        self.failure: Failure | None = None
        try:
            self.model = load_model(model, model_options, settings)
        except Exception as exc:  # reported by describe(): the driver raises it as one line
            self.failure = Failure.of(exc)

    def describe(self) -> Identity | Failure:
        from qbench.models.base import identify

        if self.failure is not None:
            return self.failure
        self.identity = identify(self.model)
        return self.identity

    def versions(self) -> dict[str, str]:
        from qbench.plan import versions

        return versions()

    def check_images(self, n_images: int, task: str) -> Failure | None:
        from qbench.models.base import require_images

        try:
            require_images(self.model, n_images, task)
        except Exception as exc:
            return Failure.of(exc)
        return None

    def setup(
        self,
        task_name: str,
        task_options: dict[str, str],
        capability: str,
        dataset: Dataset,
        cache_enabled: bool,
    ) -> None:
        from qbench.cache import ResponseCache
        from qbench.pipeline import CachedCaller
        from qbench.registry import TASKS

        self.task = TASKS.get(task_name)(task_options)
        self.task.setup(capability, dataset)
        cache = ResponseCache(enabled=cache_enabled)
        fingerprint = self.identity.fingerprint if self.identity is not None else None
        self.caller = CachedCaller(self.model, capability, cache, fingerprint)

    def process(self, batch: list[Sample], positions: dict[str, int]) -> tuple[list[Record], int]:
        from qbench.pipeline import run_batch

        before = self.caller.hits
        records = run_batch(self.task, self.caller, batch, positions)
        return records, self.caller.hits - before


class RayPool:
    """The model replicas of a run: started first (they load while the driver reads the data), then described,
    set up for the task, and fed batches (:meth:`batches`)."""

    def __init__(
        self, model: Any, model_options: dict[str, str], settings: dict[str, Any], workers: int | None
    ) -> None:
        ray = self.ray = _ray()
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
        count = workers or (gpus or max(1, int(resources.get("CPU", 1))))
        worker_cls = ray.remote(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1)(_Worker)
        self.workers = [worker_cls.remote(model, model_options, settings) for _ in range(count)]
        self.cache_hits = 0

    def describe(self) -> Identity:
        """The model's identity as the replicas loaded it; a replica's load error is raised here."""
        described = self.ray.get([w.describe.remote() for w in self.workers])
        for result in described:
            if isinstance(result, Failure):
                raise result.error()
        first = described[0]
        if any(d.fingerprint != first.fingerprint for d in described):
            raise RunError(
                "the Ray workers loaded the model differently (their identities differ), so their answers "
                "cannot share one run",
                hint="give every worker the same hardware, or pin -M dtype and -M device",
            )
        return first

    def versions(self) -> dict[str, str]:
        """The libraries the replicas run the model with (torch, transformers: the driver imports neither)."""
        return dict(self.ray.get(self.workers[0].versions.remote()))

    def require_images(self, n_images: int, task: str) -> None:
        """The replicas' model takes ``n_images`` images per request (else the same error as a local run)."""
        if n_images <= 1:
            return
        for failure in self.ray.get([w.check_images.remote(n_images, task) for w in self.workers]):
            if failure is not None:
                raise failure.error()

    def setup(
        self, task: str, task_options: dict[str, str], capability: str, dataset: Dataset, cache: bool
    ) -> None:
        """Each replica builds the task with the driver's capability; workers need the dataset's kind and name,
        not its items."""
        bare = replace(dataset, samples=())
        self.ray.get(
            [w.setup.remote(task, dict(task_options), capability, bare, cache) for w in self.workers]
        )

    def batches(
        self, todo: list[Sample], batch_size: int, positions: Mapping[str, int]
    ) -> Iterator[list[Record]]:
        """Record batches as the replicas finish them; ``cache_hits`` counts the replicas' cache hits."""
        ray = self.ray
        batches = [
            (batch, {s.id: positions[s.id] for s in batch})
            for batch in (todo[i : i + batch_size] for i in range(0, len(todo), batch_size))
        ]
        queue = list(reversed(batches))
        pending: dict[Any, Any] = {}
        for worker in self.workers:
            for _ in range(IN_FLIGHT_PER_WORKER):
                if queue:
                    pending[worker.process.remote(*queue.pop())] = worker
        try:
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                worker = pending.pop(ready)
                if queue:
                    pending[worker.process.remote(*queue.pop())] = worker
                records, hits = ray.get(ready)
                self.cache_hits += hits
                yield records
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        for worker in self.workers:
            self.ray.kill(worker)
        self.workers = []
