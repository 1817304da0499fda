"""The run plan: what a run is, worked out once before any sample is sent.

The runner used to recompute parts of this in several places (the model's fingerprint three or four times,
the dataset options twice, the API settings as strings). Here each is made once and then handed on, typed:

- :func:`load_options`: the dataset's :class:`~qbench.data.dataset.LoadOptions` from the RunConfig;
- :func:`adapter_settings`: the run-level settings (``--api-base``, ``--concurrency``) an adapter takes, as
  typed keyword arguments of its factory (an adapter declares them as keyword-only parameters; see
  :func:`qbench.models.base.load_model`), never folded into its ``-M`` strings;
- :class:`Plan`: the model's and the judge's :class:`~qbench.models.base.Identity` (made once per model
  object), the run's identity and fingerprint, its folder and the manifest it opens with. Under
  ``--executor ray`` the model identity comes from a worker replica, so the driver never loads the model.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qbench.config import RunConfig
from qbench.data.base import Dataset, LoadOptions
from qbench.models.base import Identity
from qbench.redact import redact_options, redact_text
from qbench.store import Manifest, fingerprint, slug
from qbench.version import __version__


def load_options(config: RunConfig) -> LoadOptions:
    """The dataset options of a run: the one place a RunConfig becomes LoadOptions."""
    return LoadOptions(
        split=config.split,
        images=config.images,
        format=config.format,
        lang=config.lang,
        image_column=config.image_column,
        mos_column=config.mos_column,
        encoding=config.encoding,
    )


def adapter_settings(config: RunConfig) -> dict[str, Any]:
    """Run-level settings offered to every adapter; each takes those its factory names (``openai:`` takes
    both). ``-M`` options of the same name win, as before."""
    return {"api_base": config.api_base, "concurrency": config.concurrency}


def versions() -> dict[str, str]:
    """qbench, Python, and the heavy libraries this process actually uses (not part of the fingerprint)."""
    import sys

    found = {"qbench": __version__, "python": platform.python_version()}
    for name in ("torch", "transformers", "openai", "ray"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            found[name] = str(module.__version__)
    return found


@dataclass(frozen=True)
class Plan:
    """A run's identity and where it lives, computed once from its parts (see :func:`make_plan`)."""

    config: RunConfig
    dataset: Dataset
    n: int
    task_info: dict[str, Any]
    model: Identity
    judge: Identity | None
    identity: dict[str, Any]
    fingerprint: str
    path: Path

    @property
    def cacheable(self) -> bool:
        """A model or judge whose code cannot be read has no stable identity: its answers are never cached."""
        return self.config.cache and not self.model.volatile and not (self.judge and self.judge.volatile)

    def manifest(self, versions: dict[str, str]) -> Manifest:
        """The manifest a new run folder opens with (an existing folder keeps its own; see ``store.Run.open``)."""
        config, dataset = self.config, self.dataset
        return Manifest(
            task=config.task,
            model=self.model.name,
            model_info=dict(self.model.info),
            dataset=dataset.name,
            dataset_info={
                "path": str(dataset.path) if dataset.path else None,
                "format": dataset.format,
                "fingerprint": dataset.fingerprint,
                "size": len(dataset),
                **dataset.info,
            },
            split=dataset.split,
            task_info=self.task_info,
            fingerprint=self.fingerprint,
            config={
                k: redact_text(v) if isinstance(v, str) else v
                for k, v in asdict(config).items()
                if k not in {"model", "judge", "data"}
            }
            | {
                "model_options": redact_options(config.model_options),
                "judge_options": redact_options(config.judge_options),
                "model": str(config.model) if isinstance(config.model, str) else self.model.name,
                "judge": str(config.judge) if config.judge is not None else None,
                "data": str(config.data),
            },
            n=self.n,
            identity=self.identity,
            versions=versions,
            judge_info=dict(self.judge.info) if self.judge is not None else None,
        )


def make_plan(
    config: RunConfig,
    dataset: Dataset,
    n: int,
    task_info: dict[str, Any],
    model: Identity,
    judge: Identity | None,
) -> Plan:
    """The run's identity (task, model fingerprint, data, slice), its fingerprint and its folder."""
    identity = {
        "task": task_info,
        "model": model.fingerprint,
        "dataset": dataset.fingerprint,
        "split": dataset.split,
        "limit": config.limit,
        "shard": config.shard,
    }
    fp = fingerprint(identity)
    path = config.out / config.task / slug(model.name) / slug(dataset.name) / fp
    return Plan(config, dataset, n, task_info, model, judge, identity, fp, path)
