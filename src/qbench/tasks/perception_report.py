"""A1's report: its official leaderboard layouts, HTML section, paired comparison, submission form and
published rows (one :class:`qbench.report.spec.TaskReport`, registered with the task as ``report``).

Everything the report layer shows about A1 is decided here; ``qbench.report`` only asks for it by task name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qbench.data.jsonfile import write_json_atomic
from qbench.errors import DataError
from qbench.protocol import OPTION_LETTERS
from qbench.report import svg
from qbench.report.html_blocks import by_headline, finite, legend_note, metric_lines, table
from qbench.report.leaderboard import Board, metric_board
from qbench.report.paired import paired_accuracy
from qbench.report.rows import ReportRow
from qbench.report.spec import ComparedMetric, HtmlContext, ReferenceQuery, Section, TaskReport
from qbench.report.submission import ordered_records, submission_name, submission_target
from qbench.store import Run
from qbench.tasks.perception import PerceptionOutput, read
from qbench.types import Record

__all__ = [
    "A1_PAIR_COLUMNS",
    "A1_SINGLE_COLUMNS",
    "REPORT",
    "a1_items",
    "compare_a1",
    "is_pair",
    "reference_rows",
    "write_a1_submission",
]

# -- the official layouts (protocol.md 1.4, 2.3) -----------------------------------------------------------
A1_SINGLE_COLUMNS = [
    ("accuracy/yes-no", "Yes-or-No"),
    ("accuracy/what", "What"),
    ("accuracy/how", "How"),
    ("accuracy/distortion", "Distortion"),
    ("accuracy/other", "Other"),
    ("accuracy/in-context-distortion", "In-context Distortion"),
    ("accuracy/in-context-other", "In-context Other"),
    ("accuracy", "Overall"),
]
A1_PAIR_COLUMNS = [
    ("accuracy/yes-no", "Yes-or-No"),
    ("accuracy/what", "What"),
    ("accuracy/how", "How"),
    ("accuracy/distortion", "Distortion"),
    ("accuracy/other", "Other"),
    ("accuracy/compare", "Compare"),
    ("accuracy/joint", "Joint"),
    ("accuracy", "Overall"),
]
# Not an official column: the share of answers no rule could read (counted wrong), shown after Overall.
UNREADABLE = ("invalid_rate", "Unreadable")
# Not an official column either: Overall by the 5-round judge (majority), beside the rule-based Overall.
JUDGED = ("judged/accuracy", "Overall (judged)")
#: Shares that get a Wilson interval when the run stored no bootstrap interval of their own, with the metric
#: that counts their items: accuracies are over the items with answers, Unreadable over all.
WILSON = {"accuracy": "n_scored", "judged/accuracy": "n_scored", UNREADABLE[0]: None}


def is_pair(row: ReportRow) -> bool:
    """A pair (Q-Bench2) row: said by the row, or recognisable by its pair-only columns."""
    return row.pair or "accuracy/compare" in row.metrics


def a1_columns(rows: Sequence[ReportRow], official: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The official columns, then the judged Overall when any run was judged, then Unreadable."""
    judged = any(r.metrics.get(JUDGED[0]) is not None for r in rows)
    return [*official, *([JUDGED] if judged else []), UNREADABLE]


def _kinds(rows: Sequence[ReportRow]) -> list[tuple[str, str, str, list[tuple[str, str]], list[ReportRow]]]:
    """(anchor, board title, section heading, official columns, rows) for single images, then pairs."""
    single = [r for r in rows if not is_pair(r)]
    pair = [r for r in rows if is_pair(r)]
    kinds = [
        (
            "a1-single",
            "A1 perception, single images (accuracy %)",
            "A1 perception — single images",
            A1_SINGLE_COLUMNS,
            single,
        ),
        (
            "a1-pair",
            "A1 perception, image pairs (accuracy %)",
            "A1 perception — image pairs",
            A1_PAIR_COLUMNS,
            pair,
        ),
    ]
    return [kind for kind in kinds if kind[-1]]


def _board(title: str, official: Sequence[tuple[str, str]], rows: Sequence[ReportRow]) -> Board:
    return metric_board(title, a1_columns(rows, official), rows, percent=True)


def a1_boards(rows: Sequence[ReportRow]) -> list[Board]:
    """Single images and pairs on separate boards, each in its official layout."""
    return [_board(title, official, own) for _, title, _, official, own in _kinds(rows)]


# -- HTML --------------------------------------------------------------------------------------------------
def a1_html(rows: Sequence[ReportRow], context: HtmlContext) -> list[Section]:
    return [
        Section(anchor, heading, _section(title, own, official))
        for anchor, title, heading, official, own in _kinds(rows)
    ]


def _section(title: str, rows: Sequence[ReportRow], official: Sequence[tuple[str, str]]) -> str:
    rows = by_headline(rows, "accuracy")
    board = _board(title, official, rows)
    columns = a1_columns(rows, official)
    out = [
        legend_note(
            rows,
            "Accuracy in %; the small line under Overall is its 95% interval (bootstrap, or Wilson when the "
            "run stored none).",
        ),
        table(board, metric_lines(board, rows, columns, percent=True, wilson=WILSON), css="a1"),
    ]
    columns = [c for c in columns if c not in (JUDGED, UNREADABLE)]  # the chart: the official columns
    own = [(label, r) for (label, _), r in zip(board.rows, rows) if not r.reference]
    series = [(label, [r.metrics.get(key) for key, _ in columns]) for label, r in own]
    series = [(label, values) for label, values in series if any(map(finite, values))]
    if series:  # runs on the test split have no accuracies to draw
        out.append(
            '<figure class="wide">'
            + svg.bar_groups(
                [name for _, name in columns], series, title="Accuracy by question type and concern"
            )
            + "<figcaption>Yes-or-No / What / How are question types; the other groups are concerns. "
            "A missing bar means no question of that kind was asked.</figcaption></figure>"
        )
    return "".join(out)


#: How A1 answers were read (the ``rule/<name>`` counts of an A1 run), in the order shown, with colours:
#: blues and greens were read, warm colours were not.
RULE_COLORS = {
    "leading-letter": "#0072B2",
    "explicit": "#56B4E9",
    "option-text": "#009E73",
    "argmin-loss": "#0072B2",
    "empty": "#E69F00",
    "unreadable": "#D55E00",
    "letter-not-an-option": "#CC79A7",
    "tied-loss": "#F0E442",
    "non-finite-loss": "#000000",
}


def _row_label(row: ReportRow) -> str:
    return f"{row.model} ({row.dataset}{', ' + row.split if row.split else ''})"


def rules_chart(rows: Sequence[ReportRow]) -> str:
    """How each A1 run's answers were read (leading letter, explicit statement, option text, unreadable...)."""
    counted = [
        (_row_label(r), {k[5:]: v for k, v in r.metrics.items() if k.startswith("rule/") and finite(v)})
        for r in rows
        if not r.reference
    ]
    counted = [(label, counts) for label, counts in counted if counts]
    if not counted:
        return ""
    present = {rule for _, counts in counted for rule in counts}
    rules = [r for r in RULE_COLORS if r in present] + sorted(present - set(RULE_COLORS))
    colors = [RULE_COLORS.get(rule, "#999999") for rule in rules]
    bars = [(label, [counts.get(rule, 0) for rule in rules]) for label, counts in counted]
    return (
        '<figure class="wide">'
        + svg.stacked_bars(bars, rules, title="How the answers were read (A1 extraction rule)", colors=colors)
        + "<figcaption>Free-text replies: the rules of protocol 8.4, tried in this order: a leading option "
        "letter, an explicit statement (“answer is C”), the option's own text; otherwise unreadable. "
        "Options mode (close-set): the option with the lowest loss (argmin-loss); a tie gives no answer."
        "</figcaption></figure>"
    )


# -- paired comparison -------------------------------------------------------------------------------------
def a1_correct(output: PerceptionOutput) -> bool | None:
    """Whether an A1 record was answered correctly; None when the record does not say (hidden answers)."""
    value: Any = output.correct
    if isinstance(value, (bool, int, np.integer)):
        return bool(value)
    return None


def a1_judged_correct(output: PerceptionOutput) -> bool | None:
    """The LLM judge's majority verdict; undecided counts as wrong (as the A1 task counts it), None if unjudged."""
    if output.verdict is None or output.answer is None:
        return None
    return bool(output.judged_correct())


def compare_a1(
    pairs: Sequence[tuple[Record, Record]], dataset: str, notes: list[str], resamples: int, seed: int
) -> list[ComparedMetric]:
    """Accuracy by the extraction rules; and by the LLM judge too when both runs were judged.

    The difference with a paired bootstrap interval, and a two-sided p-value from the sign-flip permutation
    test on per-item correctness differences. For 0/1 outcomes that test has an exact null distribution
    (only the items where exactly one model is right can flip: a fair coin per such item), so the p-value is
    computed exactly, which makes it the exact McNemar test.
    """
    typed = [(read(a), read(b)) for a, b in pairs]
    known = [(a1_correct(a), a1_correct(b)) for a, b in typed]
    scored = sum(x is not None and y is not None for x, y in known)
    if scored < len(known):
        notes.append(f"{len(known) - scored} shared items have no correctness (no answer key); left out")
    if not scored:
        notes.append("no shared item has a known answer (test split?): accuracy cannot be compared")
        return []
    metric, a_only, b_only = paired_accuracy(known, "accuracy", "Accuracy", resamples, seed)
    notes.append(f"{a_only} items only A answered correctly, {b_only} only B")
    out = [metric]
    judged = [(a1_judged_correct(a), a1_judged_correct(b)) for a, b in typed]
    if any(x is not None and y is not None for x, y in judged):
        metric, a_only, b_only = paired_accuracy(
            judged, "judged/accuracy", "Judged accuracy", resamples, seed
        )
        out.append(metric)
        notes.append(
            f"judged: {metric['n']} items judged in both runs ({a_only} only A right, {b_only} only B)"
        )
    return out


# -- submission (protocol.md 1.5) --------------------------------------------------------------------------
def a1_items(run: Run) -> list[dict[str, Any]]:
    """Each original item with the model's ``response``, in the data file's order.

    The form is the one the authors' own script writes (``model_vqa_qbench.py``): the original items, each
    with the model's raw ``response`` added, as a JSON list of ``{"type", "concern", "question", "img_path",
    "candidates", "response"}``, plus ``correct_ans`` where the run knows the answer (a dev-split run, for a
    self-check). A run of the close-set options mode (protocol 1.7) has no free-text reply; its chosen option
    is written as the reply ``"B. Low"``, which is how a reply naming that option reads to any grader.
    """
    items = []
    for record in ordered_records(run):
        if not record.ok:
            raise DataError(f"has no reply ({record.error})", file=run.path, item=record.id)
        fields = read(record)
        options = list(fields.options)
        if fields.response is not None:
            response = fields.response
        else:
            letter = fields.letter
            response = f"{letter}. {options[OPTION_LETTERS.index(letter)]}" if letter else ""
        item: dict[str, Any] = {
            "type": fields.qtype,
            "concern": fields.concern,
            "question": fields.question,
            "img_path": fields.img_path if fields.img_path is not None else "",
            "candidates": options,
        }
        answer = fields.answer
        if answer:
            item["correct_ans"] = options[OPTION_LETTERS.index(answer)]
        item["response"] = response
        items.append(item)
    return items


def write_a1_submission(run: Run, output: str | Path | None = None) -> Path:
    """Write an A1 run's submission file; ``output`` is a file, a folder, or None for the run folder."""
    if not run.complete:
        raise DataError(f"run is not complete (status: {run.status}); finish it first", file=run.path)
    items = a1_items(run)
    target = submission_target(run, output, submission_name(run))
    write_json_atomic(target, items)
    return target


# -- published rows (protocol.md 1.4, 5) -------------------------------------------------------------------
SOURCES = {
    "a1": "Q-Bench+ paper Table II = official leaderboard CSVs qbench_a1_single_{dev,test}.csv (protocol.md 5)",
    "a1-pair": "Q-Bench+ paper Table III = official leaderboard CSVs qbench_a1_pair_{dev,test}.csv (protocol.md 5)",
    "a1-random": "Q-Bench leaderboard README at commit 42259df, 'random guess' (protocol.md 1.4)",
    "a1-ppl": "Q-Bench leaderboard README at commit 42259df, A1 via losses of answers (protocol.md 5)",
}
# Column keys (protocol 8.10) in the order of the official tables (1.4, 2.3).
A1_SINGLE_KEYS = tuple(key for key, _ in A1_SINGLE_COLUMNS)
A1_PAIR_KEYS = tuple(key for key, _ in A1_PAIR_COLUMNS)
# Sizes of the published sets (protocol 1.1, 2.1).
A1_SIZES = {("single", "dev"): 1495, ("single", "test"): 1495, ("pair", "dev"): 1000, ("pair", "test"): 999}

# --- A1, single images (percent, as printed) ------------------------------------------------------------
# Yes-or-No | What | How | Distortion | Other | In-context Distortion | In-context Other | Overall
A1_SINGLE_FULL: dict[str, dict[str, tuple[float, ...]]] = {
    "dev": {
        "LLaVA-v1.5-7B": (66.36, 58.19, 50.51, 49.42, 65.74, 54.61, 70.61, 58.66),
        "LLaVA-v1.5-13B": (65.27, 64.38, 56.59, 56.03, 67.13, 61.18, 67.35, 62.14),
        "mPLUG-Owl2": (72.18, 57.96, 56.19, 56.68, 69.21, 53.29, 72.65, 61.61),
        "InternLM-XComposer-VL": (69.45, 65.27, 60.85, 61.67, 70.14, 56.91, 75.10, 65.35),
        "Qwen-VL": (63.09, 58.19, 56.39, 50.58, 62.73, 57.89, 73.88, 59.40),
    },
    "test": {
        "LLaVA-v1.5-7B": (64.60, 59.22, 55.76, 47.98, 67.30, 58.90, 73.76, 60.07),
        "LLaVA-v1.5-13B": (64.96, 64.86, 54.12, 53.55, 66.59, 58.90, 71.48, 61.40),
        "mPLUG-Owl2": (72.26, 55.53, 58.64, 52.59, 71.36, 58.90, 73.00, 62.68),
        "InternLM-XComposer-VL": (68.43, 62.04, 61.93, 56.81, 70.41, 57.53, 77.19, 64.35),
        "Qwen-VL": (65.33, 60.74, 58.44, 54.13, 66.35, 58.22, 73.00, 61.67),
    },
}
# Overall accuracy only (percent).
A1_SINGLE_OVERALL: dict[str, dict[str, float]] = {
    "dev": {
        "SPHINX": 68.56,
        "Emu2-Chat": 65.28,
        "BakLLava": 57.48,
        "InfiMM": 53.37,
        "Fuyu-8B": 45.05,
        "IDEFICS-Instruct": 48.70,
        "Shikra": 54.65,
        "Otter-v1": 46.35,
        "InstructBLIP-T5-XL": 61.47,
        "InstructBLIP-Vicuna-7B": 56.72,
        "VisualGLM-6B": 53.78,
        "mPLUG-Owl": 55.38,
        "LLaMA-Adapter-V2": 59.46,
        "LLaVA-v1": 54.18,
        "MiniGPT-4": 49.03,
        "Qwen-VL-Plus": 66.04,
        "Qwen-VL-Max": 73.63,
        "Gemini-Pro": 68.16,
        "GPT-4V": 74.51,
    },
    "test": {
        "SPHINX": 67.69,
        "Emu2-Chat": 64.32,
        "BakLLava": 61.02,
        "InfiMM": 56.05,
        "Fuyu-8B": 45.75,
        "IDEFICS-Instruct": 51.51,
        "Shikra": 55.32,
        "Otter-v1": 47.22,
        "InstructBLIP-T5-XL": 61.94,
        "InstructBLIP-Vicuna-7B": 55.85,
        "VisualGLM-6B": 53.31,
        "mPLUG-Owl": 58.93,
        "LLaMA-Adapter-V2": 58.06,
        "LLaVA-v1": 54.72,
        "MiniGPT-4": 51.77,
        "Qwen-VL-Plus": 68.93,
        "Qwen-VL-Max": 73.90,
        "Gemini-Pro": 69.46,
        "GPT-4V": 74.10,
        "Human (junior)": 74.31,
        "Human (senior)": 81.74,
    },
}
# The "random guess" rows (fractions, as printed; protocol 1.4), all eight columns.
A1_RANDOM_SINGLE: dict[str, tuple[float, ...]] = {
    "dev": (0.5000, 0.2786, 0.3331, 0.3789, 0.3848, 0.3828, 0.3582, 0.3780),
    "test": (0.5000, 0.2848, 0.3330, 0.3724, 0.3850, 0.3913, 0.3710, 0.3794),
}

# --- A1, pairs (percent) -------------------------------------------------------------------------------
# Yes-or-No | What | How | Distortion | Other | Compare | Joint | Overall
A1_PAIR_FULL: dict[str, dict[str, tuple[float, ...]]] = {
    "dev": {"LLaVA-v1.5-7B": (60.46, 42.85, 41.53, 47.88, 51.89, 46.55, 59.57, 49.32)},
    "test": {
        "LLaVA-v1.5-7B": (60.72, 42.37, 50.17, 49.15, 59.86, 52.97, 49.77, 52.25),
        "LLaVA-v1.5-13B": (57.34, 47.45, 49.13, 49.01, 59.51, 52.06, 52.00, 52.05),
    },
}
A1_PAIR_OVERALL: dict[str, dict[str, float]] = {
    "dev": {
        "LLaVA-v1.5-13B": 49.85,
        "mPLUG-Owl2": 49.85,
        "mPLUG-Owl2 (Q-Instruct)": 50.54,
        "BakLLava": 50.94,
        "Emu2-Chat": 50.05,
        "Fuyu-8B": 49.15,
        "InfiMM": 42.95,
        "GPT-4V": 76.52,
        "random guess": 39.60,
    },
    "test": {
        "mPLUG-Owl2": 48.94,
        "mPLUG-Owl2 (Q-Instruct)": 53.15,
        "BakLLava": 52.75,
        "GPT-4V": 78.07,
        "random guess": 39.82,
    },
}

# --- A1 close-set (perplexity) pipeline, overall only (percent; protocol 1.7, 5) --------------------------
A1_PPL_OVERALL: dict[str, dict[str, float]] = {
    "dev": {
        "IDEFICS": 53.18,
        "InstructBLIP-T5": 49.36,
        "LLaVA-v1.5": 48.63,
        "mPLUG-Owl": 53.78,
        "Shikra": 55.25,
    },
    "test": {
        "IDEFICS": 54.58,
        "InstructBLIP-T5": 51.84,
        "LLaVA-v1.5": 53.38,
        "mPLUG-Owl": 56.19,
        "Shikra": 54.78,
    },
}


def _row(model: str, dataset: str, split: str, n: int, metrics: dict[str, Any], source: str) -> ReportRow:
    return ReportRow(
        task="a1",
        model=model,
        dataset=dataset,
        split=split,
        n=n,
        metrics=metrics,
        status="reference",
        reference=True,
        source=source,
        pair=dataset == "qbench2",
    )


def _fraction(percent: float) -> float:
    return round(percent / 100, 6)


def reference_rows(query: ReferenceQuery) -> list[ReportRow]:
    """Published A1 rows: accuracies as fractions; single rows on ``llvisionqa``, pairs on ``qbench2`` (the
    names ``qbench import a1`` gives by default); ``query.ppl`` adds the close-set pipeline's rows."""
    if query.split not in (None, "dev", "test"):
        raise ValueError(f"unknown split {query.split!r}")
    pairs = query.pairs
    rows = []
    for split in [query.split] if query.split else ["dev", "test"]:
        if pairs in (None, False):
            n = A1_SIZES[("single", split)]
            for model, values in A1_SINGLE_FULL[split].items():
                metrics = {k: _fraction(v) for k, v in zip(A1_SINGLE_KEYS, values)}
                rows.append(_row(model, "llvisionqa", split, n, metrics, SOURCES["a1"]))
            for model, overall in A1_SINGLE_OVERALL[split].items():
                rows.append(
                    _row(model, "llvisionqa", split, n, {"accuracy": _fraction(overall)}, SOURCES["a1"])
                )
            random_guess = dict(zip(A1_SINGLE_KEYS, A1_RANDOM_SINGLE[split]))
            rows.append(_row("random guess", "llvisionqa", split, n, random_guess, SOURCES["a1-random"]))
            if query.ppl:
                for model, overall in A1_PPL_OVERALL[split].items():
                    metrics = {"accuracy": _fraction(overall)}
                    rows.append(_row(f"{model} (PPL)", "llvisionqa", split, n, metrics, SOURCES["a1-ppl"]))
        if pairs in (None, True):
            n = A1_SIZES[("pair", split)]
            for model, values in A1_PAIR_FULL[split].items():
                metrics = {k: _fraction(v) for k, v in zip(A1_PAIR_KEYS, values)}
                rows.append(_row(model, "qbench2", split, n, metrics, SOURCES["a1-pair"]))
            for model, overall in A1_PAIR_OVERALL[split].items():
                rows.append(
                    _row(model, "qbench2", split, n, {"accuracy": _fraction(overall)}, SOURCES["a1-pair"])
                )
    return rows


def references_for(rows: Sequence[ReportRow]) -> list[ReportRow]:
    """The published rows of the runs' splits, and of their kind (single images or pairs) when only one."""
    kinds = {is_pair(r) for r in rows}
    pairs = kinds.pop() if len(kinds) == 1 else None
    out: list[ReportRow] = []
    for split in sorted({r.split or "" for r in rows}):
        out += reference_rows(ReferenceQuery(split=split if split in ("dev", "test") else None, pairs=pairs))
    return out


REPORT = TaskReport(
    boards=a1_boards,
    headline="accuracy",
    html=a1_html,
    compare=compare_a1,
    submission=write_a1_submission,
    references=reference_rows,
    references_for=references_for,
    unreadable=(
        ("invalid_rate", "unreadable answers"),
        ("judged/invalid_round_rate", "unparsable judge rounds"),
    ),
    unreadable_note="A1: replies no extraction rule could read (counted wrong, never guessed); with a "
    "judge, its replies without a verdict.",
    unreadable_figures=rules_chart,
    method="A1 accuracy over all items (micro average)",
)
