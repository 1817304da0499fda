"""``qbench score``: score stored responses again — after a rule fix, or with a (new) judge — without the model.

The result is always a new run folder beside the old one (its fingerprint includes the task's current rule
and prompt versions and the judge), with ``derived_from`` in its manifest: old numbers are never silently
overwritten, and both stay reportable.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qbench.cache import ResponseCache
from qbench.errors import UsageError
from qbench.models.base import load_model, model_info, require
from qbench.models.identity import volatile
from qbench.registry import TASKS
from qbench.runner import fingerprint
from qbench.store import Run, load_run, slug, write_run
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
    task_name = manifest.get("task")
    task = TASKS.get(str(task_name))(manifest.get("config", {}).get("task_options", {}))
    latest = source.records()
    records: Sequence[Record] = [r for r in latest.values() if r.ok]
    if not records:
        raise UsageError(f"{source.path} has no finished records to score")
    if callable(getattr(task, "rescore", None)):
        records = task.rescore(records)
    judge_model = None
    if judge is not None:
        if not callable(getattr(task, "judge", None)):
            raise UsageError(f"task {task_name} takes no --judge")
        judge_model = load_model(judge, judge_options or {})
        require(judge_model, ("generate",), "judge")
        task.set_judge(judge_model)
    elif callable(getattr(task, "restore_judge", None)):
        task.restore_judge(manifest.get("task_info", {}))
    task_info = {**manifest.get("task_info", {}), **_rules_info(task)}
    if judge_model is not None:
        response_cache = ResponseCache(enabled=cache and not volatile(judge_model))
        try:
            records = task.judge(list(records), judge_model, response_cache)
        finally:
            response_cache.close()
    metrics = task.metrics(str(manifest.get("dataset")), list(records))
    new_fp = fingerprint(
        {
            "from": manifest.get("fingerprint"),
            "task": task_info,
            "judge": model_info(judge_model) if judge_model else manifest.get("judge_info"),
        }
    )
    # under --out, the usual <task>/<model>/<dataset>/ layout from the manifest (the source folder may be a
    # copied run anywhere, with fewer parents); else beside the source run
    target = (
        out
        / str(manifest.get("task"))
        / slug(str(manifest.get("model")))
        / slug(str(manifest.get("dataset")))
        if out
        else source.path.parent
    ) / new_fp
    new_manifest = copy.deepcopy(manifest)
    new_manifest.update(
        fingerprint=new_fp,
        derived_from=str(source.path),
        task_info=task_info,
        n=len(records),
        judge_info=model_info(judge_model) if judge_model else manifest.get("judge_info"),
    )
    for key in ("status", "created", "finished", "resumed", "summary", "error"):
        new_manifest.pop(key, None)
    return write_run(target, new_manifest, records, metrics)


def _rules_info(task: Any) -> dict[str, Any]:
    info = task.manifest() if callable(getattr(task, "manifest", None)) else {}
    return {k: v for k, v in info.items() if k.endswith("version") or k == "judge"}


def score_paths(paths: Sequence[Path], **options: Any) -> list[Run]:
    from qbench.store import find_runs

    return [
        score_run(load_run(run.path), **options)
        for run in find_runs(paths)
        if not run.manifest.get("derived_from") or options.get("judge") is not None
    ]
