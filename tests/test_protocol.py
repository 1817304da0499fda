"""qbench.protocol: the shared protocol constants, and the layers that use them agree with it."""

import ast
from pathlib import Path

from qbench import protocol
from qbench.protocol import KNOWN_LEVEL_WORDS, half_of, is_padding

SRC = Path(__file__).resolve().parents[1] / "src" / "qbench"


def test_half_of_uses_the_base_name_only():
    prefixes = ("game", "movie")
    assert half_of("game_001.png", prefixes) == "game"
    assert half_of("sub/dir/movie_7.jpg", prefixes) == "movie"
    assert half_of("sub\\dir\\movie_7.jpg", prefixes) == "movie"
    # a folder named like a half does not decide
    assert half_of("game/movie_1.png", prefixes) == "movie"
    assert half_of("movies/other.png", prefixes) is None
    assert half_of("x.png", ()) is None


def test_padding_is_na_or_blank_in_any_case():
    assert is_padding("N/A") and is_padding(" n/a ") and is_padding("") and is_padding("   ")
    assert not is_padding("NA") and not is_padding("N/A.") and not is_padding("Low")


def test_level_words_cover_every_protocol_set_once():
    assert len(set(KNOWN_LEVEL_WORDS)) == len(KNOWN_LEVEL_WORDS)
    for words in (
        protocol.A3_WORDS,
        protocol.SYNONYMS_POSITIVE,
        protocol.SYNONYMS_NEGATIVE,
        protocol.QALIGN_LEVELS,
        protocol.NEUTRAL_WORDS,
    ):
        assert set(words) <= set(KNOWN_LEVEL_WORDS)
    assert protocol.A3_WORDS == ("good", "poor")
    assert dict(zip(protocol.QALIGN_LEVELS, protocol.QALIGN_WEIGHTS, strict=True)) == {
        "excellent": 5,
        "good": 4,
        "fair": 3,
        "poor": 2,
        "bad": 1,
    }


def test_old_import_paths_are_the_same_objects():
    from qbench.tasks import answers, assessment, prompts

    assert assessment.half_of is protocol.half_of
    assert answers.PADDING_OPTION == protocol.PADDING_OPTION
    assert prompts.A3_PREFIX == protocol.A3_PREFIX and prompts.OPTION_LETTERS == protocol.OPTION_LETTERS


def test_protocol_imports_nothing_from_qbench():
    tree = ast.parse((SRC / "protocol.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("qbench"), node.module
        elif isinstance(node, ast.Import):
            assert not any(alias.name.startswith("qbench") for alias in node.names)
