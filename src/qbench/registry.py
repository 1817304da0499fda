"""Lazy registries for models, datasets and tasks, with did-you-mean and entry-point plugins.

Entries are ``"module:attribute"`` strings, imported on first use, so that listing or naming a model never
imports torch. Third-party packages add entries through the entry-point groups ``qbench.models``,
``qbench.datasets`` and ``qbench.tasks`` (name = spec prefix, value = ``module:factory``).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from qbench.errors import UsageError


@dataclass(frozen=True)
class Entry:
    """A registered name: its factory, a line of help, and named hooks (e.g. a task's ``report``)."""

    name: str
    target: str | Callable[..., Any]
    help: str = ""
    hooks: Mapping[str, str | object] = field(default_factory=dict)


class Registry:
    """Name -> factory, resolved lazily; unknown names get a did-you-mean."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry] = {}
        self._plugins_loaded = False

    def register(
        self, name: str, target: str | Callable[..., Any], help: str = "", **hooks: str | object
    ) -> None:
        """Register ``name``; ``hooks`` are further objects (or lazy ``"module:attr"`` strings) that other
        layers look up by key through :meth:`hook`, e.g. ``report="qbench.tasks.perception_report:REPORT"``."""
        self._entries[name] = Entry(name, target, help, dict(hooks))

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.group):
            self._entries.setdefault(ep.name, Entry(ep.name, ep.value, f"plugin from {ep.value}"))

    def entries(self) -> list[Entry]:
        self._load_plugins()
        return sorted(self._entries.values(), key=lambda e: e.name)

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._entries

    def get(self, name: str) -> Callable[..., Any]:
        self._load_plugins()
        entry = self._entries.get(name)
        if entry is None:
            raise UsageError(f"unknown {self.kind} '{name}'", hint=did_you_mean(name, self.names()))
        if callable(entry.target):
            return entry.target
        return _resolve(entry.target, f"{self.kind} '{name}'")

    def hook(self, name: str, key: str) -> Any | None:
        """The ``key`` hook of ``name``: registered with it, else the factory's attribute ``key`` (how a
        plugin's class declares it), else None. A ``"module:attr"`` string is imported on first use."""
        self._load_plugins()
        entry = self._entries.get(name)
        if entry is None:
            raise UsageError(f"unknown {self.kind} '{name}'", hint=did_you_mean(name, self.names()))
        value = entry.hooks.get(key)
        if value is None:
            value = getattr(self.get(name), key, None)
        if isinstance(value, str) and ":" in value:
            return _resolve(value, f"{key} of {self.kind} '{name}'")
        return value


def _resolve(target: str, what: str) -> Any:
    """``"module:attr"`` imported."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # a plugin whose module is gone, or a missing extra
        raise UsageError(f"{what} cannot be loaded from {target}: {exc}") from exc
    return getattr(module, attr)


def did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return "known: " + ", ".join(choices) if choices else "none are registered"


MODELS = Registry("model", "qbench.models")
MODELS.register("niqe", "qbench.models.classical:create_niqe", "NIQE (classical, no-reference; offline)")
MODELS.register(
    "brisque", "qbench.models.classical:create_brisque", "BRISQUE (classical, no-reference; offline)"
)
MODELS.register(
    "random", "qbench.models.classical:create_random", "seeded random scores and answers (a floor)"
)
MODELS.register("hf", "qbench.models.hf:create", "hf:ID_OR_PATH — a transformers image-text-to-text model")
MODELS.register("openai", "qbench.models.openai_compat:create", "openai:MODEL — any OpenAI-compatible server")
MODELS.register("py", "qbench.models.python:create", "py:package.module:ClassName — your own model class")

TASKS = Registry("task", "qbench.tasks")
# A task's hooks: ``report`` (qbench.report.spec.TaskReport: leaderboard, comparison, submission, published
# rows) and ``importer`` (saved official outputs -> runs: ``qbench import``).
TASKS.register(
    "a1",
    "qbench.tasks.perception:PerceptionTask",
    "A1 perception: multiple-choice questions",
    report="qbench.tasks.perception_report:REPORT",
    importer="qbench.importer:import_a1",
)
TASKS.register(
    "a2",
    "qbench.tasks.description:DescriptionTask",
    "A2 description, judged by an LLM",
    report="qbench.tasks.description_report:REPORT",
)
TASKS.register(
    "a3",
    "qbench.tasks.assessment:AssessmentTask",
    "A3 assessment: quality scores against MOS",
    report="qbench.tasks.assessment_report:REPORT",
    importer="qbench.importer:import_a3",
)
TASKS.register(
    "abench",
    "qbench.tasks.abench:ABenchTask",
    "A-Bench: questions on AI-generated images",
    report="qbench.tasks.abench_report:REPORT",
)
TASKS.register(
    "micbench",
    "qbench.tasks.micbench:MICBenchTask",
    "MICBench: questions over 3-4 images",
    report="qbench.tasks.micbench_report:REPORT",
)
TASKS.register(
    "qbench-video",
    "qbench.tasks.qbench_video:QBenchVideoTask",
    "Q-Bench-Video: questions on videos, judged",
    report="qbench.tasks.qbench_video_report:REPORT",
)

DATASETS = Registry("dataset", "qbench.datasets")
DATASETS.register(
    "synthetic", "qbench.data.builtin:synthetic_a1", "seeded synthetic A1 questions (single images)"
)
DATASETS.register(
    "synthetic-pair", "qbench.data.builtin:synthetic_pair", "seeded synthetic A1 questions (pairs)"
)
DATASETS.register(
    "synthetic-iqa", "qbench.data.builtin:synthetic_iqa", "seeded synthetic A3 set with pseudo-MOS"
)
