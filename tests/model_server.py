"""A tiny real transformers model served through the fake OpenAI-compatible server, as vLLM would serve it.

:class:`ModelBackend` is a responder for :class:`fake_openai_server.FakeOpenAIServer`: it turns the chat
request back into the model's prompt with the processor's own chat template (``continue_final_message`` and
``add_generation_prompt`` as sent), decodes the PNG data URLs into the same pixels, runs one forward pass and
answers with the full next-token log-softmax (float64) over the vocabulary. The server then plays vLLM's
``top_logprobs`` / ``logprob_token_ids`` / ``/tokenize`` on top of it. Nothing of qbench is used here, so a
server-versus-``hf:`` comparison is a comparison of two independent paths.
"""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path
from typing import Any

from fake_openai_server import FakeOpenAIServer, Reply


class ModelBackend:
    def __init__(self, folder: Path) -> None:
        import transformers

        try:
            processor = transformers.AutoProcessor.from_pretrained(folder)
            assert isinstance(processor, transformers.ProcessorMixin)
        except (OSError, ImportError, AssertionError):  # the video-processor families (environment.md)
            from qbench.models.hf_processors import image_only_processor_class

            config = transformers.AutoConfig.from_pretrained(folder)
            processor = image_only_processor_class(config.model_type).from_pretrained(folder)
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.model = transformers.AutoModelForImageTextToText.from_pretrained(folder).eval()
        self.vocab = [self.tokenizer.decode([i]) for i in range(len(self.tokenizer))]
        self._lock = threading.Lock()
        self.prompts: list[str] = []

    def tokenize(self, text: str, add_special_tokens: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])

    def __call__(self, body: dict[str, Any]) -> Reply:
        import torch
        from PIL import Image

        messages: list[dict[str, Any]] = []
        images: list[Any] = []
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            parts = []
            for part in content:
                if part["type"] == "image_url":
                    data = part["image_url"]["url"].split(",", 1)[1]
                    images.append(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
                    parts.append({"type": "image"})
                else:
                    parts.append({"type": "text", "text": part["text"]})
            messages.append({"role": message["role"], "content": parts})
        text = self.processor.apply_chat_template(
            messages,
            add_generation_prompt=body.get("add_generation_prompt", True),
            continue_final_message=body.get("continue_final_message", False),
            tokenize=False,
        )
        bos = self.tokenizer.bos_token
        inputs = self.processor(
            text=[text],
            images=[images] if images else None,
            return_tensors="pt",
            add_special_tokens=not (bos and text.startswith(bos)),
        )
        with self._lock, torch.no_grad():
            self.prompts.append(text)
            logits = self.model(**inputs).logits[0, -1].to(torch.float64)
        logprobs = torch.log_softmax(logits, dim=-1).tolist()
        best = max(range(len(logprobs)), key=logprobs.__getitem__)
        return Reply(text=self.vocab[best], vocab_logprobs=logprobs, vocab=self.vocab)


def serve(folder: Path, *, token_ids: bool = True, tokenize: bool = True, **kwargs: Any) -> FakeOpenAIServer:
    """A (not yet started) server for the model in ``folder``: vLLM-like by default."""
    backend = ModelBackend(folder)
    server = FakeOpenAIServer(
        backend, token_ids=token_ids, tokenizer=backend.tokenize if tokenize else None, **kwargs
    )
    server.backend = backend  # type: ignore[attr-defined]
    return server
