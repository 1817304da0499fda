"""The A2 submission file: a run's descriptions in the form the Q-Bench authors score (protocol.md 3).

The golden descriptions are private, so an A2 number on the official board comes from sending the
descriptions to the authors. Two official shapes:

- single images: a JSON list of ``{"img_path": ..., "response": ...}`` in the order of the input;
- pairs: ``q-bench2-a2.jsonl`` itself, one ``{"img_path": ..., "response": ...}`` line per pair, in the
  original order, with the (empty in the release) ``response`` filled in.

``img_path`` is written exactly as the input file had it (Windows separators included), since that is the
key the authors match on; the response is the description with surrounding white space trimmed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qbench.data.jsonfile import write_json_atomic, write_text_atomic
from qbench.errors import RunError, UsageError
from qbench.report.submission import ordered_records
from qbench.store import Run, slug


def a2_submission_items(run: Run) -> tuple[list[dict[str, Any]], bool]:
    """(items, is_pairs): one ``{"img_path", "response"}`` per finished record, in dataset order."""
    if run.manifest.get("task") != "a2":
        raise UsageError(f"{run.path} is a {run.manifest.get('task')} run, not an A2 description run")
    if not run.complete:
        raise RunError(
            f"{run.path} is not complete (status: {run.status}); run the same command again to finish it "
            "before exporting a submission"
        )
    records = [r for r in ordered_records(run) if r.ok]  # dataset order, also for merged shard runs
    kinds = {bool(r.output.get("img_paths")) for r in records}
    if len(kinds) > 1:
        raise RunError(
            f"{run.path} mixes single images and pairs; the official forms hold one or the other",
            hint="run singles and pairs as separate data files",
        )
    items = [
        {
            "img_path": str(r.output.get("img_path", r.id)),
            "response": str(r.output.get("description", "")).strip(),
        }
        for r in records
    ]
    return items, kinds == {True}


def write_a2_submission(run: Run, output: str | Path | None = None) -> Path:
    """Write ``run``'s descriptions as an official A2 submission; returns the file written.

    ``output`` may be a file, an existing folder (or a path ending in ``/``) to put the default name in, or
    None for the run folder itself. The default name is ``<model>_<dataset>_a2.json`` for single images and
    ``<model>_<dataset>_a2.jsonl`` for pairs (the pair form mirrors ``q-bench2-a2.jsonl`` line by line).
    """
    items, pairs = a2_submission_items(run)
    suffix = ".jsonl" if pairs else ".json"
    default = (
        f"{slug(str(run.manifest.get('model', 'model')))}_{slug(str(run.manifest.get('dataset', 'a2')))}_a2"
    )
    if output is None:
        target = run.path / f"{default}{suffix}"
    else:
        given = Path(output)
        is_folder = given.is_dir() or str(output).endswith(("/", "\\"))
        target = given / f"{default}{suffix}" if is_folder else given
    target.parent.mkdir(parents=True, exist_ok=True)
    if pairs:
        write_text_atomic(target, "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items))
    else:
        write_json_atomic(target, items)
    return target
