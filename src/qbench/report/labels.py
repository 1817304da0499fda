"""Rows of one model that differ are labelled by what differs (judge, options, data, code), not by a hash.

Two runs of ``my-model`` on one dataset in one report are only useful if a reader can tell them apart. The
facets below come from each run's manifest; a row's label gets the facets whose values differ within its
group, e.g. ``my-model [judge gpt-4o]`` beside ``my-model [judge qwen]``, or ``my-model [-T bootstrap=0]``.
Only when nothing recorded differs does the fingerprint stand in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from qbench.store import Manifest


def facets(manifest: Manifest) -> dict[str, str]:
    """What identifies a run to a reader, each facet as display text keyed by its kind."""
    config = manifest.config or {}
    task_info = manifest.task_info
    out: dict[str, str] = {}
    judge = task_info.get("judge")
    if isinstance(judge, Mapping):
        out["judge"] = f"judge {judge.get('model') or judge.get('name') or '?'}"
    elif manifest.judge_info:
        out["judge"] = f"judge {manifest.judge_info.get('name', '?')}"
    for flag, key in (("-T", "task_options"), ("-M", "model_options"), ("-J", "judge_options")):
        for name, value in sorted((config.get(key) or {}).items()):
            out[f"{flag} {name}"] = f"{flag} {name}={value}"
    data = manifest.dataset_info
    if data.get("fingerprint"):
        where = Path(str(data.get("path") or "")).name
        out["data"] = f"data {where + ' ' if where else ''}{str(data['fingerprint'])[:6]}"
    for key in ("limit", "shard"):
        if config.get(key):
            out[key] = f"--{key} {config[key]}"
    code = manifest.model_info.get("code")
    if code:
        out["code"] = f"code {str(code).split(':')[-1][:8]}"
    for key, value in sorted(task_info.items()):
        if key.endswith("version"):
            out[key] = f"{key} {value}"
    if manifest.derived_from:
        out["derived"] = "re-scored"
    return out


def differences(manifests: Sequence[Manifest]) -> list[str]:
    """For each manifest, the text of the facets whose values differ among ``manifests`` ('' if none)."""
    all_facets = [facets(m) for m in manifests]
    keys = sorted({k for f in all_facets for k in f})
    varying = [k for k in keys if len({f.get(k) for f in all_facets}) > 1]
    labels = []
    for f in all_facets:
        parts = [f.get(k) or (f"{k}=default" if k.startswith("-") else f"no {k}") for k in varying]
        labels.append("; ".join(parts))
    return labels
