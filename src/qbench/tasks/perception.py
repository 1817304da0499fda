"""A1 perception: multiple-choice questions on single images and pairs (protocol.md 1, 2 and 8.1, 8.4, 8.5).

Two modes, chosen by what the model can do (``-T mode=generate|options`` to force one):

* ``generate`` (official): the model answers the official prompt (image(s), question, "Choose between one of
  the options as follows:", ``A. ...`` lines) in free text; the option letter is read from the reply with
  the deterministic rules of :mod:`qbench.tasks.answers` (8.4). Unreadable replies are wrong and counted in
  ``invalid_rate``, never guessed. With ``--judge`` the replies are also graded by an LLM for 5 rounds each
  (1.6, 8.5) and both accuracies are reported.
* ``options`` (the official close-set / perplexity pipeline, 1.7): no options are shown; the model returns the
  loss of each candidate answer appended to the prompt, and the lowest loss is the answer.

``max_new_tokens`` defaults to 1024, the authors' own A1 script (protocol 1.5, ``model_vqa_qbench.py``): with
greedy decoding the reply is then exactly what their script would record, so a long-winded model whose letter
comes late ("... so the answer is C") is not cut short into an unreadable reply. Replies normally end far
earlier (at the end-of-turn token), so the limit only bounds run-away generations.

Metrics (8.10): ``accuracy`` and the columns of the official tables, by question type (``accuracy/yes-no``,
``/what``, ``/how``) and by concern: for single images ``distortion``, ``other``, ``in-context-distortion``,
``in-context-other``; for pairs ``distortion`` = concerns {0, 1}, ``other`` = {2, 3}, ``compare`` = {0, 2},
``joint`` = {1, 3} (2.3, 8.7). A column with no item is NaN, so every run of a kind has the same keys.
``invalid_rate`` is over all items. On the test split the answers are hidden: accuracy is undefined there
(the authors score submissions), so only ``n`` and ``invalid_rate`` are reported, with ``n_scored = 0``.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from qbench.checks import Tally, answers_tally, letter_line, letter_unreadable, verdicts_tally
from qbench.data.dataset import Dataset
from qbench.errors import UsageError
from qbench.judging import (
    VERDICT_KEYS,
    JudgeIdentity,
    JudgeSpec,
    Verdict,
    stored_verdicts,
    verdict_fields,
    verdicts_json,
)
from qbench.metrics import bootstrap_interval
from qbench.tasks import answers, prompts
from qbench.tasks import judge as judging_rules
from qbench.tasks.base import task_options
from qbench.types import Record, Request, Sample

log = logging.getLogger("qbench")

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "MODES",
    "OPTIONS",
    "PerceptionOutput",
    "PerceptionTask",
    "a1_metrics",
    "choose_by_loss",
]

MODES = ("generate", "options")
NEEDS: dict[str | None, tuple[str, ...]] = {
    None: ("generate", "score_options"),
    "generate": ("generate",),
    "options": ("score_options",),
}
DEFAULT_MAX_NEW_TOKENS = 1024
OPTIONS: dict[str, type] = {"mode": str, "max_new_tokens": int, "judge_rounds": int, "bootstrap": int}

# Options mode (1.7): the prediction is the option with the lowest loss.
RULE_ARGMIN = "argmin-loss"
RULE_TIED = "tied-loss"  # two options share the lowest loss: no answer, never a coin flip (8.4 e)
RULE_BAD_LOSS = "non-finite-loss"
OPTIONS_RULES_VERSION = "a1-argmin-v1"

TYPE_COLUMNS = {0: "yes-no", 1: "what", 2: "how"}
SINGLE_CONCERN_COLUMNS: dict[str, tuple[int, ...]] = {
    "distortion": (0,),
    "other": (1,),
    "in-context-distortion": (2,),
    "in-context-other": (3,),
}
PAIR_CONCERN_COLUMNS: dict[str, tuple[int, ...]] = {
    "distortion": (0, 1),
    "other": (2, 3),
    "compare": (0, 2),
    "joint": (1, 3),
}


def choose_by_loss(losses: Sequence[float], n_options: int) -> tuple[str | None, str]:
    """(letter, rule) for the options mode: the lowest loss wins; ties and NaN give no answer."""
    if len(losses) != n_options:
        raise ValueError(f"expected {n_options} losses, got {len(losses)}")
    values = [math.nan if v is None else float(v) for v in losses]  # a stored NaN reads back as None
    if not all(math.isfinite(v) for v in values):
        return None, RULE_BAD_LOSS
    best = min(values)
    if values.count(best) > 1:
        return None, RULE_TIED
    return prompts.OPTION_LETTERS[values.index(best)], RULE_ARGMIN


@dataclass(frozen=True)
class PerceptionOutput:
    """One A1 record's output: the item as asked, the raw result, the letter read from it, and judge verdicts.

    This class is the only place that knows the A1 record keys. ``response`` is set in the generate mode,
    ``losses`` in the options mode. ``verdict`` is the latest judge's (protocol 8.5), ``previous_verdicts``
    those of earlier judges. ``extra`` keeps keys this version does not know (``index``, ...) as they were.
    """

    question: str | None = None
    options: list[str] = field(default_factory=list)
    answer: str | None = None
    qtype: int | None = None
    concern: int | None = None
    pair: bool = False
    img_path: str | None = None
    response: str | None = None
    losses: list[float] | None = None
    letter: str | None = None
    rule: str | None = None
    correct: bool | None = None
    verdict: Verdict | None = None
    previous_verdicts: tuple[Verdict, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.extra,
            "question": self.question,
            "options": list(self.options),
            "answer": self.answer,
            "qtype": self.qtype,
            "concern": self.concern,
            "pair": self.pair,
            "img_path": self.img_path,
        }
        if self.losses is not None:
            out["losses"] = list(self.losses)
        if self.response is not None:
            out["response"] = self.response
        out.update(letter=self.letter, rule=self.rule, correct=self.correct)
        out.update(verdicts_json(self.verdict, self.previous_verdicts))
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> PerceptionOutput:
        """Reads today's records and those written before one verdict shape (the A1 judge under ``judge``)."""
        verdict, previous = stored_verdicts(obj, JUDGE_QUESTION)
        values = {key: obj[key] for key in _FIELDS.intersection(obj)}
        extra = {key: value for key, value in obj.items() if key not in _KNOWN_KEYS}
        values.update(options=list(values.get("options") or []), pair=bool(values.get("pair")))
        return cls(**values, verdict=verdict, previous_verdicts=previous, extra=extra)

    @property
    def judgeable(self) -> bool:
        """Only a free-text reply to an item with a known answer can be judged."""
        return self.response is not None and self.answer is not None and bool(self.options)

    def verdict_of(self, judge: JudgeIdentity | None) -> Verdict | None:
        """The verdict of ``judge`` (the latest or an earlier one); the latest when ``judge`` is None."""
        if judge is None:
            return self.verdict
        for verdict in (self.verdict, *reversed(self.previous_verdicts)):
            if verdict is not None and verdict.judge == judge:
                return verdict
        return None

    def judged_correct(self, judge: JudgeIdentity | None = None) -> bool | None:
        """The judge's majority (protocol 8.5): True, False, or None when undecided or not judged."""
        verdict = self.verdict_of(judge)
        return None if verdict is None else judging_rules.a1_majority(verdict.scores.get(JUDGE_QUESTION, []))


JUDGE_QUESTION = "result"  # the one question the A1 judge answers per record
_FIELDS = frozenset(PerceptionOutput.__dataclass_fields__) - {"extra", "verdict", "previous_verdicts"}
_KNOWN_KEYS = _FIELDS | frozenset(VERDICT_KEYS)


def read(record: Record) -> PerceptionOutput:
    """The typed output of an A1 record."""
    return PerceptionOutput.from_json(record.output)


# -- what the health check and ``qbench show`` need (qbench.checks) -------------------------------------------
def health_counts(records: Sequence[Record], metrics: Mapping[str, Any]) -> list[Tally]:
    """Replies no rule could read, and judge rounds without a verdict (``--judge``)."""
    outputs = [read(r) for r in records]
    unread = [(f.rule, f.response) for f in outputs if f.letter is None]
    return [answers_tally(unread, len(outputs)), verdicts_tally(f.verdict for f in outputs)]


def describe_record(record: Record) -> str | None:
    """The letter, its rule, right or wrong, the reply and the judge's votes."""
    return letter_line(read(record))


def unreadable_record(record: Record) -> bool:
    """A reply no rule could read, or a judge round without a verdict."""
    return letter_unreadable(read(record))


class PerceptionTask:
    """The A1 task (``qbench run a1``); constructed with the ``-T key=value`` options."""

    name = "a1"

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        opts = task_options(options or {}, OPTIONS, "a1")
        mode = opts.get("mode")
        if mode is not None and mode not in MODES:
            raise UsageError(f"task option 'mode={mode}' for a1 must be one of: {', '.join(MODES)}")
        # Unforced, the runner picks the first capability the model has: generate (official), else options.
        self.needs: tuple[str, ...] = NEEDS[mode]
        self.mode: str = mode or "generate"
        self.max_new_tokens: int = opts.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
        self.judge_rounds: int = opts.get("judge_rounds", judging_rules.A1_JUDGE_ROUNDS)
        self.bootstrap: int = opts.get("bootstrap", 1000)
        if self.max_new_tokens < 1:
            raise UsageError("task option 'max_new_tokens' must be at least 1")
        if self.judge_rounds < 1:
            raise UsageError("task option 'judge_rounds' must be at least 1")
        if self.bootstrap < 0:
            raise UsageError("task option 'bootstrap' must not be negative")
        self.lang = "en"
        self.pair: bool | None = None
        self._judge: JudgeIdentity | None = None

    # -- set-up and identity ---------------------------------------------------------------------------
    def setup(self, capability: str, dataset: Dataset) -> None:
        if dataset.kind != "mcq":
            raise UsageError(
                f"task a1 needs multiple-choice questions; '{dataset.name}' is {dataset.format} data",
                hint="use an LLVisionQA json, a Q-Bench2 jsonl or a Q-Bench-HF folder",
            )
        self.mode = "generate" if capability == "generate" else "options"
        langs = {str(s.extra.get("lang", "en")) for s in dataset.samples}
        self.lang = langs.pop() if len(langs) == 1 else "en"
        self.pair = any(len(s.images) == 2 for s in dataset.samples)
        if self._judge is not None and self.mode != "generate":
            raise UsageError("--judge grades free-text replies; the options mode has none")

    def manifest(self) -> dict[str, Any]:
        """What defines the numbers: prompt, extraction rules, mode, language and judge (all in the fingerprint)."""
        info: dict[str, Any] = {
            "task": "a1",
            "mode": self.mode,
            "capability": "generate" if self.mode == "generate" else "score_options",
            "prompt_version": prompts.A1_PROMPT_VERSION,
            "rules_version": answers.RULES_VERSION if self.mode == "generate" else OPTIONS_RULES_VERSION,
            "lang": self.lang,
            "pair": self.pair,
            "metric_options": {"bootstrap": self.bootstrap},  # a number in metrics.json: part of identity
        }
        if self.mode == "generate":
            info["max_new_tokens"] = self.max_new_tokens
        if self._judge is not None:
            info["judge"] = self._judge.keyed()  # the form in A1 fingerprints: kept as it was
            info["judge_version"] = judging_rules.A1_JUDGE_VERSION
        return info

    # -- requests and outputs --------------------------------------------------------------------------
    def request(self, sample: Sample, images: tuple[Any, ...], image_keys: tuple[str, ...]) -> Request:
        question = sample.question or ""
        lang = str(sample.extra.get("lang", self.lang))
        if self.mode == "options":
            return Request(
                content=prompts.a1_options_content(question, len(images), lang),
                images=images,
                image_keys=image_keys,
                options=tuple(sample.options),
            )
        return Request(
            content=prompts.a1_content(question, sample.options, len(images), lang),
            images=images,
            image_keys=image_keys,
            max_new_tokens=self.max_new_tokens,
        )

    def outcome(self, sample: Sample, result: Any) -> PerceptionOutput:
        """The item as asked, the raw result, the letter read from it and whether it is right."""
        response: str | None = None
        losses: list[float] | None = None
        if self.mode == "options":
            if isinstance(result, (str, bytes)) or not isinstance(result, Sequence):
                raise TypeError(f"score_options must return one loss per option, got {result!r}")
            losses = [float(v) for v in result]
            letter, rule = choose_by_loss(losses, len(sample.options))
        else:
            if not isinstance(result, str):
                raise TypeError(f"generate must return text, got {type(result).__name__}")
            response = result
            found = answers.extract_choice(result, sample.options)
            letter, rule = found.letter, found.rule
        return PerceptionOutput(
            question=sample.question,
            options=list(sample.options),
            answer=sample.answer,
            qtype=sample.qtype,
            concern=sample.concern,
            pair=len(sample.images) == 2,
            img_path=sample.source,
            response=response,
            losses=losses,
            letter=letter,
            rule=rule,
            correct=None if sample.answer is None else letter == sample.answer,
        )

    def output(self, sample: Sample, result: Any) -> dict[str, Any]:
        """The record fields (:meth:`outcome` as JSON)."""
        return self.outcome(sample, result).to_json()

    read = staticmethod(read)
    health_counts = staticmethod(health_counts)
    describe_record = staticmethod(describe_record)
    unreadable_record = staticmethod(unreadable_record)

    # -- re-scoring and judging ------------------------------------------------------------------------
    def rescore(self, records: Sequence[Record]) -> list[Record]:
        """Letters and correctness re-derived from the stored replies (or losses) with today's rules."""
        if records and "losses" in records[0].output:
            self.mode = "options"
        out = []
        for record in records:
            old = read(record)
            if old.response is not None:
                found = answers.extract_choice(old.response, old.options)
                letter, rule = found.letter, found.rule
            elif old.losses is not None:
                letter, rule = choose_by_loss(old.losses, len(old.options))
            else:
                out.append(record)
                continue
            correct = None if old.answer is None else letter == old.answer
            new = replace(old, letter=letter, rule=rule, correct=correct)
            out.append(Record(record.id, new.to_json(), record.error))
        return out

    def set_judge(self, judge: Any) -> None:
        """Remember the judge's identity: it is part of the run's fingerprint and keys the stored verdicts."""
        from qbench.judging import identify

        if self.mode == "options":
            raise UsageError("--judge grades free-text replies; the options mode has none")
        self.use_judge(identify(judge, judging_rules.A1_JUDGE_VERSION, self.judge_rounds))

    def restore_judge(self, task_info: Mapping[str, Any]) -> None:
        """Re-scoring without a new judge keeps reporting the verdicts of the run's own judge."""
        judge = task_info.get("judge")
        if isinstance(judge, Mapping) and (judge.get("key") or judge.get("fingerprint")):
            self._judge = JudgeIdentity.from_json(judge)

    # the judging.Judgeable protocol: pure; qbench.judging.judge_records asks the judge
    def judge_spec(self) -> JudgeSpec:
        return JudgeSpec(
            "a1", judging_rules.A1_JUDGE_VERSION, self.judge_rounds, judging_rules.parse_a1_verdict
        )

    def use_judge(self, identity: JudgeIdentity) -> None:
        self._judge = identity

    def judge_questions(self, record: Record) -> dict[str, list[dict[str, str]]] | None:
        out = read(record)
        if not out.judgeable:
            return None
        assert out.answer is not None
        correct_text = out.options[prompts.OPTION_LETTERS.index(out.answer)]
        messages = judging_rules.a1_judge_messages(
            str(out.question), out.options, correct_text, str(out.response or "")
        )
        return {JUDGE_QUESTION: messages}

    def current_verdict(self, record: Record) -> Verdict | None:
        return read(record).verdict

    def with_verdict(self, record: Record, verdict: Verdict) -> Record:
        return Record(record.id, _with_verdict(read(record), verdict).to_json(), record.error)

    # -- metrics ---------------------------------------------------------------------------------------
    def metrics(self, dataset: str, records: Sequence[Record]) -> dict[str, Any]:
        return a1_metrics(records, judge=self._judge, resamples=self.bootstrap)


def _with_verdict(output: PerceptionOutput, verdict: Verdict) -> PerceptionOutput:
    """``output`` with ``verdict`` as its latest; another judge's earlier verdict is kept, not lost."""
    latest, previous = verdict_fields(output.verdict, output.previous_verdicts, verdict)
    return replace(output, verdict=latest, previous_verdicts=previous)


def _accuracies(
    correct: np.ndarray, qtypes: np.ndarray, concerns: np.ndarray, pair: bool, prefix: str
) -> dict[str, float]:
    """Overall accuracy and the official columns; an empty column is NaN."""

    def mean(mask: np.ndarray) -> float:
        return float(correct[mask].mean()) if mask.any() else math.nan

    out = {f"{prefix}accuracy": mean(np.ones(len(correct), dtype=bool))}
    for code, name in TYPE_COLUMNS.items():
        out[f"{prefix}accuracy/{name}"] = mean(qtypes == code)
    for name, codes in (PAIR_CONCERN_COLUMNS if pair else SINGLE_CONCERN_COLUMNS).items():
        out[f"{prefix}accuracy/{name}"] = mean(np.isin(concerns, codes))
    return out


def _interval(correct: np.ndarray, resamples: int) -> tuple[float, float] | None:
    if not resamples or len(correct) < 3:
        return None
    return bootstrap_interval(lambda idx: float(correct[idx].mean()), len(correct), resamples=resamples)


def a1_metrics(
    records: Sequence[Record], *, judge: JudgeIdentity | None = None, resamples: int = 1000
) -> dict[str, Any]:
    """The A1 report keys (protocol 8.10) from records; also used by ``qbench import a1``.

    Accuracies are over the items with a known answer (``n_scored``); ``invalid_rate`` is over all items.
    With judge verdicts (of ``judge``, or of the one judge the records carry) the same columns are
    reported under ``judged/`` with the share of undecided items and unparsable rounds.
    """
    rows = [read(r) for r in records if r.ok]
    n = len(rows)
    pair = any(f.pair for f in rows)
    metrics: dict[str, Any] = {"n": n}
    if not n:
        return metrics
    metrics["invalid_rate"] = sum(f.letter is None for f in rows) / n
    for rule, count in sorted(Counter(str(f.rule) for f in rows).items()):
        metrics[f"rule/{rule}"] = count
    scored = [f for f in rows if f.answer is not None]
    metrics["n_scored"] = len(scored)
    if not scored:
        return metrics  # the test split: accuracy is undefined without answers
    qtypes = np.array([-1 if f.qtype is None else f.qtype for f in scored])
    concerns = np.array([-1 if f.concern is None else f.concern for f in scored])
    correct = np.array([f.letter == f.answer for f in scored], dtype=bool)
    metrics.update(_accuracies(correct, qtypes, concerns, pair, ""))
    ci = _interval(correct, resamples)
    if ci is not None:
        metrics["accuracy_ci"] = ci
    metrics.update(_judged_metrics(scored, correct, qtypes, concerns, pair, judge, resamples))
    return metrics


def _judged_metrics(
    scored: Sequence[PerceptionOutput],
    extracted: np.ndarray,
    qtypes: np.ndarray,
    concerns: np.ndarray,
    pair: bool,
    judge: JudgeIdentity | None,
    resamples: int,
) -> dict[str, Any]:
    if judge is None:
        judges = {f.verdict.judge for f in scored if f.verdict is not None}
        if len(judges) != 1:
            return {}
        judge = judges.pop()
    mine = [f.verdict_of(judge) for f in scored]
    if not any(mine):
        return {}
    # Undecided items (no majority either way, or not judged yet) count as wrong, as unreadable replies do.
    majority = [
        None if v is None else judging_rules.a1_majority(v.scores.get(JUDGE_QUESTION, [])) for v in mine
    ]
    correct = np.array([bool(m) for m in majority], dtype=bool)
    out: dict[str, Any] = _accuracies(correct, qtypes, concerns, pair, "judged/")
    out["judged/n"] = sum(v is not None for v in mine)
    out["judged/undecided_rate"] = sum(m is None for m in majority) / len(mine)
    rounds = [x for v in mine if v for x in v.scores.get(JUDGE_QUESTION, [])]
    out["judged/invalid_round_rate"] = sum(x is None for x in rounds) / len(rounds) if rounds else math.nan
    out["judged/agreement"] = float(np.mean(correct == extracted))
    ci = _interval(correct, resamples)
    if ci is not None:
        out["judged/accuracy_ci"] = ci
    pending = sum(v is None for v in mine)
    if pending:
        log.warning("a1 judge: %d item(s) are not judged yet; they count as wrong until they are", pending)
    return out
