"""A request rendered by a model's own chat template: one home for the ``hf:`` adapter and the SGLang client.

Both must write exactly the same prompt for the same request: the ``hf:`` adapter feeds it to the model,
:mod:`qbench.models.sglang_native` sends it as ``text`` to an SGLang server's ``/generate`` (whose chat
endpoint cannot return the log-probs of exact token ids). A second copy of these rules could drift, and the
two paths would then silently score different prompts; hence this module, which imports nothing heavy (the
processor passed in is the caller's).
"""

from __future__ import annotations

from typing import Any

from qbench.errors import ModelError
from qbench.types import ImageSlot, Request


def join_reply(prompt: str, reply: str) -> str:
    """``prompt`` then ``reply``, with one space between them when ``prompt`` does not end in white space
    (protocol 8.1); an empty side gives the other unchanged."""
    if not reply or not prompt:
        return prompt or reply
    return prompt + reply if prompt[-1].isspace() else f"{prompt} {reply}"


def chat_messages(request: Request) -> tuple[list[dict[str, Any]], list[Any]]:
    """The request as chat messages in transformers' content-list form (a system message if any, then one
    user message with its parts in order), and the images in the order of their placeholders."""
    content: list[dict[str, Any]] = []
    images: list[Any] = []
    for part in request.content:
        if isinstance(part, ImageSlot):
            if part.index >= len(request.images):
                raise ModelError(f"request has no decoded pixels for image {part.index} (only its key)")
            content.append({"type": "image"})
            images.append(request.images[part.index])
        else:
            content.append({"type": "text", "text": part.text})
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": [{"type": "text", "text": request.system}]})
    messages.append({"role": "user", "content": content})
    return messages, images


def render_chat(
    processor: Any, template: str | None, request: Request, reply: str = ""
) -> tuple[str, list[Any]]:
    """The request as ``processor``'s chat template writes it (generation prompt included), with ``reply``
    (the assistant prefix, or prefix and option) joined after it by protocol 8.1, and its images in their
    placeholders' order. ``template`` overrides the processor's own (see :func:`fallback_template`)."""
    messages, images = chat_messages(request)
    text = processor.apply_chat_template(
        messages, chat_template=template, add_generation_prompt=True, tokenize=False
    )
    return join_reply(text, reply), images


def fallback_template(processor: Any) -> str | None:
    """None when the processor has a chat template of its own (``apply_chat_template`` uses it), else its
    tokenizer's template, which the processor would not look at by itself; LookupError when neither has one."""
    if getattr(processor, "chat_template", None):
        return None
    template = getattr(getattr(processor, "tokenizer", None), "chat_template", None)
    if not isinstance(template, str):
        raise LookupError("neither the processor nor its tokenizer has a chat template")
    return template
