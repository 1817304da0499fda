"""Image-only processors for model families whose transformers processor insists on a video processor.

With torch 2.13 torchvision cannot be imported, and the video processors of Qwen2-VL, Qwen2.5-VL, SmolVLM,
InternVL, LLaVA-OneVision, ... need it. Constructing such a processor then fails: depending on what is
installed, ``AutoProcessor.from_pretrained`` raises (ImportError for torchvision, OSError for a missing video
config) or *silently returns the bare tokenizer*, after which every image would be dropped from the prompt.
qbench never needs videos, so for these families it builds a subclass
whose ``__init__`` has the same parameters minus ``video_processor`` (transformers derives a processor's parts
and its saved settings from that signature) and passes ``video_processor=None`` on. The subclass keeps the
original class name, so a folder it saves looks exactly like the official checkpoint.

This module imports transformers; it is only imported by ``qbench.models.hf``, ``qbench.models.sglang_native``
(the prompts it renders for SGLang's ``/generate``) and the tests.
"""

from __future__ import annotations

import inspect
from typing import Any

_CACHE: dict[type[Any], type[Any]] = {}


class _NoVideo:
    """Stands in for the missing video processor where a processor reads its settings (SmolVLM's chat
    template call reads ``num_frames`` and ``fps``); ``None`` means "not set": no frame sampling."""

    num_frames = None
    fps = None
    model_input_names: list[str] = []  # noqa: RUF012 - read only

    def __bool__(self) -> bool:  # "is there a video processor?" checks get a no
        return False


def needs_video_processor(cls: type[Any]) -> bool:
    """Whether ``cls.__init__`` takes a ``video_processor`` (and so cannot be built without torchvision)."""
    return "video_processor" in inspect.signature(cls.__init__).parameters


def _attributes_without_video(cls: type[Any]) -> list[str] | None:
    """The processor parts of ``cls`` minus the video processor, when the video processor comes last.

    The base ``__init__`` hands its parts to ``ProcessorMixin.__init__`` positionally, which pairs them with
    the subclass's parts by position; that pairing is right only when the dropped part is the last one.
    """
    parts = list(cls.get_attributes())
    if not parts or parts[-1] != "video_processor":
        return None
    return parts[:-1]


def image_only_subclass(base: type[Any]) -> type[Any]:
    """A subclass of processor class ``base`` that needs no video processor (``base`` if it needs none).

    Built once per class. Its ``__init__`` is generated with the parameters of ``base.__init__`` minus
    ``video_processor`` because transformers reads a processor's parts and its saved settings from the
    positional parameter names of ``__init__`` (``co_varnames``), so ``**kwargs`` would lose them.
    """
    if not needs_video_processor(base):
        return base
    if base in _CACHE:
        return _CACHE[base]
    if _attributes_without_video(base) is None:
        raise TypeError(f"{base.__name__}: its video processor is not its last part; no image-only variant")
    params = [p for name, p in inspect.signature(base.__init__).parameters.items() if name not in {"self"}]
    named = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "video_processor"
    ]
    var_kw = any(p.kind == p.VAR_KEYWORD for p in params)
    defaults = {p.name: (None if p.default is p.empty else p.default) for p in named}
    rest = ["**kwargs"] if var_kw else []
    signature = ", ".join(["self", *(f"{p.name}=_defaults[{p.name!r}]" for p in named), *rest])
    call = ", ".join([*(f"{p.name}={p.name}" for p in named), "video_processor=None", *rest])
    source = (
        f"def __init__({signature}):\n"
        f"    _base.__init__(self, {call})\n"
        f"    self.video_processor = _NoVideo()\n"
    )
    namespace: dict[str, Any] = {"_base": base, "_defaults": defaults, "_NoVideo": _NoVideo}
    exec(
        compile(source, f"<qbench image-only {base.__name__}>", "exec"), namespace
    )  # a fixed template, names from a signature
    init = namespace["__init__"]
    init.__doc__ = f"{base.__name__} without a video processor (qbench.models.hf_processors)."

    @classmethod  # type: ignore[misc]
    def get_attributes(cls: type) -> list[str]:
        return _attributes_without_video(base) or []

    sub = type(
        base.__name__,
        (base,),
        {
            "__init__": init,
            "get_attributes": get_attributes,
            "__module__": base.__module__,
            "__qualname__": base.__qualname__,
            "_qbench_image_only": True,
        },
    )
    _CACHE[base] = sub
    return sub


def image_only_processor_class(model_type: str) -> type[Any]:
    """The image-only processor class for a transformers ``model_type`` (``qwen2_vl``, ``smolvlm``, ...)."""
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name

    name = PROCESSOR_MAPPING_NAMES.get(model_type)
    base = processor_class_from_name(name) if name else None
    if base is None:
        raise KeyError(f"transformers has no processor class for model type '{model_type}'")
    return image_only_subclass(base)


def is_real_processor(obj: Any) -> bool:
    """True for a multimodal processor; False for the bare tokenizer (or image processor) of the fallback."""
    from transformers import ProcessorMixin

    return (
        isinstance(obj, ProcessorMixin)
        and getattr(obj, "image_processor", None) is not None
        and getattr(obj, "tokenizer", None) is not None
    )


def load_processor(path: str, config: Any, **kwargs: Any) -> Any:
    """``AutoProcessor.from_pretrained``, repaired for families whose processor wants a video processor.

    When ``AutoProcessor`` fails or hands back something that is not a full processor, and the family's
    processor class takes a video processor, the image-only subclass is loaded instead (and registered with
    ``AutoProcessor`` for the rest of the process). Callers check the result with :func:`is_real_processor`.
    """
    from transformers import AutoProcessor
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name

    first_error: Exception | None = None
    try:
        processor = AutoProcessor.from_pretrained(path, **kwargs)
    except (OSError, ValueError, TypeError, ImportError, AttributeError) as exc:
        processor, first_error = None, exc
    if processor is not None and is_real_processor(processor):
        return processor
    base = _processor_class_for(path, config, kwargs)
    if base is None:
        name = PROCESSOR_MAPPING_NAMES.get(getattr(config, "model_type", ""))
        base = processor_class_from_name(name) if name else None
    if base is None or not needs_video_processor(base) or _attributes_without_video(base) is None:
        if first_error is not None:
            raise first_error
        return processor
    sub = image_only_subclass(base)
    try:
        AutoProcessor.register(type(config), sub, exist_ok=True)
    except (
        ValueError,
        TypeError,
    ):  # a config class transformers does not let us map; loading directly still works
        pass
    return sub.from_pretrained(path, **kwargs)


def _processor_class_for(path: str, config: Any, kwargs: dict[str, Any]) -> type[Any] | None:
    """The processor class a folder names in its processor or preprocessor config, if any."""
    from transformers.models.auto.processing_auto import processor_class_from_name
    from transformers.processing_utils import ProcessorMixin

    try:
        processor_dict, _ = ProcessorMixin.get_processor_dict(path, **kwargs)
    except (OSError, ValueError, TypeError):
        return None
    name = processor_dict.get("processor_class")
    return processor_class_from_name(name) if name else None
