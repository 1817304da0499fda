"""Report rows: one per (run, dataset), the shape of ``qbench report --format json``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbench.errors import DataError
from qbench.store import Run

log = logging.getLogger("qbench")


def run_rows(runs: Sequence[Run], *, include_incomplete: bool = False) -> list[dict[str, Any]]:
    """``{"task", "model", "dataset", "split", "n", "metrics", "path"}`` for each complete run.

    Incomplete runs are skipped with a warning: their numbers are not to be trusted.
    """
    rows = []
    for run in runs:
        if not run.complete:
            if run.status == "unusable":
                log.warning(
                    "skipping %s: unusable (%s)", run.path, run.manifest.get("error", "no reason recorded")
                )
            else:
                log.warning("skipping %s: status %s (run it again to finish it)", run.path, run.status)
            if not include_incomplete:
                continue
        manifest = run.manifest
        metrics = run.metrics() if run.complete else {}
        rows.append(
            {
                "task": manifest.get("task"),
                "model": manifest.get("model"),
                "dataset": manifest.get("dataset"),
                "split": manifest.get("split"),
                "n": metrics.get("n", manifest.get("n")),
                "metrics": {k: v for k, v in metrics.items() if k != "n"},
                "path": str(run.path),
                "status": run.status,
                "partial": (manifest.get("dataset_info") or {}).get("partial"),  # {"n", "of"}: qbench data
                "manifest": manifest,
            }
        )
    _disambiguate(rows)
    for row in rows:
        row.pop("manifest")
    if not rows:
        raise DataError("no complete runs found", file=", ".join(str(r.path) for r in runs) or None)
    return rows


def _disambiguate(rows: list[dict[str, Any]]) -> None:
    """Runs of one model name on one dataset get what differs between them (judge, options, data, code) in
    the name; the fingerprint only when nothing recorded differs (:mod:`qbench.report.labels`)."""
    from qbench.report.labels import differences

    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["model"], row["dataset"], row["split"]), []).append(row)
    for group in groups.values():
        if len(group) < 2:
            continue
        for row, what in zip(group, differences([r["manifest"] for r in group]), strict=True):
            row["model"] = f"{row['model']} [{what or '#' + Path(row['path']).name[:6]}]"
