"""Report rows: one per (run, dataset), the shape of ``qbench report --format json``.

A row is what every renderer (terminal, markdown, CSV, JSON, HTML) and every task's report code reads: the
run's identity, its metrics, and whether it is a published reference row. It is typed, so that a renderer
cannot read a key nobody writes; :func:`as_rows` turns the JSON form (or hand-made dicts, as the Python API
accepts) into rows once, at the entry points.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qbench.errors import DataError
from qbench.store import Manifest, Run

log = logging.getLogger("qbench")


@dataclass(frozen=True)
class ReportRow:
    """One run on one dataset (or one published result), as the report layer sees it.

    ``metrics`` holds the run's metrics without ``n`` (null values with their reasons under
    ``metrics["undefined"]``, see :mod:`qbench.undefined`). ``partial`` is ``{"n", "of"}`` when the run used a
    partial install of its dataset. ``pair`` marks rows of image pairs where the metrics alone do not tell
    (published rows); ``reference`` marks published rows, with ``source`` saying where they come from.
    """

    task: str
    model: str
    dataset: str
    split: str | None = None
    n: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    status: str = "complete"
    partial: dict[str, Any] | None = None
    reference: bool = False
    source: str | None = None
    pair: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``qbench report --format json`` item (NaN values are left to the caller to clean)."""
        item: dict[str, Any] = {
            "task": self.task,
            "model": self.model,
            "dataset": self.dataset,
            "split": self.split,
            "n": self.n,
            "metrics": self.metrics,
            "path": self.path,
        }
        if self.reference:
            item.update(reference=True, source=self.source)
        if self.partial:
            item["partial"] = self.partial  # {"n", "of"}: run on a partial install
        return item

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> ReportRow:
        """A row from its JSON form (or a dict of the same keys); unknown keys are ignored."""
        partial = item.get("partial")
        return cls(
            task=str(item.get("task")),
            model=str(item.get("model")),
            dataset=str(item.get("dataset")),
            split=item.get("split"),
            n=item.get("n"),
            metrics=dict(item.get("metrics") or {}),
            path=None if item.get("path") is None else str(item.get("path")),
            status=str(item.get("status") or ("reference" if item.get("reference") else "complete")),
            partial=dict(partial) if isinstance(partial, Mapping) else None,
            reference=bool(item.get("reference")),
            source=None if item.get("source") is None else str(item.get("source")),
            pair=bool(item.get("pair")),
        )


def as_rows(rows: Iterable[ReportRow | Mapping[str, Any]]) -> list[ReportRow]:
    """Rows as :class:`ReportRow`: the Python API takes the JSON form too (e.g. a saved JSON report)."""
    return [row if isinstance(row, ReportRow) else ReportRow.from_json(row) for row in rows]


def run_rows(runs: Sequence[Run], *, include_incomplete: bool = False) -> list[ReportRow]:
    """One row per complete run (runs of one model on one dataset labelled by what differs between them).

    Incomplete runs are skipped with a warning: their numbers are not to be trusted.
    """
    rows: list[ReportRow] = []
    manifests: list[Manifest] = []
    for run in runs:
        if not run.complete:
            if run.status == "unusable":
                log.warning(
                    "skipping %s: unusable (%s)", run.path, run.manifest.error or "no reason recorded"
                )
            else:
                log.warning("skipping %s: status %s (run it again to finish it)", run.path, run.status)
            if not include_incomplete:
                continue
        manifest = run.manifest
        metrics = run.metrics() if run.complete else {}
        partial = manifest.dataset_info.get("partial")  # {"n", "of"}: qbench data
        rows.append(
            ReportRow(
                task=manifest.task,
                model=manifest.model,
                dataset=manifest.dataset,
                split=manifest.split,
                n=metrics.get("n", manifest.n),
                metrics={k: v for k, v in metrics.items() if k != "n"},
                path=str(run.path),
                status=run.status,
                partial=dict(partial) if isinstance(partial, Mapping) else None,
            )
        )
        manifests.append(manifest)
    if not rows:
        raise DataError("no complete runs found", file=", ".join(str(r.path) for r in runs) or None)
    return _disambiguate(rows, manifests)


def _disambiguate(rows: list[ReportRow], manifests: Sequence[Manifest]) -> list[ReportRow]:
    """Runs of one model name on one dataset get what differs between them (judge, options, data, code) in
    the name; the fingerprint only when nothing recorded differs (:mod:`qbench.report.labels`)."""
    from qbench.report.labels import differences

    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((row.task, row.model, row.dataset, row.split), []).append(i)
    out = list(rows)
    for members in groups.values():
        if len(members) < 2:
            continue
        for i, what in zip(members, differences([manifests[i] for i in members]), strict=True):
            row = rows[i]
            out[i] = replace(row, model=f"{row.model} [{what or '#' + Path(str(row.path)).name[:6]}]")
    return out
