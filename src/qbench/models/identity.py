"""The code that produces a model's answers is part of its identity (resume and the response cache).

A user's model (``py:``, an object given to ``qbench.evaluate``, an entry-point plugin, a judge) is matched
across runs by its fingerprint. Name, class and ``info()`` are not enough: edit the class to answer
differently and, without this, the next run would resume the old folder or hit the old cached answers. So the
identity holds a sha256 of the source of every module that defines a class in the model's MRO (outside
qbench and the standard library). Where that source cannot be read (a class typed into a REPL, built by
``exec``, a compiled extension) the identity gets a per-process nonce instead: such a run is neither cached
nor resumed across processes, and says so once.
"""

from __future__ import annotations

import builtins
import hashlib
import inspect
import logging
import secrets
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

log = logging.getLogger("qbench")

#: Stands in for unreadable source: equal within this process, different in every other one.
_PROCESS_NONCE = secrets.token_hex(8)
VOLATILE_PREFIX = "unreadable-source:"
_warned: set[str] = set()


def _own_module(klass: type) -> bool:
    """qbench's adapters are identified by their info() and qbench's versions; the standard library never
    changes under a run. (A class made by ``exec`` without ``__name__`` claims ``builtins``: not one of them.)"""
    module = klass.__module__
    top = module.split(".", 1)[0]
    if top == "builtins":
        return getattr(builtins, klass.__qualname__, None) is klass
    return top == "qbench" or top in sys.stdlib_module_names


def _module_source(cls: type) -> bytes | None:
    """The source bytes of the module defining ``cls``; the class's own source as a fallback (IPython)."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if path and str(path).endswith(".py"):
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError:
            pass
    try:
        return inspect.getsource(cls).encode()
    except (OSError, TypeError):
        return None


@cache
def _class_code(cls: type) -> str | None:
    """sha256 over the sources of the non-qbench modules in ``cls``'s MRO; None if ``cls``'s own is unreadable."""
    digest = hashlib.sha256()
    seen: set[str] = set()
    for klass in cls.__mro__:
        if _own_module(klass) or klass.__module__ in seen:
            continue
        seen.add(klass.__module__)
        source = _module_source(klass)
        if source is None:
            if klass is cls:
                return None
            continue  # a compiled base class (an extension module) changes only with its package
        digest.update(klass.__module__.encode() + b"\0" + source + b"\0")
    return digest.hexdigest() if seen else ""


def code_identity(model: Any) -> str | None:
    """``sha256:<hex>`` of the model's code, a volatile marker when unreadable, or None for qbench's own."""
    cls: type = type(model)
    code = _class_code(cls)
    if code == "":
        return None
    if code is None:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name not in _warned:
            _warned.add(name)
            log.warning(
                "cannot read the source of %s; its runs are neither cached nor resumed across processes",
                name,
            )
        return f"{VOLATILE_PREFIX}{_PROCESS_NONCE}"
    return f"sha256:{code}"


def volatile(model: Any) -> bool:
    """True when the model's code cannot be identified (so its answers must not be cached)."""
    code = code_identity(model) if model is not None else None
    return bool(code and code.startswith(VOLATILE_PREFIX))


#: ``-M`` options a ``py:`` model was built with, by object id (the object is kept alive with them).
_OPTIONS: dict[int, tuple[Any, dict[str, str]]] = {}


def remember_options(model: Any, options: dict[str, str]) -> None:
    """Record the ``-M`` options a user's class was constructed with: they are part of its identity."""
    if options:
        _OPTIONS[id(model)] = (model, dict(options))


def options_identity(model: Any) -> dict[str, str] | None:
    """The construction options (secret values as their sha256, never in clear), or None."""
    from qbench.redact import is_secret

    entry = _OPTIONS.get(id(model))
    if entry is None or entry[0] is not model:
        return None
    return {
        k: ("sha256:" + hashlib.sha256(str(v).encode()).hexdigest()[:16] if is_secret(k) else str(v))
        for k, v in sorted(entry[1].items())
    }


#: Identities already worked out in the current run (see :func:`remembering`), by object id, each with a weak
#: reference that drops the entry when the model is collected (so a reused id is never mistaken for it).
_known: dict[int, tuple[weakref.ref[Any], Any]] | None = None


@contextmanager
def remembering() -> Iterator[None]:
    """Within this block (one run), a model's identity is computed once and then remembered.

    Scoped to a run, not to the object's life: a Python object given to ``qbench.evaluate`` again after its
    settings were changed must be identified afresh by the next run, never by a stale fingerprint.
    """
    global _known
    outer = _known
    if outer is None:
        _known = {}
    try:
        yield
    finally:
        _known = outer


def remember(model: Any, identity: Any) -> None:
    """Keep ``identity`` for ``model`` for the rest of the run (objects without weak references are not kept)."""
    known = _known
    if known is None:
        return
    key = id(model)

    def forget(_ref: weakref.ref[Any]) -> None:
        known.pop(key, None)

    try:
        ref = weakref.ref(model, forget)
    except TypeError:
        return
    known[key] = (ref, identity)


def recall(model: Any) -> Any:
    """The identity remembered for ``model`` in this run, or None."""
    entry = _known.get(id(model)) if _known is not None else None
    if entry is None or entry[0]() is not model:
        return None
    return entry[1]
