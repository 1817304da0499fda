"""qbench: the Q-Bench benchmark for multimodal LLMs on low-level vision.

``import qbench`` is light: the heavy parts (torch, transformers, ray, datasets) load on first use.
"""

from __future__ import annotations

from typing import Any

from qbench.version import __version__

__all__ = ["__version__", "evaluate", "find_runs", "load_dataset", "load_model", "load_run"]


def evaluate(task: str, model: Any, data: Any, **options: Any) -> Any:
    """Run (or resume) ``task`` ("a1", "a2", "a3") with ``model`` (a spec string or your own object) on ``data``.

    Keyword options are those of :class:`qbench.config.RunConfig` (``out``, ``split``, ``limit``,
    ``batch_size``, ``judge``, ``model_options``, ``task_options``, ...). Returns a
    :class:`qbench.runner.RunResult` with ``path`` and ``metrics``.
    """
    from qbench.config import RunConfig
    from qbench.runner import run

    return run(RunConfig(task=task, model=model, data=data, **options))


def load_run(path: Any) -> Any:
    from qbench.store import load_run as _load_run

    return _load_run(path)


def find_runs(*paths: Any) -> Any:
    from qbench.store import find_runs as _find_runs

    return _find_runs(paths)


def load_model(spec: str, **options: str) -> Any:
    from qbench.models.base import load_model as _load_model

    return _load_model(spec, options)


def load_dataset(spec: Any, **options: Any) -> Any:
    from qbench.data.dataset import LoadOptions
    from qbench.data.dataset import load_dataset as _load_dataset

    return _load_dataset(spec, LoadOptions(**options))
