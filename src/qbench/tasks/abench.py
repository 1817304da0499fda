"""A-Bench: multiple-choice questions on AI-generated images (``qbench run abench``; protocol.md 9.5).

Prompt (the authors' README, both for ``Abench.json`` and A-Bench-HF): the image, then
``{question}\\n`` + one line ``A. {option}`` per option + ``Answer with the option's letter from the given
choices directly.`` The letter is read by the A1 rules (:mod:`qbench.tasks.answers`); unreadable is wrong.

Accuracy per leaf of the category tree, grouped as the authors group it (README, paper):

* P1 semantic understanding: basic recognition (major, minor object recognition), bag-of-words pitfalls
  (attributes, nouns as adjectives, composition, counting), outside knowledge (specific terms, contradiction);
* P2 quality perception: technical, aesthetic, generative distortions.

A category is written ``part1 -> bag_of_words -> attribute``; the metric of a node is ``accuracy/`` plus its
path joined by ``/`` (``accuracy/part1/bag_of_words/attribute``, ``accuracy/part1``, ``accuracy/part2/technical``).
Only ``basic_recognition -> major`` and ``bag_of_words -> attribute`` are seen in public examples; the other leaf
spellings are UNVERIFIED, so the report's columns (:func:`columns`) come from the categories a run actually has,
in the authors' order where a name is known and after them where it is not (never dropped).

The README's table is malformed (11 headers, 13 values per row: a P1 and a P2 average are unlabelled), so it is
not scraped; :data:`REFERENCE_ROWS` are the rows of the README version whose table is well formed (11 headers,
11 values), marked as published numbers of closed models at that time.

Test answers are withheld: :func:`write_submission` writes the JSONL the authors take by e-mail, each item as
released plus ``response``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from qbench.data.dataset import Dataset
from qbench.errors import DataError, UsageError
from qbench.tasks.choice import ChoiceOutput, ChoiceTask, read
from qbench.tasks.prompts import option_lines
from qbench.types import ImageSlot, Part, Record, Sample, Text

__all__ = [
    "ABENCH_INSTRUCTION",
    "ABENCH_PROMPT_VERSION",
    "REFERENCE_ROWS",
    "ABenchTask",
    "abench_text",
    "columns",
    "submission_items",
    "write_submission",
]

ABENCH_PROMPT_VERSION = "abench-official-v1"
ABENCH_INSTRUCTION = "Answer with the option's letter from the given choices directly."

#: The authors' tree: part -> group -> leaves, each leaf (its known spellings) with its README column label.
TREE: dict[str, dict[str, list[tuple[tuple[str, ...], str]]]] = {
    "part1": {
        "basic_recognition": [(("major",), "Major"), (("minor",), "Minor")],
        "bag_of_words": [
            (("attribute", "attributes"), "Attr."),
            (("noun_as_adjective", "nouns_as_adjectives", "noun_adjective"), "N. Adj."),
            (("composition",), "Comp."),
            (("number", "counting"), "Number"),
        ],
        "outside_knowledge": [(("specific_terms", "term", "terms"), "Term"), (("contradiction",), "Contra.")],
    },
    "part2": {
        "technical": [],
        "aesthetic": [],
        "generative": [],
    },
}
GROUP_LABELS = {"technical": "Technical", "aesthetic": "Aesthetic", "generative": "Generative"}
PART_LABELS = {"part1": "P1 (semantic)", "part2": "P2 (quality)"}

#: Published rows (README of Q-Future/A-Bench at 053143e7, the version whose table has 11 headers and 11
#: values per row), by README column label, as fractions.
README_COLUMNS: tuple[str, ...] = ("Major", "Minor", "Attr.", "N. Adj.", "Comp.", "Number", "Term", "Contra.")
README_COLUMNS += ("Technical", "Aesthetic", "Generative")
REFERENCE_SOURCE = (
    "A-Bench README @053143e7 (2024-06, well-formed 11-column table; closed models at that time)"
)
REFERENCE_ROWS: dict[str, dict[str, float]] = {
    name: dict(
        zip(
            README_COLUMNS,
            (v / 100 for v in values),
        )
    )
    for name, values in {
        "Gemini 1.5 Pro": (93.80, 95.17, 94.33, 80.31, 72.11, 79.31, 73.00, 61.76, 70.97, 77.56, 59.02),
        "GPT-4v": (92.97, 95.97, 87.43, 82.63, 64.44, 68.78, 77.58, 66.71, 67.68, 68.22, 57.11),
        "GPT-4o": (94.33, 95.16, 91.96, 79.59, 76.34, 73.33, 77.53, 68.57, 70.53, 61.65, 67.89),
        "Qwen-VL-Max": (92.57, 94.77, 91.97, 85.76, 68.97, 75.78, 78.94, 65.14, 70.47, 69.46, 58.37),
        "Human (Worst)": (95.20, 94.27, 96.83, 88.64, 85.54, 82.50, 81.79, 88.89, 94.40, 84.41, 86.30),
        "Human (Best)": (95.42, 95.18, 99.46, 95.12, 93.42, 91.67, 84.23, 96.00, 94.99, 86.12, 93.04),
    }.items()
}


def abench_text(question: str, options: Sequence[str]) -> str:
    """The README's message: question, ``A. option`` lines, the letter instruction."""
    return f"{question}\n{option_lines(options)}{ABENCH_INSTRUCTION}"


def category_keys(category: str) -> list[str]:
    """The metric groups of a category path: its part, its group and (if any) its leaf."""
    parts = [p.strip() for p in category.split("->")]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


class ABenchTask(ChoiceTask):
    """``qbench run abench``: the official A-Bench prompt, A1 letter rules, accuracy per category node."""

    name = "abench"
    prompt_version = ABENCH_PROMPT_VERSION

    def check_dataset(self, dataset: Dataset) -> None:
        missing = [s.id for s in dataset.samples if not s.extra.get("category")]
        if missing:
            raise UsageError(
                f"task abench needs A-Bench items (with a category); '{dataset.name}' item {missing[0]} has none",
                hint="use Abench.json or the A-Bench-HF layout",
            )

    def content(self, sample: Sample, n_images: int) -> tuple[Part, ...]:
        return (
            *(ImageSlot(i) for i in range(n_images)),
            Text(abench_text(sample.question or "", sample.options)),
        )

    def fields(self, sample: Sample) -> dict[str, Any]:
        return {"category": sample.extra.get("category")}

    def groups(self, output: ChoiceOutput) -> Iterable[str]:
        return category_keys(output.category) if output.category else ()


def _known(part: str, group: str, leaf: str | None) -> tuple[int, int, str] | None:
    """(group position, leaf position, label) of a node the authors name; None when unknown."""
    groups = TREE.get(part, {})
    if group not in groups:
        return None
    g = list(groups).index(group)
    if leaf is None:
        return g, -1, GROUP_LABELS.get(group, group)
    for i, (spellings, label) in enumerate(groups[group]):
        if leaf in spellings:
            return g, i, label
    return None


def columns(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(metric key, label) of the report's columns, from the category nodes the metrics hold.

    Per part: its leaves in the authors' order (P2's groups are its leaves), unknown ones after the known
    ones in name order, then the part's average; ``Overall`` last.
    """
    out: list[tuple[str, str]] = []
    nodes = [k[len("accuracy/") :].split("/") for k in metrics if k.startswith("accuracy/part")]
    for part in ("part1", "part2"):
        leaves = []
        for node in nodes:
            if node[0] != part or len(node) < 2:
                continue
            has_children = any(len(n) > len(node) and n[: len(node)] == node for n in nodes)
            if has_children:
                continue
            group, leaf = node[1], node[2] if len(node) > 2 else None
            known = _known(part, group, leaf)
            rank = (0, *known[:2]) if known else (1, 0, 0)
            label = known[2] if known else " -> ".join(node[1:])
            leaves.append((rank, "/".join(node), label))
        for _, key, label in sorted(leaves, key=lambda x: (x[0], x[1])):
            out.append((f"accuracy/{key}", label))
        if f"accuracy/{part}" in metrics:
            out.append((f"accuracy/{part}", PART_LABELS[part]))
    out.append(("accuracy", "Overall"))
    return out


def reference_rows() -> list[dict[str, Any]]:
    """The published rows, by column label, each marked with its source."""
    return [
        {"model": name, "values": dict(values), "reference": REFERENCE_SOURCE}
        for name, values in REFERENCE_ROWS.items()
    ]


def submission_items(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Each item as ``Abench.json`` has it (img_path, question, answers, category) plus ``response``, in the
    file's order (sample ids are positions)."""
    ordered = sorted(records, key=lambda r: (0, int(r.id)) if r.id.isdigit() else (1, r.id))
    items = []
    for record in ordered:
        out = read(record)
        if not record.ok or out.response is None:
            raise DataError(f"has no reply ({record.error})", item=record.id)
        items.append(
            {
                "img_path": out.img_path,
                "question": out.question,
                "answers": list(out.options),
                "category": out.category,
                "response": out.response,
            }
        )
    return items


def write_run_submission(run: Any, output: str | Path | None = None) -> Path:
    """``qbench report RUN --format submission``: the run's JSONL, in the run folder unless ``output`` names a
    file or a folder (``<model>_<dataset>_<split>_abench.jsonl``)."""
    from qbench.store import slug

    if not run.complete:
        raise DataError(f"run is not complete (status: {run.status}); finish it first", file=run.path)
    m = run.manifest
    name = "_".join([slug(str(m.get("model"))), slug(str(m.get("dataset"))), str(m.get("split") or "test")])
    name += "_abench.jsonl"
    if output is None:
        target = run.path / name
    else:
        given = Path(output)
        target = given / name if given.is_dir() or str(output).endswith(("/", "\\")) else given
    return write_submission(list(run.records().values()), target)


def write_submission(records: Sequence[Record], target: Path) -> Path:
    """The A-Bench answers as JSONL (one item per line, ``response`` added), written atomically."""
    lines = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in submission_items(records))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(lines)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
