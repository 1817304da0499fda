"""``qbench import a1``: reading saved A1 replies into records, scored with the extraction rules (protocol 8.4).

Pure parsing: :func:`qbench.importer.import_a1` writes the runs.

The saved form is the authors' own (``model_vqa_qbench.py``, protocol 1.5): each official item (LLVisionQA json
or Q-Bench2 jsonl, single or pair) with the model's raw reply added as ``response``, written as a JSON list or
JSON lines. A file that lacks the questions (only ``response`` with an ``id``, an ``img_path``, or nothing at
all) is matched to the question file given with ``--data``: by ``id``, else by ``img_path`` and ``question``,
else by ``img_path`` alone when that is unique, else by position when the counts agree.

One run per file; every file is checked before any run is written. An item that appears twice (the official
script appends to its answers file, so a re-run leaves copies) keeps its first reply, with a warning and the
count in the manifest (the rule of protocol 8.9). Defaults when not given: the dataset is ``--data``'s name,
else ``llvisionqa`` (single) or ``qbench2`` (pairs); the split is ``--data``'s, else ``test``/``dev`` from the
file name, else ``dev`` when the items carry answers and ``test`` when they do not.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbench.data.dataset import Dataset
from qbench.data.jsonfile import read_records
from qbench.data.llvisionqa import parse_item
from qbench.errors import DataError
from qbench.tasks.perception import PerceptionTask
from qbench.types import Record, Sample

log = logging.getLogger("qbench")

__all__ = ["ParsedReplies", "guess_split", "parse_a1_file"]

_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass
class ParsedReplies:
    """One file of saved A1 replies as records, with what the run's manifest needs to know about it."""

    records: list[Record]
    pair: bool
    answered: bool
    duplicates: int
    lang: str


def guess_split(path: Path, answered: bool) -> str:
    name = path.name.lower()
    if "test" in name:
        return "test"
    if "dev" in name:
        return "dev"
    return "dev" if answered else "test"


def _response(item: Mapping[str, Any], index: int, path: Path) -> str:
    if "response" not in item:
        raise DataError(
            "no saved reply",
            file=path,
            item=index,
            field="response",
            hint=f"found keys: {', '.join(sorted(item))}",
        )
    value = item["response"]
    if value is None:
        return ""  # a missing reply is an empty one: unreadable, counted wrong (protocol 8.4 a, e)
    if not isinstance(value, str):
        raise DataError(
            f"expected the reply's text, got {type(value).__name__}", file=path, item=index, field="response"
        )
    return value


def _is_pair_item(item: Mapping[str, Any]) -> bool:
    img_path = item.get("img_path")
    return isinstance(img_path, list) or (isinstance(img_path, str) and "_cat_" in img_path)


def parse_a1_file(path: Path, reference: Dataset | None) -> ParsedReplies:
    """The records of one file of saved replies (matched to ``reference``'s questions when given)."""
    items = read_records(path)
    if not items:
        raise DataError("no items", file=path)
    responses = [_response(item, i, path) for i, item in enumerate(items)]
    samples = _match(items, reference, path) if reference is not None else _own_samples(items, path)
    if reference is not None:
        for index, (item, sample) in enumerate(zip(items, samples)):
            asked = item.get("question")
            if isinstance(asked, str) and asked.strip() != (sample.question or "").strip():
                raise DataError(
                    f"the question differs from item {sample.id} of {reference.name}: {sample.question!r}",
                    file=path,
                    item=index,
                    field="question",
                )
    task = PerceptionTask()
    records: list[Record] = []
    seen: set[str] = set()
    duplicates = 0
    for sample, response in zip(samples, responses):
        if sample.id in seen:
            duplicates += 1
            continue
        seen.add(sample.id)
        records.append(Record(sample.id, task.output(sample, response)))
    if duplicates:
        log.warning(
            "%s: %d repeated item(s); kept the first reply of each (n=%d)", path, duplicates, len(records)
        )
    if reference is not None and len(records) < len(reference):
        log.warning(
            "%s: replies for %d of the %d items of %s", path, len(records), len(reference), reference.name
        )
    pairs = {len(s.images) == 2 for s in samples}
    if len(pairs) > 1:
        raise DataError("mixes single-image items and pair items; import them as separate files", file=path)
    lang = str(samples[0].extra.get("lang", "en")) if reference is not None else _lang(samples)
    return ParsedReplies(records, pairs.pop(), any(s.answer is not None for s in samples), duplicates, lang)


def _lang(samples: Sequence[Sample]) -> str:
    """The Chinese release has the same keys (protocol 1.2); its questions give it away."""
    return "zh" if any(_CJK.search(s.question or "") for s in samples[:20]) else "en"


def _own_samples(items: list[dict[str, Any]], path: Path) -> list[Sample]:
    """Samples from items that carry their own questions; ids are positions, repeats share the first one's id."""
    if not all("question" in item for item in items):
        missing = next(i for i, item in enumerate(items) if "question" not in item)
        raise DataError(
            "no question in this item",
            file=path,
            item=missing,
            field="question",
            hint="pass the question file with --data to match the replies to it",
        )
    samples: list[Sample] = []
    first_of: dict[tuple[Any, ...], str] = {}
    for index, item in enumerate(items):
        fields, problems = parse_item(item, index, file=path, pair=_is_pair_item(item))
        if problems:
            raise problems[0]
        assert fields is not None
        key = (fields.source, fields.question, fields.options)
        sample_id = first_of.setdefault(key, str(index))
        samples.append(fields.sample(sample_id, tuple(Path(p) for p in fields.images)))
    return samples


def _norm_path(text: Any) -> str:
    return str(text).replace("\\", "/") if not isinstance(text, list) else "|".join(text)


def _match(items: list[dict[str, Any]], reference: Dataset, path: Path) -> list[Sample]:
    """The reference sample of each saved item (see the module docstring for the order of the keys)."""
    samples = reference.samples
    if all("id" in item for item in items):
        by_id = {s.id: s for s in samples}
        keys = [str(item["id"]) for item in items]
        return [_found(by_id, key, i, path, "id", reference) for i, key in enumerate(keys)]
    if all("img_path" in item and "question" in item for item in items):
        by_both = {(_norm_path(s.source), s.question): s for s in samples}
        return [
            _found(by_both, (_norm_path(item["img_path"]), item["question"]), i, path, "img_path", reference)
            for i, item in enumerate(items)
        ]
    if all("img_path" in item for item in items):
        counts: dict[str, int] = {}
        for s in samples:
            counts[_norm_path(s.source)] = counts.get(_norm_path(s.source), 0) + 1
        by_path = {_norm_path(s.source): s for s in samples}
        matched = []
        for i, item in enumerate(items):
            key = _norm_path(item["img_path"])
            if counts.get(key, 0) > 1:
                raise DataError(
                    f"{reference.name} asks {counts[key]} questions about this image; cannot tell which",
                    file=path,
                    item=i,
                    field="img_path",
                    hint="save the question or the id with each reply",
                )
            matched.append(_found(by_path, key, i, path, "img_path", reference))
        return matched
    if len(items) == len(samples):
        log.warning("%s: no ids or image paths; matched the replies to %s by position", path, reference.name)
        return list(samples)
    raise DataError(
        f"cannot match {len(items)} replies to the {len(samples)} items of {reference.name}",
        file=path,
        hint="save an id, or img_path and question, with each reply",
    )


def _found(table: Mapping[Any, Sample], key: Any, index: int, path: Path, field: str, ref: Dataset) -> Sample:
    sample = table.get(key)
    if sample is None:
        shown = key[0] if isinstance(key, tuple) else key
        raise DataError(f"{shown!r} is not an item of {ref.name}", file=path, item=index, field=field)
    return sample
