"""Constants of the Q-Bench protocol that several layers share (protocol.md 1.3, 1.5, 4.1, 4.3, 4.4, 8.2, 9.1).

This module is neutral on purpose: data loaders, model adapters, tasks and reports all need the option
letters, the ``"N/A"`` padding, the halves rule or the A3 level words, and none of them should import another
layer to get them (a loader that imports a task, or an adapter that knows the A3 task, ties layers together
and makes import cycles).  It imports nothing from qbench, so anything may import it.

Prompts as a whole (versioned, fingerprinted) stay in :mod:`qbench.tasks.prompts`; what is here is the part of
them that other layers must agree on.
"""

from __future__ import annotations

__all__ = [
    "A3_NEGATIVE",
    "A3_POSITIVE",
    "A3_PREFIX",
    "A3_WORDS",
    "KNOWN_LEVEL_WORDS",
    "LOWEST_LISTED",
    "NEUTRAL_WORDS",
    "OPTION_LETTERS",
    "PADDING_OPTION",
    "QALIGN_LEVELS",
    "QALIGN_WEIGHTS",
    "SYNONYMS_NEGATIVE",
    "SYNONYMS_POSITIVE",
    "half_of",
    "is_padding",
]

#: Letters of the options in display order (protocol 1.5): at most four options per Q-Bench item.
OPTION_LETTERS = "ABCD"

#: The literal the HF release puts into unused ``option{i}`` slots (protocol 1.3); never a real answer.
PADDING_OPTION = "N/A"

#: The assistant turn that A3 continues; the level word is the token after it (protocol 4.1, 8.2).
A3_PREFIX = "The quality of the image is"
#: The official A3 pair (protocol 4.1): positive word, negative word.
A3_POSITIVE = "good"
A3_NEGATIVE = "poor"
A3_WORDS = (A3_POSITIVE, A3_NEGATIVE)

#: The synonym ensemble of Q-Bench+ Eq. 2 (protocol 4.4): positive and negative sets.
SYNONYMS_POSITIVE = ("good", "high", "fine")
SYNONYMS_NEGATIVE = ("poor", "low", "bad")
#: Q-Boost's neutral words (protocol 4.4; images use ``average`` only).
NEUTRAL_WORDS = ("average", "medium", "acceptable")

#: Q-Align's five levels, best first, and their weights (protocol 4.4 and 9.1): score = softmax · weights.
QALIGN_LEVELS = ("excellent", "good", "fair", "poor", "bad")
QALIGN_WEIGHTS = (5, 4, 3, 2, 1)

#: Every level word an adapter may be asked for: the official pair, its synonyms, the Q-Align levels and
#: the neutral words, each once, in a fixed order (an adapter's info, and so a run's fingerprint, lists them).
KNOWN_LEVEL_WORDS = (
    "good",
    "poor",
    "high",
    "low",
    "fine",
    "bad",
    "excellent",
    "fair",
    "average",
    "medium",
    "acceptable",
)


#: The key under which a server adapter's level-word result carries the lowest log-prob the server listed, when a
#: word is missing from the list (it survives the response cache; ``-T missing=floor`` bounds the word with it).
LOWEST_LISTED = "<lowest listed>"


def is_padding(option: str) -> bool:
    """An ``"N/A"`` slot of the HF format (protocol 1.3), or an empty string, is not a real option."""
    text = option.strip()
    return not text or text.upper() == PADDING_OPTION


def half_of(name: str, prefixes: tuple[str, ...]) -> str | None:
    """The half an image belongs to by its file name's prefix (CGIQA-6K "as in paper", protocol 4.3).

    Only the base name counts (``/`` or ``\\`` separated folders are ignored); ``None`` when no prefix matches.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return next((p for p in prefixes if base.startswith(p)), None)
