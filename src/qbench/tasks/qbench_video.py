"""Q-Bench-Video: questions on videos and video pairs (``qbench run qbench-video``; protocol.md 9.7).

The request is the official ``GPT_test.py`` message, in its order: a prefix text, ``\\n``, a frame label, the
frames, then the question text. One video: 16 frames at ``int(N/16)*i`` after ``The video frames:``; a pair
(``<a>_cat_<b>``): 8 + 8 frames after ``The first video frames:`` / ``The second video frames:``
(:mod:`qbench.data.video`; ``-T sampling=vlmevalkit`` takes VLMEvalKit's frames instead, for comparison only).
Every frame carries the official API bytes (shrunk to fit 512 px, JPEG, ``detail: low``) that the
OpenAI-compatible adapter sends; local models get the decoded pixels.

Multiple choice (``Yes-or-No``, ``What-How``): ``{question}\\n`` + ``A. {option}`` lines, then the official
format instruction; the letter is read by the A1 rules (unreadable = wrong, never guessed).

Open-ended: ``{question}\\n`` only; with ``--judge`` each reply is judged ``judge_rounds`` (5) times with the
official system and user prompts through the common judging module (:mod:`qbench.judging`). A round's score is
the text after the last ``": "`` when it is exactly ``0``, ``1`` or ``2`` (the official parse); the item's
score is the mean of ``s/2`` over its valid rounds (the README snippet's stated rule; its counters are not
initialised, so it cannot run as printed). An item with no valid round scores 0 and is counted in
``judged/no_valid_round``.

Metrics: ``accuracy`` (Overall: the mean item score over every scored item, multiple choice 0/1 and judged
open-ended in [0, 1]), by question type (``accuracy/yes-no``, ``accuracy/what-how``, ``accuracy/open-ended``),
by concern (``accuracy/technical``, ``/aesthetic``, ``/temporal``, ``/aigc``) and by context
(``accuracy/context/global``, ``/referring``, ``/compare``, ``/joint``); ``invalid_rate`` over the multiple-choice
items; ``n_open_unjudged`` counts open-ended items without a judgement (Overall then covers the rest).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from qbench.checks import Tally, answers_tally, letter_line, letter_unreadable, verdicts_tally
from qbench.data.dataset import Dataset
from qbench.data.video import SAMPLINGS, api_frame, read_frames
from qbench.errors import UsageError
from qbench.judging import JudgeIdentity, JudgeSpec, Verdict, stored_verdicts, verdict_fields, verdicts_json
from qbench.tasks import answers
from qbench.tasks.base import task_options
from qbench.tasks.prompts import option_lines
from qbench.types import ImageSlot, Part, Record, Request, Sample, Text

log = logging.getLogger("qbench")

__all__ = [
    "JUDGE_SYSTEM",
    "JUDGE_USER",
    "QBenchVideoTask",
    "columns",
    "judge_messages",
    "parse_score",
]

PROMPT_VERSION = "qbench-video-official-v1"
JUDGE_VERSION = "qbench-video-judge-v1"
FRAMES = 16
DEFAULT_MAX_NEW_TOKENS = 1000  # GPT_test.py: max_tokens=1000
JUDGE_ROUNDS = 5

PREFIX_SINGLE = (
    "You will receive 16 distinct frames that have been uniformly sampled from a video sequence, arranged in the "
    "same temporal order as they appear in the video. Please analyze these frames and answer the questions based "
    "on your observations."
)
PREFIX_PAIR = (
    "You will receive 16 distinct frames in total. The first 8 frames and 9-16 frames are uniformly sampled from "
    "the first and the second video sequence, arranged in the same temporal order as they appear in the videos. "
    "Please analyze these frames and answer the questions based on your observations."
)
LABEL_SINGLE = "The video frames:"
LABELS_PAIR = ("The first video frames:", "The second video frames:")
MCQ_INSTRUCTION = (
    "Please answer the question in the following format: the uppercase letter of the correct answer option "
    "itself +'.'. Please do not add any other answers beyond this."
)

#: The official judge (Q-Bench-Video README, judge_open).
JUDGE_SYSTEM = (
    "You are a helpful assistant that grades answers related to visual video quality. There are a lot of special "
    "terms or keywords related to video processing and photography. You will pay attention to the context of "
    "`quality evaluation' when grading."
)
JUDGE_USER = (
    "Given the question [{question}], evaluate whether the response [{answer}] completely matches the correct "
    "answer [{correct}]. \n"
    "First, check the response and please rate score 0 if the response is not a valid answer.\n"
    "Please rate score 2 if the response completely or almost completely matches the correct answer on "
    "completeness, accuracy, and relevance. \n"
    "Please rate score 1 if the response partly matches the correct answer on completeness, accuracy, and "
    "relevance.\n"
    "Please rate score 0 if the response doesn't match the correct answer on completeness, accuracy, and "
    "relevance at all.\n"
    "Please only provide the result in the following format: Score:"
)

OPTIONS: dict[str, type] = {"sampling": str, "max_new_tokens": int, "judge_rounds": int}
TYPE_COLUMNS = (("Yes-or-No", "yes-no"), ("What-How", "what-how"), ("Open-ended", "open-ended"))
CONCERN_COLUMNS = (
    ("Technical", "technical"),
    ("Aesthetic", "aesthetic"),
    ("Temporal", "temporal"),
    ("AIGC", "aigc"),
)
CONTEXT_COLUMNS = (
    ("Global", "global"),
    ("Referring", "referring"),
    ("Compare", "compare"),
    ("Joint", "joint"),
)

#: Published rows of the README table (Q-Future/Q-Bench-Video @65ce782), as fractions; None = "/".
REFERENCE_SOURCE = "Q-Bench-Video README @65ce782 (table 'A Quick Look of the Q-Bench-Video Outcomes')"
_README = {
    "Random guess (w/o open-ended)": (50.00, 25.00, None, 37.10, 37.31, 37.25, 37.22, 37.79),
    "Human": (86.57, 81.00, 77.11, 79.22, 80.23, 82.72, 86.21, 81.56),
    "LLaVA-Next (Mistral-7B)": (62.83, 45.14, 33.69, 46.38, 57.86, 47.84, 48.46, 47.52),
    "LLaVA-v1.5 (Vicuna-v1.5-13B)": (52.98, 46.44, 37.01, 45.77, 58.12, 45.30, 46.48, 45.64),
    "mPLUG-Owl2 (LLaMA2-7B)": (59.19, 39.07, 31.19, 42.07, 52.38, 41.71, 39.37, 43.43),
    "mPLUG-Owl3 (Qwen2-7B)": (60.48, 56.39, 39.48, 52.68, 58.31, 52.05, 43.49, 52.39),
    "LLaVA-OneVision (Qwen2-7B)": (61.34, 53.88, 39.15, 49.35, 64.15, 50.68, 44.30, 51.70),
    "InternVL-Chat (Vicuna-7B)": (66.02, 52.13, 33.93, 48.42, 52.73, 50.59, 53.12, 51.11),
    "VILA1.5 (LLaMA3-8B)": (61.95, 46.00, 39.60, 47.85, 57.85, 45.65, 42.57, 49.41),
    "PLLaVA (Mistral-7B)": (65.63, 52.33, 32.23, 49.69, 61.32, 50.96, 53.64, 50.39),
    "LLaVA-Next-Video (Mistral-7B)": (61.34, 45.95, 38.10, 49.03, 60.94, 46.97, 49.40, 48.69),
    "ST-LLM (Vicuna-v1.1-7B)": (44.63, 28.50, 32.78, 34.99, 46.11, 34.28, 34.02, 35.42),
    "Video-LLaVA (Vicuna-v1.5-7B)": (64.67, 40.79, 29.11, 43.25, 54.04, 42.38, 42.76, 43.49),
    "VideoChat2 (Mistral-7B)": (56.09, 29.98, 34.99, 39.26, 50.02, 38.25, 35.88, 40.56),
    "Gemini 1.5 Flash": (65.48, 56.79, 47.51, 54.11, 66.58, 53.51, 50.22, 56.78),
    "Gemini 1.5 Pro": (65.42, 62.35, 47.57, 56.80, 69.61, 53.38, 53.26, 58.63),
    "GPT-4o mini": (62.95, 50.93, 42.10, 49.38, 60.90, 48.43, 41.71, 52.20),
    "GPT-4o": (67.48, 58.79, 49.25, 56.01, 58.57, 65.39, 52.22, 58.70),
    "GPT-4 Turbo": (66.93, 58.33, 40.15, 54.23, 66.23, 54.00, 52.04, 56.36),
}
_README_KEYS = (*(f"accuracy/{k}" for _, k in TYPE_COLUMNS + CONCERN_COLUMNS), "accuracy")
REFERENCE_ROWS: dict[str, dict[str, float | None]] = {
    name: {key: None if v is None else v / 100 for key, v in zip(_README_KEYS, values)}
    for name, values in _README.items()
}


def judge_messages(question: str, answer: str, correct: str) -> list[dict[str, str]]:
    """The official judge conversation for one open-ended reply."""
    user = JUDGE_USER.format(question=question, answer=answer, correct=correct)
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def parse_score(reply: str) -> int | None:
    """The official parse: the text after the last ``": "`` must be exactly ``0``, ``1`` or ``2``."""
    tail = reply.split(": ")[-1]
    return int(tail) if tail in ("0", "1", "2") else None


def item_score(scores: Sequence[int | None]) -> float | None:
    """Mean of ``s/2`` over the valid rounds; None when no round is valid."""
    valid = [s for s in scores if s is not None]
    return sum(s / 2 for s in valid) / len(valid) if valid else None


JUDGE_QUESTION = "result"  # the one question the judge answers per open-ended record


@dataclass(frozen=True)
class VideoOutput:
    """One Q-Bench-Video record's output: the item as asked, the reply, the letter read from it (multiple
    choice) or the reference and the judges' verdicts (open-ended).

    The only place that knows this task's record keys; ``extra`` keeps keys it does not know (``index``).
    Records written before one verdict shape (a ``judge`` field) are read through ``stored_verdicts``.
    """

    question: str | None = None
    qtype: str | None = None
    concerns: list[str] = field(default_factory=list)
    context: str | None = None
    video_name: str | None = None
    response: str | None = None
    reference: str | None = None
    options: list[str] | None = None
    answer: str | None = None
    letter: str | None = None
    rule: str | None = None
    correct: bool | None = None
    verdict: Verdict | None = None
    previous_verdicts: tuple[Verdict, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def open_ended(self) -> bool:
        return self.qtype == "open-ended"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.extra,
            "question": self.question,
            "qtype": self.qtype,
            "concerns": list(self.concerns),
            "context": self.context,
            "video_name": self.video_name,
            "response": self.response,
        }
        if self.open_ended:
            out["reference"] = self.reference
        else:
            out.update(
                options=list(self.options or []),
                answer=self.answer,
                letter=self.letter,
                rule=self.rule,
                correct=self.correct,
            )
        out.update(verdicts_json(self.verdict, self.previous_verdicts))
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> VideoOutput:
        data = dict(obj)
        verdict, previous = stored_verdicts(data, JUDGE_QUESTION)
        if (
            verdict is not None
            and verdict.replies.get(JUDGE_QUESTION)
            and not verdict.scores.get(JUDGE_QUESTION)
        ):
            verdict = verdict.reparsed(
                parse_score
            )  # the first form kept its scores under "scores", not "verdicts"
        for key in ("verdict", "previous_verdicts", "judge"):
            data.pop(key, None)
        known = {f for f in cls.__dataclass_fields__ if f not in {"extra", "verdict", "previous_verdicts"}}
        values = {k: data.pop(k) for k in list(data) if k in known}
        values["concerns"] = list(values.get("concerns") or [])
        return cls(**values, verdict=verdict, previous_verdicts=previous, extra=data)

    def reread(self) -> VideoOutput:
        """The letter of a multiple-choice reply read again with today's rules."""
        if self.open_ended or self.response is None:
            return self
        found = answers.extract_choice(self.response, self.options or [])
        correct = None if self.answer is None else found.letter == self.answer
        return replace(self, letter=found.letter, rule=found.rule, correct=correct)

    def verdict_of(self, judge: JudgeIdentity | None) -> Verdict | None:
        """The verdict of ``judge`` (the latest or an earlier one); the latest when ``judge`` is None."""
        if judge is None:
            return self.verdict
        return next(
            (
                v
                for v in (self.verdict, *reversed(self.previous_verdicts))
                if v is not None and v.judge == judge
            ),
            None,
        )


def read(record: Record) -> VideoOutput:
    """The typed output of a Q-Bench-Video record."""
    return VideoOutput.from_json(record.output)


# -- what the health check and ``qbench show`` need (qbench.checks) -------------------------------------------
def health_counts(records: Sequence[Record], metrics: Mapping[str, Any]) -> list[Tally]:
    """Letters no rule could read (multiple-choice items), judge rounds without a verdict (open-ended ones)."""
    outputs = [read(r) for r in records]
    choice = [f for f in outputs if not f.open_ended]
    unread = [(f.rule, f.response) for f in choice if f.letter is None]
    return [answers_tally(unread, len(choice)), verdicts_tally(f.verdict for f in outputs)]


def describe_record(record: Record) -> str | None:
    """A multiple-choice item's letter, rule, right or wrong and reply; an open-ended one as JSON."""
    return letter_line(read(record))


def unreadable_record(record: Record) -> bool:
    """A reply no rule could read, or a judge round without a verdict."""
    return letter_unreadable(read(record))


class QBenchVideoTask:
    """``qbench run qbench-video``: official frames and prompts, A1 letters, judged open-ended answers."""

    name = "qbench-video"
    needs: tuple[str, ...] = ("generate",)

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        opts = task_options(options or {}, OPTIONS, self.name)
        self.sampling = opts.get("sampling", "official")
        if self.sampling not in SAMPLINGS:
            raise UsageError(f"task option 'sampling={self.sampling}' must be one of: {', '.join(SAMPLINGS)}")
        self.max_new_tokens: int = opts.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
        self.judge_rounds: int = opts.get("judge_rounds", JUDGE_ROUNDS)
        if self.max_new_tokens < 1 or self.judge_rounds < 1:
            raise UsageError("task options 'max_new_tokens' and 'judge_rounds' must be at least 1")
        self._judge: JudgeIdentity | None = None

    # -- set-up and identity ---------------------------------------------------------------------------------
    def setup(self, capability: str, dataset: Dataset) -> None:
        if dataset.kind != "video":
            raise UsageError(
                f"task qbench-video needs Q-Bench-Video items; '{dataset.name}' is {dataset.format} data",
                hint="use Q_Bench_Video_dev.json (or qbench-video-dev after qbench data get qbench-video)",
            )

    def images_per_request(self, samples: Sequence[Sample]) -> int:
        return FRAMES if samples else 0

    def manifest(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "task": self.name,
            "mode": "generate",
            "capability": "generate",
            "prompt_version": PROMPT_VERSION,
            "rules_version": answers.RULES_VERSION,
            "sampling": self.sampling,
            "frames": "16 (one video) / 8+8 (pair)",
            "api_frames": "shrunk to fit 512x512, JPEG (Pillow defaults), detail low",
            "max_new_tokens": self.max_new_tokens,
        }
        if self._judge is not None:
            info["judge"] = self._judge.keyed()
            info["judge_version"] = JUDGE_VERSION
        return info

    # -- requests and outputs ----------------------------------------------------------------------------------
    def request(self, sample: Sample, images: tuple[Any, ...], image_keys: tuple[str, ...]) -> Request:
        """``images`` are the video files (pipeline.decode passes videos through); the frames are read here."""
        videos = tuple(images)
        k = FRAMES // len(videos)
        labels = (LABEL_SINGLE,) if len(videos) == 1 else LABELS_PAIR
        content: list[Part] = [Text(PREFIX_PAIR if len(videos) > 1 else PREFIX_SINGLE), Text("\n")]
        frames: list[Any] = []
        keys: list[str] = []
        for video, key, label in zip(videos, image_keys, labels):
            decoded, indices = read_frames(video, k, self.sampling, item=sample.id)
            content.append(Text(label))
            for frame, index in zip(decoded, indices):
                content.append(ImageSlot(len(frames)))
                frames.append(api_frame(frame))
                keys.append(f"{key}#{self.sampling}:{index}")
        question = f"{sample.question}\n"
        if sample.extra.get("qtype") == "open-ended":
            content.append(Text(question))
        else:
            content += [Text(question + option_lines(sample.options)), Text(MCQ_INSTRUCTION)]
        return Request(
            content=tuple(content),
            images=tuple(frames),
            image_keys=tuple(keys),
            max_new_tokens=self.max_new_tokens,
        )

    read = staticmethod(read)
    health_counts = staticmethod(health_counts)
    describe_record = staticmethod(describe_record)
    unreadable_record = staticmethod(unreadable_record)

    def outcome(self, sample: Sample, result: Any) -> VideoOutput:
        if not isinstance(result, str):
            raise TypeError(f"generate must return text, got {type(result).__name__}")
        asked = VideoOutput(
            question=sample.question,
            qtype=sample.extra.get("qtype"),
            concerns=list(sample.extra.get("concerns", ())),
            context=sample.extra.get("context"),
            video_name=sample.source,
            response=result,
        )
        if asked.open_ended:
            return replace(asked, reference=sample.reference)
        return replace(asked, options=list(sample.options), answer=sample.answer).reread()

    def output(self, sample: Sample, result: Any) -> dict[str, Any]:
        return self.outcome(sample, result).to_json()

    def rescore(self, records: Sequence[Record]) -> list[Record]:
        """Multiple-choice letters re-read from the stored replies (no model); verdicts kept as they are."""
        return [Record(r.id, read(r).reread().to_json(), r.error) if r.ok else r for r in records]

    # -- judging (pure: qbench.judging.judge_records asks the judge) ---------------------------------------------
    def set_judge(self, judge: Any) -> None:
        from qbench.judging import identify

        self.use_judge(identify(judge, JUDGE_VERSION, self.judge_rounds))

    def restore_judge(self, task_info: Mapping[str, Any]) -> None:
        judge = task_info.get("judge")
        if isinstance(judge, Mapping) and judge.get("key"):
            self._judge = JudgeIdentity.from_json(judge)

    def judge_spec(self) -> JudgeSpec:
        return JudgeSpec(self.name, JUDGE_VERSION, self.judge_rounds, parse_score)

    def use_judge(self, identity: JudgeIdentity) -> None:
        self._judge = identity

    def judge_questions(self, record: Record) -> dict[str, list[dict[str, str]]] | None:
        """Open-ended replies with a reference are judged (multiple choice is read by the A1 rules)."""
        out = read(record)
        if not (out.open_ended and out.reference and out.response is not None):
            return None
        return {JUDGE_QUESTION: judge_messages(str(out.question), out.response, out.reference)}

    def current_verdict(self, record: Record) -> Verdict | None:
        return read(record).verdict

    def with_verdict(self, record: Record, verdict: Verdict) -> Record:
        out = read(record)
        latest, earlier = verdict_fields(out.verdict, out.previous_verdicts, verdict)
        return Record(
            record.id, replace(out, verdict=latest, previous_verdicts=earlier).to_json(), record.error
        )

    # -- metrics -------------------------------------------------------------------------------------------------
    def metrics(self, dataset: str, records: Sequence[Record]) -> dict[str, Any]:
        return video_metrics([read(r) for r in records if r.ok], self._judge)


def video_metrics(rows: Sequence[VideoOutput], judge: JudgeIdentity | None = None) -> dict[str, Any]:
    """The report keys (module docstring) from the records' outputs."""
    metrics: dict[str, Any] = {"n": len(rows)}
    if not rows:
        return metrics
    mcq = [f for f in rows if not f.open_ended]
    open_items = [f for f in rows if f.open_ended]
    metrics["n_mcq"], metrics["n_open"] = len(mcq), len(open_items)
    if mcq:
        metrics["invalid_rate"] = sum(f.letter is None for f in mcq) / len(mcq)
    scored: list[tuple[VideoOutput, float]] = [
        (f, 1.0 if f.letter == f.answer else 0.0) for f in mcq if f.answer is not None
    ]
    unjudged = no_valid = 0
    rounds: list[int | None] = []
    for f in open_items:
        if not f.reference:
            continue  # hidden reference (test split): the authors score it
        verdict = f.verdict_of(judge)
        if verdict is None:
            unjudged += 1
            continue
        scores = verdict.scores.get(JUDGE_QUESTION, [])
        rounds += scores
        score = item_score(scores)
        if score is None:
            no_valid += 1
        scored.append((f, 0.0 if score is None else score))
    metrics["n_scored"] = len(scored)
    if open_items:
        metrics["n_open_unjudged"] = unjudged
        metrics["judged/no_valid_round"] = no_valid
        if rounds:
            metrics["judged/invalid_round_rate"] = sum(s is None for s in rounds) / len(rounds)
    if unjudged:
        log.warning(
            "qbench-video: %d open-ended item(s) are not judged (run with --judge MODEL); Overall covers the rest",
            unjudged,
        )
    if not scored:
        return metrics
    metrics["accuracy"] = sum(s for _, s in scored) / len(scored)
    groups: dict[str, list[float]] = {}
    for f, s in scored:
        names = [str(f.qtype), *f.concerns] + ([f"context/{f.context}"] if f.context else [])
        for name in names:
            groups.setdefault(name, []).append(s)
    for name, values in sorted(groups.items()):
        metrics[f"accuracy/{name}"] = sum(values) / len(values)
        metrics[f"n/{name}"] = len(values)
    return metrics


def columns(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The README's columns (types, concerns, Overall), then the contexts a run has."""
    out = [(f"accuracy/{key}", label) for label, key in TYPE_COLUMNS + CONCERN_COLUMNS]
    out.append(("accuracy", "Overall"))
    out += [
        (f"accuracy/context/{key}", label)
        for label, key in CONTEXT_COLUMNS
        if f"accuracy/context/{key}" in metrics
    ]
    return out
