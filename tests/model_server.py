"""A tiny real transformers model served through the fake OpenAI-compatible server, as vLLM would serve it.

:class:`ModelBackend` is a responder for :class:`fake_openai_server.FakeOpenAIServer`: it turns the chat
request back into the model's prompt with the processor's own chat template (``continue_final_message`` and
``add_generation_prompt`` as sent), decodes the PNG data URLs into the same pixels, runs one forward pass and
answers with the full next-token log-softmax (float64) over the vocabulary. The server then plays vLLM's
``top_logprobs`` / ``logprob_token_ids`` / ``/tokenize`` on top of it. Nothing of qbench is used here, so a
server-versus-``hf:`` comparison is a comparison of two independent paths.

``serve(folder, sglang=True)`` plays SGLang instead: ``GET /get_model_info`` names the model and tokenizer
folders, ``POST /generate`` (:meth:`ModelBackend.generate`) takes a rendered ``text`` and ``image_data``,
tokenizes the text with the processor's defaults (special tokens added, as SGLang's tokenizer manager and
multimodal processors do), runs the forward pass and answers ``meta_info.output_token_ids_logprobs`` /
``output_top_logprobs`` as ``[logprob, token_id, null]`` triples; its chat endpoint ignores
``logprob_token_ids`` and it has no vLLM ``/tokenize``.
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
        self.drop_ids: set[int] = (
            set()
        )  # ids /generate leaves out of its reply although asked (a faulty server)

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

    def generate(self, body: dict[str, Any]) -> dict[str, Any]:
        """SGLang's ``/generate`` for one greedy token with ``return_logprob`` (the reply shape of SGLang's
        tokenizer manager: one list of ``[logprob, token_id, text]`` per output position)."""
        import torch
        from PIL import Image

        text = body["text"]
        images = [
            Image.open(io.BytesIO(base64.b64decode(str(url).split(",", 1)[-1]))).convert("RGB")
            for url in body.get("image_data") or []
        ]
        inputs = self.processor(text=[text], images=[images] if images else None, return_tensors="pt")
        with self._lock, torch.no_grad():
            self.prompts.append(text)
            logits = self.model(**inputs).logits[0, -1].to(torch.float64)
        logprobs = torch.log_softmax(logits, dim=-1).tolist()
        best = max(range(len(logprobs)), key=logprobs.__getitem__)
        meta: dict[str, Any] = {
            "prompt_tokens": int(inputs["input_ids"].shape[1]),
            "completion_tokens": 1,
            "output_token_logprobs": [[logprobs[best], best, None]],
        }
        if body.get("return_logprob"):
            asked = [int(t) for t in body.get("token_ids_logprob") or [] if int(t) not in self.drop_ids]
            meta["output_token_ids_logprobs"] = [[[logprobs[t], t, None] for t in asked]]
            n = int(body.get("top_logprobs_num") or 0)
            top = sorted(range(len(logprobs)), key=lambda t: -logprobs[t])[:n]
            meta["output_top_logprobs"] = [[[logprobs[t], t, None] for t in top]]
        return {"text": self.vocab[best], "output_ids": [best], "meta_info": meta}


def serve(
    folder: Path,
    *,
    token_ids: bool = True,
    tokenize: bool = True,
    sglang: bool = False,
    tokenizer_path: str | None = None,
    **kwargs: Any,
) -> FakeOpenAIServer:
    """A (not yet started) server for the model in ``folder``: vLLM-like by default, SGLang-like with
    ``sglang=True`` (its ``/get_model_info`` names ``tokenizer_path``, by default the model folder)."""
    backend = ModelBackend(folder)
    if sglang:
        token_ids, tokenize = False, False
        kwargs["native"] = backend.generate
        kwargs["model_info"] = {
            "model_path": str(folder),
            "tokenizer_path": tokenizer_path or str(folder),
            "is_generation": True,
            "preferred_sampling_params": None,
        }
    server = FakeOpenAIServer(
        backend, token_ids=token_ids, tokenizer=backend.tokenize if tokenize else None, **kwargs
    )
    server.backend = backend  # type: ignore[attr-defined]
    return server
