"""``qbench import``: saved model outputs become runs, scored and reported without the model.

The one place imports are written (through the store's :func:`~qbench.store.derive` and
:func:`~qbench.store.write_run`), for every task. A1: the authors' answer files, read by
:mod:`qbench.tasks.perception_import`.

A3: official output files (``img_path``, ``gt_score``, ``logit_<word>``), one run per file, the dataset
named from the file name (``koniq.json`` -> koniq). Duplicated images keep their first record (protocol.md
8.9) with a warning and the count in the manifest.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbench import __version__
from qbench.data.dataset import dataset_name, fingerprint_path
from qbench.data.jsonfile import read_records
from qbench.data.mos import parse_score
from qbench.errors import DataError, UsageError
from qbench.scoring.official import A3_SCORE_VERSION, a3_score
from qbench.store import Manifest, Run, derive, write_run
from qbench.tasks import answers, prompts
from qbench.tasks.assessment import AssessmentOutput, iqa_metrics
from qbench.types import Record

log = logging.getLogger("qbench")


def import_a3(
    files: Sequence[Path],
    *,
    model: str,
    out: Path,
    positive: str = prompts.A3_WORDS[0],
    negative: str = prompts.A3_WORDS[1],
    temperature: float = prompts.A3_TEMPERATURE,
    dataset: str | None = None,
    logistic: bool = False,
) -> list[Run]:
    """One complete run per official A3 output file. Every file is checked before any run is written."""
    if positive.strip() == negative.strip():
        raise UsageError(
            f"--positive and --negative are both '{positive}'; the score compares two different words"
        )
    parsed = [(Path(f), _a3_records(Path(f), positive, negative, temperature)) for f in files]
    runs = []
    for path, (records, duplicates) in parsed:
        name = dataset or dataset_name(path)
        metrics = iqa_metrics(name, records, logistic=logistic)
        runs.append(
            write_imported(
                "a3",
                model,
                name,
                path,
                out,
                records,
                metrics,
                task_info={
                    "task": "a3",
                    "capability": "score_tokens",
                    "prompt_version": "imported",
                    "words": [positive, negative],
                    "temperature": temperature,
                    "score_version": A3_SCORE_VERSION,
                },
                duplicates=duplicates,
            )
        )
    return runs


def _a3_records(path: Path, positive: str, negative: str, temperature: float) -> tuple[list[Record], int]:
    items = read_records(path)
    if not items:
        raise DataError("no items", file=path)
    keys = {f"logit_{positive}", f"logit_{negative}"}
    if not any(keys <= item.keys() for item in items[:1]):
        found = sorted(k for k in items[0] if k.startswith("logit_"))
        raise DataError(
            f"no 'logit_{positive}'/'logit_{negative}' keys (found: {', '.join(found) or 'no logit keys'})",
            file=path,
            item=0,
            hint="choose the words with --positive/--negative" if found else None,
        )
    records: list[Record] = []
    seen: set[str] = set()
    duplicates = 0
    for i, item in enumerate(items):
        rel = item.get("img_path")
        if not isinstance(rel, str) or not rel:
            raise DataError("missing or not a string", file=path, item=i, field="img_path")
        mos = parse_score(item.get("gt_score"), file=path, item=i)
        logits = {
            w: parse_score(item.get(f"logit_{w}"), file=path, item=i, field=f"logit_{w}")
            for w in (positive, negative)
        }
        if rel in seen:
            duplicates += 1
            continue
        seen.add(rel)
        score, form = a3_score(logits[positive], logits[negative], temperature)
        records.append(Record(rel, AssessmentOutput(rel, mos, logits, score, form).to_json()))
    if duplicates:
        log.warning(
            "%s: %d duplicated image(s); kept the first record of each (n=%d)", path, duplicates, len(records)
        )
    return records, duplicates


def write_imported(
    task: str,
    model: str,
    dataset: str,
    source: Path,
    out: Path,
    records: list[Record],
    metrics: dict[str, Any],
    *,
    task_info: dict[str, Any],
    duplicates: int = 0,
    split: str | None = None,
) -> Run:
    """One complete run of saved outputs, written through the store: ``<out>/<task>/<model>/<dataset>/<fp>``,
    its fingerprint from the file's content, the task, the model name and the task info (:func:`derive`)."""
    base = Manifest(
        task=task,
        model=model,
        model_info={"name": model, "kind": "imported"},
        dataset=dataset,
        dataset_info={
            "path": str(source),
            "format": "official-output",
            "fingerprint": fingerprint_path(source),
        },
        split=split,
        task_info=task_info,
        versions={"qbench": __version__},
    )
    manifest = derive(base, "import", [source], n=len(records), duplicates=duplicates)
    return write_run(manifest.folder(out), manifest, records, metrics)


def import_a1(
    files: Sequence[Path],
    *,
    model: str,
    out: Path,
    dataset: str | None = None,
    split: str | None = None,
    data: str | Path | None = None,
) -> list[Run]:
    """One complete A1 run per file of saved replies (the accepted forms: :mod:`qbench.tasks.perception_import`).

    Every file is checked before any run is written.
    """
    from qbench.data.dataset import LoadOptions, load_dataset
    from qbench.tasks.perception import a1_metrics
    from qbench.tasks.perception_import import guess_split, parse_a1_file

    reference = load_dataset(data, LoadOptions(split=split or "dev")) if data is not None else None
    parsed = [(Path(f), parse_a1_file(Path(f), reference)) for f in files]
    runs = []
    for path, result in parsed:
        name = dataset or (reference.name if reference else "qbench2" if result.pair else "llvisionqa")
        task_info: dict[str, Any] = {
            "task": "a1",
            "mode": "generate",
            "capability": "generate",
            "prompt_version": "imported",
            "rules_version": answers.RULES_VERSION,
            "lang": result.lang,
            "pair": result.pair,
        }
        if reference is not None:
            task_info["data_fingerprint"] = reference.fingerprint
        runs.append(
            write_imported(
                "a1",
                model,
                name,
                path,
                out,
                result.records,
                a1_metrics(result.records),
                task_info=task_info,
                duplicates=result.duplicates,
                split=split or (reference.split if reference else guess_split(path, result.answered)),
            )
        )
    return runs


def import_files(task: str, files: Sequence[Path], *, model: str, out: Path, **options: Any) -> list[Run]:
    """``qbench import TASK FILES``: the importer the task registered (``TASKS.register(..., importer=...)``),
    given the options it takes (the others, such as A3's level words for an A1 import, do not apply to it and
    are left out)."""
    from qbench.registry import TASKS

    importer = TASKS.hook(task, "importer") if task in TASKS else None
    if importer is None:
        importable = [name for name in TASKS.names() if TASKS.hook(name, "importer")]
        raise UsageError(f"no importer for task {task}", hint=f"importable: {', '.join(importable)}")
    taken = inspect.signature(importer).parameters
    return importer(list(files), model=model, out=out, **{k: v for k, v in options.items() if k in taken})
