"""The seven IQA databases of Q-Bench A3 (protocol.md 4.2), known by name.

The name is how a MOS file or an official output file is recognised (``koniq.json`` -> KonIQ-10k) and how
reports order and label columns. ``halves`` is the CGIQA-6K rule (protocol.md 8.8): the official number is
the mean of the correlations on its game half and its movie half.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Database:
    name: str
    display: str
    size: int
    score_range: tuple[float, float]
    kind: str  # in-the-wild, generated, artificial
    image_root: str  # the folder the authors' MOS file is relative to
    halves: tuple[str, ...] = ()  # name prefixes whose correlations are averaged (CGIQA-6K)


DATABASES: dict[str, Database] = {
    db.name: db
    for db in (
        Database("koniq", "KONiQ-10k", 10073, (1.1, 4.31), "in-the-wild", "1024x768/"),
        Database("spaq", "SPAQ", 11125, (2, 96), "in-the-wild", ""),
        Database("flive", "LIVE-FB", 39810, (0, 100), "in-the-wild", "FLIVE_Database/database/"),
        Database("livec", "LIVE-itw", 1169, (3.4, 92.4), "in-the-wild", "Images/"),
        Database("cgi", "CGIQA-6K", 6000, (0.36, 4.54), "generated", "database/", halves=("game_", "movie_")),
        Database("agi", "AGIQA-3K", 2982, (0, 4.49), "generated", "database/"),
        Database("kadid", "KADID-10K", 10125, (1, 4.93), "artificial", "images/"),
    )
}

ALIASES = {
    "konIQ": "koniq",
    "koniq10k": "koniq",
    "koniq-10k": "koniq",
    "live-fb": "flive",
    "livefb": "flive",
    "live_fb": "flive",
    "live-itw": "livec",
    "livechallenge": "livec",
    "live_challenge": "livec",
    "cgiqa": "cgi",
    "cgiqa-6k": "cgi",
    "cgiqa6k": "cgi",
    "agiqa": "agi",
    "agiqa-3k": "agi",
    "agiqa3k": "agi",
    "kadid10k": "kadid",
    "kadid-10k": "kadid",
}


def find_database(name: str) -> Database | None:
    """The database a file stem or user name refers to, if any (case- and separator-insensitive)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return DATABASES.get(key)


def display_name(name: str) -> str:
    db = find_database(name)
    return db.display if db else name
