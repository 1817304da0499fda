"""``py:package.module:ClassName`` — a user's own model class, named on the command line.

The class is imported and instantiated with the ``-M key=value`` options as keyword arguments (strings; the
class converts what it needs). It implements any of the capabilities listed in :mod:`qbench.models.base`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qbench.errors import ModelError, UsageError
from qbench.models.base import capabilities
from qbench.models.identity import remember_options


def create(arg: str, options: Mapping[str, str]) -> Any:
    module_name, sep, attr = arg.rpartition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"model spec 'py:{arg}' must be py:package.module:ClassName")
    if str(Path.cwd()) not in sys.path:
        # Appended, not inserted first: a module beside the user's data is found, but a stray scipy.py or
        # json.py in the working folder never shadows an installed package.
        sys.path.append(str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"cannot import module '{module_name}' for py:{arg}: {exc}") from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise ModelError(f"module '{module_name}' has no attribute '{attr}'")
    try:
        model = cls(**dict(options))
    except TypeError as exc:
        raise UsageError(f"py:{arg} does not accept these options: {exc}") from None
    if not capabilities(model):
        raise ModelError(f"py:{arg} implements none of generate, score_tokens, score_options, quality")
    if not hasattr(model, "name"):
        try:
            model.name = attr
        except AttributeError:
            pass
    remember_options(model, dict(options))  # -M options change answers: part of the identity
    return model
