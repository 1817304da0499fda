"""Deterministic answer extraction for A1 (protocol.md 8.4).

The official A1 judge is a 5-round GPT grader (protocol 1.6); this module is the offline default that
turns a free-text MLLM reply into one of the item's option letters without any model.  The rules are
deliberately conservative: when a reply does not clearly name exactly one option, it is *unreadable*
(counted wrong and reported as ``invalid_rate``), never a random guess (8.4 e).

The clauses are tried in order, and the first one that decides wins:

a. strip white space and markdown emphasis; nothing left -> ``empty``;
b. the reply *starts* with an option letter -> ``leading-letter``;
c. an explicit statement (``answer is C``, ``option D`` ...) names exactly one letter -> ``explicit``;
d. exactly one option's text occurs as a whole word/phrase -> ``option-text``;
e. anything else -> ``unreadable``.

A letter that is not one of the item's options (a ``D`` for three options, or the ``D`` of an item whose
fourth option is the ``"N/A"`` padding of the HF format, protocol 1.3) makes the reply unreadable with rule
``letter-not-an-option``.

The rule set is versioned by :data:`RULES_VERSION`, which every run manifest records (protocol 8); change
the version whenever a change here can change a score.
"""

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qbench.protocol import PADDING_OPTION
from qbench.protocol import is_padding as _is_padding

__all__ = [
    "PADDING_OPTION",
    "RULES",
    "RULES_VERSION",
    "RULE_EMPTY",
    "RULE_EXPLICIT",
    "RULE_LEADING_LETTER",
    "RULE_NOT_AN_OPTION",
    "RULE_OPTION_TEXT",
    "RULE_UNREADABLE",
    "Extraction",
    "extract_choice",
    "letters",
    "valid_options",
]

RULES_VERSION = "a1-extract-v1"


RULE_LEADING_LETTER = "leading-letter"
RULE_EXPLICIT = "explicit"
RULE_OPTION_TEXT = "option-text"
RULE_EMPTY = "empty"
RULE_UNREADABLE = "unreadable"
RULE_NOT_AN_OPTION = "letter-not-an-option"

#: Every value :attr:`Extraction.rule` can take.
RULES = (
    RULE_LEADING_LETTER,
    RULE_EXPLICIT,
    RULE_OPTION_TEXT,
    RULE_EMPTY,
    RULE_UNREADABLE,
    RULE_NOT_AN_OPTION,
)


@dataclass(frozen=True)
class Extraction:
    """The outcome of :func:`extract_choice`.

    ``letter`` is the chosen option letter (``"A"``..``"D"``) or ``None`` when the reply is unreadable;
    ``rule`` names the clause of protocol 8.4 that decided, so that reports can break ``invalid_rate`` down
    and a reviewer can see *why* a reply was read the way it was.
    """

    letter: str | None
    rule: str

    @property
    def readable(self) -> bool:
        """True when a letter was extracted (unreadable replies count as wrong, protocol 8.4 e)."""
        return self.letter is not None


def letters(n: int) -> tuple[str, ...]:
    """The option letters ``("A", "B", ...)`` for ``n`` options, in display order (protocol 1.5)."""
    if not 0 <= n <= len(string.ascii_uppercase):
        raise ValueError(f"cannot label {n} options with single letters")
    return tuple(string.ascii_uppercase[:n])


def valid_options(options: Sequence[str]) -> dict[str, str]:
    """Map each real option's letter to its text, dropping ``"N/A"`` padding (protocol 1.3, 8.4 d).

    Letters follow the display position, so padding never shifts the letters of the options after it.
    """
    return {
        letter: option
        for letter, option in zip(letters(len(options)), options, strict=True)
        if not _is_padding(option)
    }


# --- clause a: clean-up ---------------------------------------------------------------------------------

# Markdown emphasis around answers (``**B**``, ``*B*``, ``__B__``, ```B```).  Asterisks and backticks go
# wherever they are; underscores only at the edge of a word, so that ``snake_case`` keeps its underscore.
_EMPHASIS = re.compile(
    r"""
      [*`]+             # bold/italic asterisks and code backticks, anywhere
    | (?<!\w) _+        # underscores opening a word: "__B"
    | _+ (?!\w)         # underscores closing a word: "B__"
    """,
    re.VERBOSE,
)


def _clean(response: str) -> str:
    """Clause a: drop markdown emphasis and surrounding white space."""
    return _EMPHASIS.sub("", response).strip()


# --- clause b: the reply starts with a letter -------------------------------------------------------------

# "(B)" / "[B]" at the very start; lower case allowed only in this bracketed form.  Anything may follow.
_BRACKETED_START = re.compile(r"\((?P<paren>[A-Za-z])\)|\[(?P<square>[A-Za-z])\]")

# A capital followed by ".", ")" or ":" ("B.", "B)", "B:"); anything may follow.  The look-ahead keeps
# dotted abbreviations ("A.I.-generated", "U.S.") from reading as a letter answer.
_PUNCTUATED_START = re.compile(r"(?P<letter>[A-Z])[.):](?![A-Za-z]\.)")

# A capital alone on the first line ("B\n\nBecause ..."): treated as "the letter alone".
_LETTER_LINE_START = re.compile(r"(?P<letter>[A-Z])[ \t]*\n")

# A capital, white space, then other words ("A blurry photo", "A or B", "B Low").
_LETTER_THEN_WORDS = re.compile(r"(?P<letter>[A-Z])\s+(?P<rest>.+)", re.DOTALL)


def _normalise_text(text: str) -> str:
    """Case-fold, collapse white space and drop trailing punctuation, to compare option texts."""
    return " ".join(text.split()).rstrip(string.punctuation + " ").casefold()


def _leading_letter(text: str, options: Mapping[str, str]) -> str | None:
    """Clause b: the letter the reply starts with, or None when it does not start with a letter answer.

    The returned letter may still be outside ``options``; the caller turns that into
    ``letter-not-an-option`` (8.4: "The letter must be one of the item's options").
    """
    if len(text) == 1 and text.isascii() and text.isalpha():
        return text.upper()  # "B" or "b": a lower-case letter counts as the whole response
    for pattern in (_BRACKETED_START, _PUNCTUATED_START, _LETTER_LINE_START):
        match = pattern.match(text)
        if match:
            return next(group for group in match.groups() if group).upper()
    match = _LETTER_THEN_WORDS.match(text)
    if match:
        # "A blurry photo", "A or B": the article / a hedge, not an answer -- unless the words are the
        # option's own text ("B Low" where option B is "Low").
        letter = match["letter"]
        if letter in options and _normalise_text(match["rest"]) == _normalise_text(options[letter]):
            return letter
    return None


# --- clause c: explicit statements --------------------------------------------------------------------

# Explicit statements anywhere in the reply.  Keywords are case-insensitive; the letter must be a
# standalone capital or sit in brackets (then either case), so "the answer is a blurry photo" is no answer.
_EXPLICIT = re.compile(
    r"""
    (?i: \banswer\s+is | \banswer\s*: | \boption\b | \bchoice\b )   # keyword: "answer is", "option" ...
    (?i: \s+is )?                     # "option is B", "choice is B"
    \s* :? \s*                        # "answer is: B", "option: B"
    (?:
        \( (?P<paren>[A-Za-z]) \)     # "(C)" or "(c)"
      | \[ (?P<square>[A-Za-z]) \]    # "[C]" or "[c]"
      | (?P<bare>[A-Z]) (?![\w-])     # "C", "C.", "C," -- but not "Clear" or "A-grade"
    )
    """,
    re.VERBOSE,
)


def _explicit_letters(text: str) -> set[str]:
    """Clause c: the distinct letters named by all explicit statements in the reply."""
    return {next(group for group in match.groups() if group).upper() for match in _EXPLICIT.finditer(text)}


# --- clause d: option texts ---------------------------------------------------------------------------

# Replaces a matched option span.  It is neither a word character nor white space, so removing a longer
# option can neither create a word boundary inside a word nor glue two words into a new phrase.
_SPAN_REMOVED = "\x00"


def _phrase_pattern(option: str) -> re.Pattern[str]:
    """Whole-word, case-folded pattern for an option's text; inner white space may vary."""
    body = r"\s+".join(re.escape(word) for word in option.casefold().split())
    # Look-arounds instead of \b, so options that start or end with punctuation still match.
    return re.compile(rf"(?<!\w){body}(?!\w)")


def _options_in_text(text: str, options: Mapping[str, str]) -> set[str]:
    """Clause d: the letters of the options whose text occurs in the reply as a whole word/phrase.

    Longer options are matched first and their spans removed, so a shorter option contained in a longer
    one is not counted for an occurrence of the longer one ("very blurry" is not also "blurry").
    """
    remaining = text.casefold()
    found: set[str] = set()
    by_length = sorted(options.items(), key=lambda item: (-len(_normalise_text(item[1])), item[0]))
    for letter, option in by_length:
        remaining, count = _phrase_pattern(option).subn(_SPAN_REMOVED, remaining)
        if count:
            found.add(letter)
    return found


# --- the rule chain -----------------------------------------------------------------------------------


def _decide(letter: str, rule: str, options: Mapping[str, str]) -> Extraction:
    """Accept ``letter`` under ``rule`` only if it names one of the item's real options (8.4 b, e)."""
    if letter in options:
        return Extraction(letter, rule)
    return Extraction(None, RULE_NOT_AN_OPTION)


def extract_choice(response: str, options: Sequence[str]) -> Extraction:
    """Read the option letter an MLLM chose for an A1 item (protocol 8.4, clauses a-e).

    ``options`` are the item's options in display order (``candidates``, or ``option0..3`` of the HF
    format including any ``"N/A"`` padding).  Returns the letter and the clause that decided; a reply that
    does not clearly name exactly one real option is unreadable -- never guessed.
    """
    real = valid_options(options)
    text = _clean(response)
    if not text:
        return Extraction(None, RULE_EMPTY)

    leading = _leading_letter(text, real)
    if leading is not None:
        return _decide(leading, RULE_LEADING_LETTER, real)

    explicit = _explicit_letters(text)
    if len(explicit) == 1:
        return _decide(explicit.pop(), RULE_EXPLICIT, real)
    if explicit:
        # Conflicting statements ("option A ... the answer is B"): reading option texts now would be a
        # guess between contradicting signals.
        return Extraction(None, RULE_UNREADABLE)

    matched = _options_in_text(text, real)
    if len(matched) == 1:
        return Extraction(matched.pop(), RULE_OPTION_TEXT)
    return Extraction(None, RULE_UNREADABLE)
