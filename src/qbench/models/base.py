"""What a model is to qbench: an object with one or more capabilities, nothing more.

There is no base class to inherit. A model implements any of

- ``generate(requests) -> list[str]``: text for each request;
- ``score_tokens(requests) -> list[dict[str, float]]``: next-token logits (or log-probs) of each request's
  ``words`` after its ``assistant_prefix`` (A3);
- ``score_options(requests) -> list[list[float]]``: the loss of each of the request's ``options`` appended
  to the prompt (the official close-set A1 mode; lower is more likely);
- ``quality(images) -> list[float]``: a scalar quality per PIL image, higher is better (classical IQA);

plus, optionally, ``name`` (str), ``info() -> dict`` (what identifies it, for the run fingerprint, with a
hash of the source of the class's module: :mod:`qbench.models.identity`),
``batch_size`` (a sensible default), ``usage() -> dict`` (tokens spent), ``close()``, and
``stream(capability, requests)``: ``(index, result)`` groups as the answers arrive, so that the runner saves
each one at once (the API adapter has it: a kill then loses only the requests in flight).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from qbench.errors import CapabilityError, UsageError
from qbench.registry import MODELS, did_you_mean
from qbench.types import CAPABILITIES


def capabilities(model: Any) -> set[str]:
    return {cap for cap in CAPABILITIES if callable(getattr(model, cap, None))}


def require(model: Any, needs: tuple[str, ...], task: str) -> str:
    """The first capability of ``needs`` the model has; otherwise a clear error before any data is loaded."""
    have = capabilities(model)
    for cap in needs:
        if cap in have:
            return cap
    raise CapabilityError(
        f"model '{model_name(model)}' cannot run task {task}: it needs "
        + " or ".join(f"'{c}'" for c in needs)
        + f", and it has {', '.join(sorted(have)) or 'no capability'}"
    )


def require_images(model: Any, n_images: int, task: str) -> None:
    """Refuse, before any work, a model that cannot take ``n_images`` images in one request.

    A model says so by ``max_images`` (an int; ``py:`` classes set it as a class attribute, ``openai:`` takes
    ``-M max_images=N``) or by ``check_images(n)`` raising :class:`CapabilityError` (``hf:`` renders one request
    with ``n`` images through its processor and chat template, which refuse what the model cannot take).
    """
    if n_images <= 1:
        return
    limit = getattr(model, "max_images", None)
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < n_images:
        raise CapabilityError(
            f"model '{model_name(model)}' takes at most {limit} image(s) per request; "
            f"task {task} sends {n_images}"
        )
    check = getattr(model, "check_images", None)
    if callable(check):
        check(n_images)


def images_needed(task: Any, samples: Any) -> int:
    """The most images one request of ``task`` carries: the task's own count (video frames) if it has one,
    else the most images of a sample."""
    count = getattr(task, "images_per_request", None)
    if callable(count):
        return int(count(samples))
    return max((len(s.images) for s in samples), default=0)


def model_name(model: Any) -> str:
    return str(getattr(model, "name", type(model).__name__))


def model_info(model: Any) -> dict[str, Any]:
    """What identifies a model: its name, ``info()`` (else its class) and, for a user's class, its code and
    the ``-M`` options it was built with."""
    from qbench.models.identity import code_identity, options_identity

    info = model.info() if callable(getattr(model, "info", None)) else {"class": type(model).__qualname__}
    code = code_identity(model)
    options = options_identity(model)
    return {
        "name": model_name(model),
        **info,
        **({"code": code} if code else {}),
        **({"options": options} if options else {}),
    }


def model_fingerprint(model: Any) -> str:
    blob = json.dumps(model_info(model), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def parse_options(options: Mapping[str, str], allowed: Mapping[str, type], adapter: str) -> dict[str, Any]:
    """Validate ``-M key=value`` options against what an adapter accepts, converting their types."""
    out: dict[str, Any] = {}
    for key, raw in options.items():
        if key not in allowed:
            raise UsageError(
                f"model option '{key}' is not known to {adapter}", hint=did_you_mean(key, sorted(allowed))
            )
        kind = allowed[key]
        try:
            if kind is bool:
                if str(raw).lower() not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError(raw)
                out[key] = str(raw).lower() in {"1", "true", "yes"}
            else:
                out[key] = kind(raw)
        except (TypeError, ValueError):
            raise UsageError(f"model option '{key}={raw}' for {adapter} must be a {kind.__name__}") from None
    return out


def split_spec(spec: str) -> tuple[str, str]:
    """``hf:/path`` -> (``hf``, ``/path``); ``niqe`` -> (``niqe``, ``""``)."""
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in MODELS:
        return prefix, rest
    return spec, ""


def load_model(spec: str | Any, options: Mapping[str, str] | None = None) -> Any:
    """A model from a spec string (or an already-built model object, returned as is)."""
    if not isinstance(spec, str):
        return spec
    name, arg = split_spec(spec)
    factory = MODELS.get(name)
    return factory(arg, dict(options or {}))
