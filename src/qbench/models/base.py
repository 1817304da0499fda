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
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qbench.errors import CapabilityError
from qbench.options import parse_options as parse_options  # re-exported: adapters took it from here
from qbench.registry import MODELS
from qbench.types import CAPABILITIES


def capabilities(model: Any) -> set[str]:
    return {cap for cap in CAPABILITIES if callable(getattr(model, cap, None))}


def require(model: Any, needs: tuple[str, ...], task: str) -> str:
    """The first capability of ``needs`` the model (or its :class:`Identity`) has; otherwise a clear error
    before any data is loaded."""
    have = model.capabilities if isinstance(model, Identity) else capabilities(model)
    for cap in needs:
        if cap in have:
            return cap
    name = model.name if isinstance(model, Identity) else model_name(model)
    raise CapabilityError(
        f"model '{name}' cannot run task {task}: it needs "
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


@dataclass(frozen=True)
class Identity:
    """What a run needs to know about a model, worked out once per model object (:func:`identify`).

    ``info`` and ``fingerprint`` identify the answers (run folder, resume, response cache); ``volatile``: its
    code cannot be read, so its answers are never cached; ``capabilities`` and ``batch_size`` let a plan check
    and size a run without holding the model itself (a Ray driver holds only this).
    """

    name: str
    info: dict[str, Any]
    fingerprint: str
    volatile: bool
    capabilities: frozenset[str]
    batch_size: int | None = None


def identify(model: Any) -> Identity:
    """The model's :class:`Identity`, computed on first use in a run and remembered until the run ends
    (:func:`qbench.models.identity.remembering`; outside a run it is computed each time).

    A model's identity must not change while it runs (the HF adapter works out its level tokens at load time
    for this reason), so every layer (runner, pipeline, judging) asks here instead of recomputing it.
    """
    from qbench.models.identity import code_identity, options_identity, recall, remember, volatile

    known = recall(model)
    if known is not None:
        return known
    info = model.info() if callable(getattr(model, "info", None)) else {"class": type(model).__qualname__}
    code = code_identity(model)
    options = options_identity(model)
    full = {
        "name": model_name(model),
        **info,
        **({"code": code} if code else {}),
        **({"options": options} if options else {}),
    }
    size = _batch_size(getattr(model, "batch_size", None))
    identity = Identity(
        name=model_name(model),
        info=full,
        fingerprint=hashlib.sha256(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest()[:16],
        volatile=volatile(model),
        capabilities=frozenset(capabilities(model)),
        batch_size=size,
    )
    remember(model, identity)
    return identity


def _batch_size(value: Any) -> int | None:
    """A model's own batch size (a ``py:`` class may keep its ``-M batch_size`` as the string it got)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def model_info(model: Any) -> dict[str, Any]:
    """What identifies a model: its name, ``info()`` (else its class) and, for a user's class, its code and
    the ``-M`` options it was built with."""
    return dict(identify(model).info)


def model_fingerprint(model: Any) -> str:
    return identify(model).fingerprint


def split_spec(spec: str) -> tuple[str, str]:
    """``hf:/path`` -> (``hf``, ``/path``); ``niqe`` -> (``niqe``, ``""``)."""
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in MODELS:
        return prefix, rest
    return spec, ""


def load_model(
    spec: str | Any, options: Mapping[str, str] | None = None, settings: Mapping[str, Any] | None = None
) -> Any:
    """A model from a spec string (or an already-built model object, returned as is).

    ``options`` are the ``-M`` strings, checked by the adapter; ``settings`` are typed run-level settings
    (``api_base``, ``concurrency``: :func:`qbench.plan.adapter_settings`), passed only to a factory that
    declares them as keyword-only parameters (``openai:`` does; a plugin's ``create(arg, options)`` gets none).
    """
    if not isinstance(spec, str):
        return spec
    name, arg = split_spec(spec)
    factory = MODELS.get(name)
    return factory(arg, dict(options or {}), **_taken(factory, settings or {}))


def _taken(factory: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings ``factory`` names as keyword-only parameters (None values: not given)."""
    if not settings:
        return {}
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    return {
        key: value
        for key, value in settings.items()
        if value is not None and key in params and params[key].kind is inspect.Parameter.KEYWORD_ONLY
    }
