"""Q-Bench-Video questions in the released json (``Q_Bench_Video_dev.json`` / ``_test.json``; protocol.md 9.7).

Item keys read by the official ``GPT_test.py``: ``video_name`` (a file in the video folder; a pair is
``<a>_cat_<b>`` plus one extra 4-character extension, e.g. ``x.mp4_cat_y.mp4.mp4`` -> ``x.mp4`` and ``y.mp4``),
``question``, ``question_type`` (open-ended when it contains ``open_ended``), ``answers`` (the options of a
multiple-choice item) and ``context`` (a pair when it contains ``Compare`` or ``Joint``).

Not in any public code we could read (UNVERIFIED, data-sources.md 4.4): the key of the gold answer and of the
quality concern. We read the lab's own convention, ``correct_ans`` (the answer's text; for an open-ended item
the reference answer), with ``correct_choice`` (a letter) as in MICBench; and ``concern`` (a string or a list
of strings such as ``Technical``/``Aesthetic``/``Temporal``/``AIGC``). A missing answer is *hidden* (the test
split). Unknown concern and context names are kept as written, never dropped.

Videos are found under ``--images``, else under ``video/`` beside the json (where ``video.zip`` unpacks), else
beside the json. A sample's ``images`` are its video files (one, or the two of a pair), marked
``extra["media"] = "video"``: the run does not decode them as pictures; the task picks and decodes the frames
per request (:mod:`qbench.data.video`), because which frames is a task option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qbench.data.base import LoadOptions
from qbench.data.containment import image_path
from qbench.data.jsonfile import read_records
from qbench.data.llvisionqa import (
    check_options,
    gold_answer,
    warn_hidden,
)
from qbench.data.video import pair_names
from qbench.errors import DataError
from qbench.types import Sample

__all__ = ["CONCERNS", "QTYPES", "normal_concerns", "normal_context", "normal_qtype", "read_qbench_video"]

QTYPES = ("yes-no", "what-how", "open-ended")
CONCERNS = ("technical", "aesthetic", "temporal", "aigc")


def normal_qtype(value: Any) -> str | None:
    """``Yes-or-No`` -> ``yes-no``, ``What-How`` -> ``what-how``, ``..._open_ended`` -> ``open-ended``."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.lower().replace("_", "-").replace(" ", "-")
    if "open" in text:
        return "open-ended"
    if "yes" in text or "no" in text.split("-"):
        return "yes-no"
    if "what" in text or "how" in text:
        return "what-how"
    return None


def normal_context(value: Any) -> str:
    """``Global`` / ``Referring`` for one video, ``Compare`` / ``Joint`` for pairs; lower case, as written."""
    return value.strip().lower() if isinstance(value, str) else ""


def is_pair_context(value: Any) -> bool:
    """The official rule: a pair when the context contains ``Compare`` or ``Joint``."""
    return isinstance(value, str) and ("Compare" in value or "Joint" in value)


def normal_concerns(value: Any) -> tuple[str, ...]:
    """The item's concerns, lower case (``AIGC`` -> ``aigc``); a string may list several, comma-separated."""
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[str] = []
    for raw in items:
        if isinstance(raw, str):
            out.extend(p.strip().lower() for p in raw.split(",") if p.strip())
    return tuple(dict.fromkeys(out))


def _video_root(path: Path, options: LoadOptions) -> Path:
    if options.images is not None:
        return options.images
    return path.parent / "video" if (path.parent / "video").is_dir() else path.parent


def read_qbench_video(path: Path, options: LoadOptions) -> list[Sample]:
    """Samples of a Q-Bench-Video json (multiple-choice and open-ended items, single videos and pairs)."""
    root = _video_root(path, options)
    samples = []
    for index, item in enumerate(read_records(path)):

        def fail(field: str, why: str, index: int = index) -> DataError:
            return DataError(why, file=path, item=index, field=field)

        question = item.get("question")
        if not isinstance(question, str) or not question.strip():
            raise fail("question", "missing or empty")
        qtype = normal_qtype(item.get("question_type"))
        if qtype is None:
            got = item.get("question_type")
            raise fail("question_type", f"expected Yes-or-No, What-How or open_ended, got {got!r}")
        name = item.get("video_name")
        if not isinstance(name, str) or not name.strip():
            raise fail("video_name", "missing or empty")
        context = item.get("context")
        if not isinstance(context, str):
            raise fail("context", "missing" if context is None else f"not a string: {context!r}")
        rels: tuple[str, ...]
        if is_pair_context(context):
            try:
                rels = pair_names(name)
            except ValueError as exc:
                raise fail("video_name", str(exc)) from None
        else:
            rels = (name,)
        videos = tuple(image_path(root, rel, file=path, item=index, field="video_name") for rel in rels)

        opts: tuple[str, ...] = ()
        answer: str | None = None
        reference: str | None = None
        if qtype == "open-ended":
            gold = item.get("correct_ans")
            if isinstance(gold, list) and len(gold) == 1:
                gold = gold[0]
            if gold is not None and not isinstance(gold, str):
                raise fail("correct_ans", f"expected the reference answer's text, got {type(gold).__name__}")
            if isinstance(gold, str) and gold.strip() not in ("", "N/A"):
                reference = gold.strip()
        else:
            got, why = check_options(item.get("answers"))
            if why:
                raise fail("answers", why)
            assert got is not None
            opts = got
            answer = gold_answer(item, opts, fail)
        samples.append(
            Sample(
                id=str(index),
                images=videos,
                question=question,
                options=opts,
                answer=answer,
                reference=reference,
                source=name,
                extra={
                    "media": "video",
                    "qtype": qtype,
                    "context": normal_context(context),
                    "concerns": normal_concerns(item.get("concern")),
                    "lang": options.lang,
                },
            )
        )
    if samples and options.split == "dev" and all(s.answer is None and s.reference is None for s in samples):
        warn_hidden(path, samples, options)
    return samples
