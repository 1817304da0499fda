"""One parser for every ``key=value`` setting: ``-M`` (model), ``-J`` (judge), ``-T`` (task) and the config layers.

Why one: a value typed anywhere (``yes``, ``0``, ``2.5``, ``a=1,b=2``) must mean the same thing wherever it
is typed, and every unknown key gets the same one line with a did-you-mean. Adapters and tasks declare a
schema (option name -> ``str``, ``int``, ``float``, ``bool`` or ``dict``) and get typed values back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qbench.errors import UsageError
from qbench.registry import did_you_mean

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


def to_bool(value: Any) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); anything else is a ValueError, never a silent False."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(value)


def flag_pairs(values: Iterable[str], flag: str) -> dict[str, str]:
    """Repeated ``-M key=value`` flags (``flag`` names them in the error) -> a dict; the value is kept as typed
    (it is converted later, against the owner's schema, by :func:`parse_options`)."""
    out = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} '{value}' must look like key=value")
        out[key.strip()] = raw
    return out


def to_pairs(value: Any) -> dict[str, str]:
    """``key=value,key=value`` (an environment variable's option table) -> a dict; a dict passes as is."""
    if isinstance(value, Mapping):
        return dict(value)
    pairs: dict[str, str] = {}
    for part in str(value).split(","):
        if not part:
            continue
        key, sep, raw = part.partition("=")
        if not sep:
            raise ValueError(part)
        pairs[key] = raw
    return pairs


def convert(raw: Any, kind: Any) -> Any:
    """``raw`` (a string, or an already typed TOML/Python value) as ``kind``; ValueError/TypeError if it is not one."""
    if kind is bool or kind is to_bool:
        return to_bool(raw)
    if kind is dict:
        return to_pairs(raw)
    return kind(raw)


def kind_name(kind: Any) -> str:
    return "bool" if kind is to_bool else str(getattr(kind, "__name__", kind))


def parse_options(
    given: Mapping[str, Any], allowed: Mapping[str, Any], owner: str, *, what: str = "model option"
) -> dict[str, Any]:
    """Check ``given`` against the schema ``allowed`` of ``owner`` (an adapter or a task) and convert the values.

    ``what`` names the kind of option in the one-line errors: "model option" (``-M``/``-J``), "task option"
    (``-T``).
    """
    out: dict[str, Any] = {}
    for key, raw in given.items():
        if key not in allowed:
            raise UsageError(
                f"{what} '{key}' is not known to {owner}", hint=did_you_mean(key, sorted(allowed))
            )
        kind = allowed[key]
        try:
            out[key] = convert(raw, kind)
        except (TypeError, ValueError):
            raise UsageError(f"{what} '{key}={raw}' for {owner} must be a {kind_name(kind)}") from None
    return out


def setting_kind(annotation: Any) -> Any:
    """The converter for a RunConfig field from its annotation text (``int | None`` -> int), or None for a field
    that holds a spec or an object (model, judge, data) and paths and strings, which pass unchanged."""
    text = str(annotation)
    if "int" in text:
        return int
    if "bool" in text:
        return bool
    if "dict" in text:
        return dict
    return None
