"""``qbench score``: score stored responses again — after a rule fix, or with a (new) judge — without the model.

The result is always a new run folder beside the old one (its fingerprint includes the task's current rule
and prompt versions and the judge), with ``derived_from`` in its manifest: old numbers are never silently
overwritten, and both stay reportable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qbench.cache import ResponseCache
from qbench.errors import UsageError
from qbench.judging import judge_records
from qbench.models.base import load_model, model_info, require
from qbench.models.identity import volatile
from qbench.registry import TASKS
from qbench.store import Run, derive, load_run, write_run
from qbench.types import Record


def score_run(
    source: Run,
    *,
    judge: str | Any | None = None,
    judge_options: Mapping[str, str] | None = None,
    out: Path | None = None,
    cache: bool = True,
) -> Run:
    """A new, complete run holding ``source``'s responses scored by today's rules (and ``judge``, if given)."""
    manifest = source.manifest
    task_name = manifest.task
    task = TASKS.get(task_name)((manifest.config or {}).get("task_options", {}))
    latest = source.records()
    records: Sequence[Record] = [r for r in latest.values() if r.ok]
    if not records:
        raise UsageError(f"{source.path} has no finished records to score")
    if callable(getattr(task, "rescore", None)):
        records = task.rescore(records)
    judge_model = None
    if judge is not None:
        if not callable(getattr(task, "judge_spec", None)):
            raise UsageError(f"task {task_name} takes no --judge")
        judge_model = load_model(judge, judge_options or {})
        require(judge_model, ("generate",), "judge")
        task.set_judge(judge_model)
    elif callable(getattr(task, "restore_judge", None)):
        task.restore_judge(manifest.task_info)
    task_info = {**manifest.task_info, **_rules_info(task)}
    if judge_model is not None:
        response_cache = ResponseCache(enabled=cache and not volatile(judge_model))
        try:
            records = judge_records(task, list(records), judge_model, response_cache)
        finally:
            response_cache.close()
    metrics = task.metrics(manifest.dataset, list(records))
    new_manifest = derive(
        manifest,
        "rescore",
        [source.path],
        task_info=task_info,
        n=len(records),
        judge_info=model_info(judge_model) if judge_model else manifest.judge_info,
    )
    # under --out, the usual <task>/<model>/<dataset>/ layout from the manifest (the source folder may be a
    # copied run anywhere, with fewer parents); else beside the source run
    target = new_manifest.folder(out) if out else source.path.parent / new_manifest.fingerprint
    return write_run(target, new_manifest, records, metrics)


def _rules_info(task: Any) -> dict[str, Any]:
    info = task.manifest() if callable(getattr(task, "manifest", None)) else {}
    return {k: v for k, v in info.items() if k.endswith("version") or k == "judge"}


def score_paths(paths: Sequence[Path], **options: Any) -> list[Run]:
    from qbench.store import find_runs

    return [
        score_run(load_run(run.path), **options)
        for run in find_runs(paths)
        if not run.manifest.derived_from or options.get("judge") is not None
    ]
