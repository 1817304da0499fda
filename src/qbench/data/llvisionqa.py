"""A1 question files in the official formats: LLVisionQA json (single images) and Q-Bench2 jsonl (pairs).

Both are lists of items with the keys ``type``, ``concern``, ``question``, ``img_path``, ``candidates`` and,
on the dev split, ``correct_ans`` (the answer's text; protocol.md 1.2) and, for pairs, ``correct_choice``
(its letter; 2.2). The released test files have no answers: a missing or ``"N/A"`` answer (the release
figure draws ``["N/A"]``, and the HF pair release uses ``"@"``) means *hidden*, and such items are scored
by the benchmark's authors, never by us.

Where the images are:

* single: ``img_path`` is a file name relative to the data file's folder, or to ``--images``;
* pair: ``img_path`` names the side-by-side image, ``"llvisionqa_compare_dev\\\\a.jpg_cat_b.jpg.jpg"``; the
  two originals are ``all_single_images/a.jpg`` and ``all_single_images/b.jpg`` (protocol 2.2) under the data
  file's folder, or under ``--images`` (which may also be the ``all_single_images`` folder itself). An item
  may instead give ``img_path`` as a list of the two paths, relative to the same root.

Sample ids are the item's position in the file (``"0"``, ``"1"``, ...). That is stable for a given file and
equals the ``id`` column of the HF release (whose rows are in the json's order, protocol 1.3), so runs,
imports and submissions line up across the formats.

Every item is checked in full by :func:`item_problems` (``qbench validate`` lists each problem on its own
line); the readers stop at the first problem with the same message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from qbench.data.base import LoadOptions
from qbench.data.containment import image_path
from qbench.data.jsonfile import read_records
from qbench.errors import DataError
from qbench.protocol import PADDING_OPTION
from qbench.types import Sample

log = logging.getLogger("qbench")

__all__ = [
    "HIDDEN_ANSWERS",
    "PAIR_CONCERNS",
    "PAIR_SINGLES_DIR",
    "QTYPES",
    "SINGLE_CONCERNS",
    "ItemFields",
    "check_answer_letter",
    "check_answer_text",
    "check_code",
    "check_options",
    "item_problems",
    "parse_item",
    "read_llvisionqa",
    "read_qbench2",
    "split_pair_path",
    "warn_hidden",
]

#: Question types (protocol 1.2): the same codes for single images and pairs.
QTYPES: Mapping[int, str] = {0: "yes-no", 1: "what", 2: "how"}
#: Single-image concerns (protocol 1.2).
SINGLE_CONCERNS: Mapping[int, str] = {
    0: "distortion",
    1: "other",
    2: "in-context distortion",
    3: "in-context other",
}
#: Pair concerns (protocol 2.3, 8.7): concern = 2 * is_other + is_joint.
PAIR_CONCERNS: Mapping[int, str] = {
    0: "distortion/compare",
    1: "distortion/joint",
    2: "other/compare",
    3: "other/joint",
}
#: Answer values that mean "hidden" (the test split): N/A in the single release, "@" in the HF pair release.
HIDDEN_ANSWERS = frozenset({"", PADDING_OPTION, "@"})
#: Where the Q-Bench2 release keeps the two originals of each pair (protocol 2.2).
PAIR_SINGLES_DIR = "all_single_images"

LETTERS = "ABCD"
MIN_OPTIONS, MAX_OPTIONS = 2, 4


@dataclass(frozen=True)
class ItemFields:
    """One item's checked fields, before its image paths are resolved against a folder."""

    qtype: int
    concern: int
    question: str
    options: tuple[str, ...]
    answer: str | None
    source: str  # img_path as written (a list of two paths is joined with "|")
    images: tuple[str, ...]  # image paths relative to the image root, "/"-separated

    def sample(self, sample_id: str, images: tuple[Path, ...], **extra: Any) -> Sample:
        """The sample of these fields, with its resolved image paths."""
        return Sample(
            id=sample_id,
            images=images,
            question=self.question,
            options=self.options,
            answer=self.answer,
            qtype=self.qtype,
            concern=self.concern,
            source=self.source,
            extra={"pair": len(images) == 2, **extra},
        )


# --- field checks shared with the HF layout -------------------------------------------------------------


def check_code(value: Any, names: Mapping[int, str]) -> tuple[int | None, str | None]:
    """An integer code among ``names`` (``type``/``concern``); else (None, why). Numeric strings are accepted."""
    if value is None:
        return None, "missing"
    if isinstance(value, bool):
        return None, f"not an integer code: {value!r}"
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        return None, f"not an integer code: {value!r}"
    if value not in names:
        known = ", ".join(f"{k} {v}" for k, v in names.items())
        return None, f"code {value} is out of range ({known})"
    return value, None


def check_options(raw: Any) -> tuple[tuple[str, ...] | None, str | None]:
    """Candidates in display order with the trailing ``"N/A"`` padding (protocol 1.3) dropped; else (None, why).

    Padding *between* real options would shift the letters of the options after it, so it is a problem,
    not something to drop silently.
    """
    if raw is None:
        return None, "missing"
    if not isinstance(raw, (list, tuple)):
        return None, f"expected a list of option texts, got {type(raw).__name__}"
    if not all(isinstance(c, str) for c in raw):
        return None, "every option must be a string"
    options = list(raw)
    while options and options[-1].strip() in ("", PADDING_OPTION):
        options.pop()
    if any(o.strip() in ("", PADDING_OPTION) for o in options):
        return None, f"an empty or 'N/A' option comes before a real one: {list(raw)}"
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        return None, f"{len(options)} option(s); an item has {MIN_OPTIONS} to {MAX_OPTIONS}: {list(raw)}"
    return tuple(options), None


def _hidden(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(_hidden(v) for v in value)
    return isinstance(value, str) and value.strip() in HIDDEN_ANSWERS


def check_answer_text(value: Any, options: Sequence[str]) -> tuple[str | None, str | None]:
    """The letter of ``correct_ans`` (an option's text) among ``options``; (None, None) when hidden."""
    if _hidden(value):
        return None, None
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]  # the release figure draws the answer as a one-element list
    if not isinstance(value, str):
        return None, f"expected the answer's text, got {type(value).__name__}"
    matches = [i for i, option in enumerate(options) if option == value]
    if not matches:  # tolerate surrounding white space, nothing more (a different text is a different answer)
        matches = [i for i, option in enumerate(options) if option.strip() == value.strip()]
    if not matches:
        return None, f"{value!r} is not one of the options {list(options)}"
    if len(matches) > 1:
        return None, f"{value!r} is more than one of the options {list(options)}"
    return LETTERS[matches[0]], None


def check_answer_letter(value: Any, options: Sequence[str]) -> tuple[str | None, str | None]:
    """A gold letter (``correct_choice``) among the item's real options; (None, None) when hidden."""
    if _hidden(value):
        return None, None
    if not isinstance(value, str) or value.strip() not in LETTERS:
        return None, f"expected a letter A-D, got {value!r}"
    letter = value.strip()
    if LETTERS.index(letter) >= len(options):
        return None, f"letter {letter} is not one of the {len(options)} options {list(options)}"
    return letter, None


def gold_answer(
    item: Mapping[str, Any], options: Sequence[str], fail: Callable[[str, str], Exception]
) -> str | None:
    """The gold letter of a multiple-choice item of the family's json files: ``correct_ans`` (an option's text)
    and/or ``correct_choice`` (a letter), which must agree; None when hidden. A problem is raised as
    ``fail(field, why)``, so each reader keeps its own file/item naming."""
    answer, why = check_answer_text(item.get("correct_ans"), options)
    if why:
        raise fail("correct_ans", why)
    if "correct_choice" in item:
        letter, why = check_answer_letter(item.get("correct_choice"), options)
        if why:
            raise fail("correct_choice", why)
        if letter and answer and letter != answer:
            raise fail("correct_choice", f"{letter} disagrees with correct_ans (option {answer})")
        answer = answer or letter
    return answer


def split_pair_path(img_path: str) -> tuple[str, str]:
    """The two original file names inside a Q-Bench2 pair path (protocol 2.2).

    ``"llvisionqa_compare_dev\\\\00079.jpg_cat_09769.jpg.jpg"`` -> ``("00079.jpg", "09769.jpg")``: take the
    last path part, drop the concatenated image's own extension (only when the second name still has one
    after it), split on ``_cat_``. Raises ValueError when the name is not two names joined by one ``_cat_``.
    """
    name = img_path.replace("\\", "/").rsplit("/", 1)[-1]
    first, sep, second = name.partition("_cat_")
    if not sep or "_cat_" in second or not first or not second:
        raise ValueError(f"expected '<first>_cat_<second>' in a pair path, got {img_path!r}")
    stem = PurePosixPath(second)
    if stem.suffix and PurePosixPath(stem.stem).suffix:
        second = stem.stem
    return first, second


def _relative(path: str) -> str:
    return path.replace("\\", "/")


# --- items ------------------------------------------------------------------------------------------------


def parse_item(
    item: Mapping[str, Any], index: int, *, file: Path, pair: bool
) -> tuple[ItemFields | None, list[DataError]]:
    """Check one official item in full: its fields, or every problem found (each naming the field)."""
    problems: list[DataError] = []

    def problem(field: str, message: str) -> None:
        problems.append(DataError(message, file=file, item=index, field=field))

    qtype, why = check_code(item.get("type"), QTYPES)
    if why:
        problem("type", why)
    concern, why = check_code(item.get("concern"), PAIR_CONCERNS if pair else SINGLE_CONCERNS)
    if why:
        problem("concern", why)
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        problem("question", "missing or empty" if question in (None, "") else "not a string")
    options, why = check_options(item.get("candidates"))
    if why:
        problem("candidates", why)

    answer = None
    if options is not None:
        answer, why = check_answer_text(item.get("correct_ans"), options)
        if why:
            problem("correct_ans", why)
        if "correct_choice" in item:
            letter, why = check_answer_letter(item.get("correct_choice"), options)
            if why:
                problem("correct_choice", why)
            elif letter and answer and letter != answer:
                problem("correct_choice", f"{letter} disagrees with correct_ans (option {answer})")
            answer = answer or letter

    source, images = _image_fields(item.get("img_path"), pair, problem)
    if problems:
        return None, problems
    assert qtype is not None and concern is not None and options is not None and images is not None
    return ItemFields(qtype, concern, str(question), options, answer, source, images), []


def _image_fields(raw: Any, pair: bool, problem: Any) -> tuple[str, tuple[str, ...] | None]:
    if isinstance(raw, list) and pair:
        if len(raw) != 2 or not all(isinstance(p, str) and p.strip() for p in raw):
            problem("img_path", f"a pair names exactly two image paths, got {raw!r}")
            return "", None
        return "|".join(raw), tuple(_relative(p) for p in raw)
    if not isinstance(raw, str) or not raw.strip():
        problem("img_path", "missing or empty" if raw in (None, "") else f"not a string: {raw!r}")
        return "", None
    if not pair:
        return raw, (_relative(raw),)
    try:
        first, second = split_pair_path(raw)
    except ValueError as exc:
        problem("img_path", str(exc))
        return raw, None
    return raw, (f"{PAIR_SINGLES_DIR}/{first}", f"{PAIR_SINGLES_DIR}/{second}")


def _resolve(relative: str, root: Path, options: LoadOptions, pair: bool, *, file: Path, item: int) -> Path:
    # --images may point at the pair release's all_single_images folder itself.
    if (
        pair
        and options.images is not None
        and relative.startswith(PAIR_SINGLES_DIR + "/")
        and not (options.images / PAIR_SINGLES_DIR).is_dir()
    ):
        relative = relative[len(PAIR_SINGLES_DIR) + 1 :]
    return image_path(root, relative, file=file, item=item)


def _samples(path: Path, options: LoadOptions, *, pair: bool) -> list[Sample]:
    items = read_records(path)
    root = options.images or path.parent
    samples = []
    for index, item in enumerate(items):
        fields, problems = parse_item(item, index, file=path, pair=pair)
        if problems:
            raise problems[0]
        assert fields is not None
        images = tuple(_resolve(rel, root, options, pair, file=path, item=index) for rel in fields.images)
        samples.append(fields.sample(str(index), images, pair=pair, lang=options.lang))
    warn_hidden(path, samples, options)
    return samples


def warn_hidden(path: Path | str, samples: Sequence[Sample], options: LoadOptions) -> None:
    """A dev-split run over a file without answers is almost always a forgotten ``--split test``."""
    if samples and options.split == "dev" and all(s.answer is None for s in samples):
        log.warning(
            "%s: no item has an answer (a test split? use --split test); only the invalid rate is scored",
            path,
        )


def read_llvisionqa(path: Path, options: LoadOptions) -> list[Sample]:
    """Single-image items of an LLVisionQA json (English or Chinese; protocol 1.2)."""
    return _samples(path, options, pair=False)


def read_qbench2(path: Path, options: LoadOptions) -> list[Sample]:
    """Pair items of a Q-Bench2 jsonl (or a JSON list of the same items; protocol 2.2)."""
    return _samples(path, options, pair=True)


def item_problems(path: Path, fmt: str, options: LoadOptions) -> list[str]:
    """Every field problem of every item, one line each (``qbench validate``); images are checked elsewhere."""
    pair = fmt == "qbench2"
    lines: list[str] = []
    for index, item in enumerate(read_records(path)):
        fields, problems = parse_item(item, index, file=path, pair=pair)
        lines.extend(p.one_line() for p in problems)
        for rel in fields.images if fields is not None else ():
            try:
                image_path(options.images or path.parent, rel, file=path, item=index)
            except DataError as exc:
                lines.append(exc.one_line())
    return lines
