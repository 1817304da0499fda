"""A-Bench (AI-generated images) in its two released layouts (protocol.md 9.5, data-sources.md 4.1).

* ``Abench.json`` (the legacy release, with ``imgs.zip``): a list of items ``img_path`` (a file name inside
  the unzipped images, e.g. ``part1_0000.png``), ``question``, ``answers`` (the candidates in display order)
  and ``category`` (``part1 -> basic_recognition -> major``). The correct answers are withheld: an item
  without ``correct_ans`` (the answer's text) or ``correct_choice`` (its letter) is *hidden* and scored by
  the authors from a submitted JSONL (:mod:`qbench.tasks.abench`).
* The HF layout (``q-future/A-Bench-HF``, split ``dev``): rows ``id``, ``image``, ``question``,
  ``option0..option3`` padded with ``"N/A"``, ``category``, ``correct_choice`` (a letter).

Both give the same samples: ``extra["category"]`` holds the category path as written, checked to be
``part1``/``part2`` followed by one or two names joined by ``->``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from qbench.data.base import LoadOptions
from qbench.data.containment import image_path
from qbench.data.jsonfile import read_records
from qbench.data.llvisionqa import (
    check_answer_letter,
    check_options,
    gold_answer,
    warn_hidden,
)
from qbench.errors import DataError
from qbench.types import Sample

__all__ = ["ABENCH_HF_COLUMNS", "is_abench_columns", "parse_category", "read_abench_json", "row_sample"]

PARTS = ("part1", "part2")
ABENCH_HF_COLUMNS = ("question", "option0", "option1", "category")
OPTION_COLUMNS = ("option0", "option1", "option2", "option3")


def parse_category(value: Any) -> tuple[tuple[str, ...] | None, str | None]:
    """``"part1 -> bag_of_words -> attribute"`` -> ``("part1", "bag_of_words", "attribute")``; else (None, why)."""
    if not isinstance(value, str) or not value.strip():
        return None, "missing or empty" if value in (None, "") else f"not a string: {value!r}"
    parts = tuple(p.strip() for p in value.split("->"))
    if parts[0] not in PARTS or not 2 <= len(parts) <= 3 or not all(parts):
        return None, f"expected 'part1|part2 -> group [-> leaf]', got {value!r}"
    return parts, None


def is_abench_columns(names: Iterable[str]) -> bool:
    """Whether a table's columns are the A-Bench-HF layout (a ``category``, no ``question_type``)."""
    names = set(names)
    return set(ABENCH_HF_COLUMNS) <= names and "question_type" not in names


def _sample(
    sid: str,
    image: Path,
    question: Any,
    options: Any,
    answer: str | None,
    category: tuple[str, ...],
    source: str,
    lang: str,
    **extra: Any,
) -> Sample:
    return Sample(
        id=sid,
        images=(image,),
        question=question,
        options=options,
        answer=answer,
        source=source,
        extra={"category": " -> ".join(category), "lang": lang, **extra},
    )


def read_abench_json(path: Path, options: LoadOptions) -> list[Sample]:
    """Samples of ``Abench.json`` (images under ``--images``, else beside the file)."""
    root = options.images or path.parent
    samples = []
    for index, item in enumerate(read_records(path)):

        def fail(field: str, why: str, index: int = index) -> DataError:
            return DataError(why, file=path, item=index, field=field)

        question = item.get("question")
        if not isinstance(question, str) or not question.strip():
            raise fail("question", "missing or empty")
        opts, why = check_options(item.get("answers"))
        if why:
            raise fail("answers", why)
        assert opts is not None
        answer = gold_answer(item, opts, fail)
        category, why = parse_category(item.get("category"))
        if why:
            raise fail("category", why)
        assert category is not None
        rel = item.get("img_path")
        if not isinstance(rel, str) or not rel.strip():
            raise fail("img_path", "missing or empty")
        image = image_path(root, rel.replace("\\", "/"), file=path, item=index)
        samples.append(_sample(str(index), image, question, opts, answer, category, rel, options.lang))
    warn_hidden(path, samples, options)
    return samples


def row_sample(
    row: Mapping[str, Any], index: int, *, file: Path | str, image: Path, name: str, lang: str
) -> Sample:
    """One A-Bench-HF row (its image already resolved by the HF reader) as a sample."""
    rid = row.get("id", index)
    item = str(rid)

    def check(value: Any, why: str | None, field: str) -> Any:
        if why:
            raise DataError(why, file=file, item=item, field=field)
        return value

    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataError("missing or empty", file=file, item=item, field="question")
    raw_options = [row[c] if row[c] is not None else "N/A" for c in OPTION_COLUMNS if c in row]
    opts = check(*check_options(raw_options), "option0..option3")
    answer = check(*check_answer_letter(row.get("correct_choice"), opts), "correct_choice")
    category = check(*parse_category(row.get("category")), "category")
    return _sample(item, image, question, opts, answer, category, name or item, lang, hf_id=rid)
