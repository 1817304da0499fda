"""``hf:ID_OR_PATH`` — any transformers image-text-to-text model, through its own processor and chat template.

One adapter serves LLaVA(-NeXT), Qwen2-VL / Qwen2.5-VL, Idefics2/3, SmolVLM, InternVL (the ``-hf``
checkpoints) and whatever else ``AutoModelForImageTextToText`` knows, because it never formats a prompt
itself: each request becomes a chat message (images and text in order) rendered by the model's chat template.

What the protocol fixes (protocol.md 8.1-8.2) is done here once for all families:

- the assistant turn starts with the request's ``assistant_prefix``, one space after a generation prompt that
  does not end in white space (``ASSISTANT:`` -> ``ASSISTANT: The quality of the image is``);
- a level word's token is the first token the tokenizer adds when `` {word}`` follows
  ``The quality of the image is`` in running text; a word that splits is recorded in :meth:`HFModel.info`;
- ``score_options`` is the loss the official perplexity demo computes: ``labels = input_ids`` over the whole
  sequence (prompt and answer, image placeholders included), i.e. the mean next-token NLL.

Batches are left padded and scored with the position ids that ``generate`` would use (counted from each
row's first real token, or Qwen's 3-D positions), so a batched score equals the unbatched one.

This module imports torch and transformers at import time: it is only imported when an ``hf:`` model is used.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import inspect
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from qbench import startup
from qbench.errors import CapabilityError, MissingDependency, ModelError, QBenchError, UsageError
from qbench.models.chat_render import join_reply, render_chat
from qbench.models.hf_pixels import PreResizer
from qbench.options import parse_options
from qbench.protocol import A3_PREFIX, KNOWN_LEVEL_WORDS
from qbench.registry import did_you_mean
from qbench.types import ImageSlot, Request, Text

try:
    import torch
    import transformers
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    torch = None
    transformers = None
    _IMPORT_ERROR: ImportError | None = _exc
else:
    _IMPORT_ERROR = None

log = logging.getLogger("qbench")

OPTIONS: dict[str, type] = {
    "dtype": str,
    "device": str,
    "device_map": str,
    "trust_remote_code": bool,
    "revision": str,
    "max_new_tokens": int,
    "batch_size": int,
    "attn_implementation": str,
    "max_pixels": int,
    "min_pixels": int,
    "do_image_splitting": bool,
    "threads": int,
    "batched_scores": bool,
}
DTYPES = ("auto", "float32", "bfloat16", "float16")
# Words whose token ids are worked out at load time, so that info() (and so the run fingerprint) is the same
# before and after any request: the official pair, its synonyms (protocol 4.4) and the Q-Align levels.
KNOWN_WORDS = KNOWN_LEVEL_WORDS
# Model families (``config.model_type``) whose batched greedy answers can differ from their one-at-a-time
# answers: ``generate`` runs them one request at a time and logs that once. tests/test_hf_generate_batch.py
# checks batched == batch-1 answers for every tiny family of the test suite (all pass today, so it is empty);
# a family that cannot pass goes here, with the reason.
GENERATE_ONE_AT_A_TIME: dict[str, str] = {}
CONFIG_FILES = (".json", ".jinja", ".txt", ".model")
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
T = TypeVar("T")


def create(arg: str, options: Mapping[str, str]) -> HFModel:
    """The ``hf:`` factory: options are checked before anything heavy is imported or loaded."""
    opts = parse_options(options, OPTIONS, "hf")
    _check_choices(opts)
    if not arg.strip():
        raise UsageError(
            "hf: needs a model id or a folder, e.g. hf:llava-hf/llava-1.5-7b-hf or hf:./my-model"
        )
    if _IMPORT_ERROR is not None:
        raise MissingDependency("transformers", "hf")
    return HFModel(arg.strip(), **opts)


def _check_choices(opts: dict[str, Any]) -> None:
    dtype = opts.get("dtype")
    if dtype is not None and dtype not in DTYPES:
        raise UsageError(
            f"model option 'dtype={dtype}' for hf is not one of {', '.join(DTYPES)}",
            hint=did_you_mean(dtype, list(DTYPES)),
        )
    device = opts.get("device")
    if device is not None and not (device in {"cpu", "cuda", "mps", "auto"} or device.startswith("cuda:")):
        raise UsageError(f"model option 'device={device}' for hf must be cpu, cuda, cuda:N, mps or auto")
    for key in ("max_new_tokens", "batch_size", "max_pixels", "min_pixels", "threads"):
        if key in opts and opts[key] <= 0:
            raise UsageError(f"model option '{key}' for hf must be positive")


class HFModel:
    """A transformers image-text-to-text model with the ``generate``, ``score_tokens`` and ``score_options``
    capabilities. Build it with :func:`create` (``hf:ID_OR_PATH`` and ``-M`` options)."""

    def __init__(
        self,
        source: str,
        *,
        dtype: str = "auto",
        device: str = "auto",
        device_map: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        max_new_tokens: int | None = None,
        batch_size: int | None = None,
        attn_implementation: str | None = None,
        max_pixels: int | None = None,
        min_pixels: int | None = None,
        do_image_splitting: bool | None = None,
        threads: int | None = None,
        batched_scores: bool = False,
    ) -> None:
        self.source = source
        # score_tokens forwards one request at a time unless asked: a batched float forward can move a logit
        # by ~1e-7 (bf16: ~1e-3), enough to reorder near-tied A3 scores; alone, each score is bit-identical
        # to the official one-image-at-a-time loop. Pre-processing stays batched and overlapped either way.
        self.batched_scores = batched_scores
        self._local = _local_folder(source)
        self.name = self._local.name if self._local else source
        self._trust = trust_remote_code
        self._revision = revision
        self._max_new_tokens = max_new_tokens
        self._attn = attn_implementation
        self._device_map = device_map
        self._image_options = {
            k: v
            for k, v in (
                ("max_pixels", max_pixels),
                ("min_pixels", min_pixels),
                ("do_image_splitting", do_image_splitting),
            )
            if v is not None
        }
        self._device = _resolve_device(device) if device_map is None else None
        if self._device == "cpu":
            _share_cores(threads)
        where = str(self._local) if self._local else source
        common = {"trust_remote_code": trust_remote_code, **({"revision": revision} if revision else {})}

        self.config = self._load("config", lambda: transformers.AutoConfig.from_pretrained(where, **common))
        self.processor = self._load_processor(where, common)
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # the last position of every row is then its real last token
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # the processor's template, else the tokenizer's (which the processor would not look at by itself)
        self._template: str | None = None
        if not getattr(self.processor, "chat_template", None):
            self._template = getattr(self.tokenizer, "chat_template", None)
            if not isinstance(self._template, str):
                raise ModelError(
                    f"model '{source}' has no chat template, so qbench cannot render its prompts",
                    hint="add the chat_template.jinja of the model's base checkpoint to the folder",
                )

        on = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size or (8 if on.startswith("cuda") else 4)
        self._local_state = threading.local()
        # photos resized in PIL ahead of a CLIP-style or Qwen2-VL processor: its own pixels, minus its copies
        self._pre_resize = PreResizer(self.processor.image_processor)
        # the processor works now: the runner may pre-process its first batches while the weights load
        startup.preprocessing_ready(self)

        load_kwargs: dict[str, Any] = {**common, "dtype": self._torch_dtype(dtype)}
        if device_map is not None:
            if importlib.util.find_spec("accelerate") is None:
                raise ModelError(
                    f"model option device_map={device_map} needs the Python package 'accelerate'",
                    hint="pip install accelerate, or use -M device=cuda",
                )
            load_kwargs["device_map"] = device_map
        if attn_implementation:
            load_kwargs["attn_implementation"] = attn_implementation
        self.model = self._load(
            "model", lambda: transformers.AutoModelForImageTextToText.from_pretrained(where, **load_kwargs)
        )
        if self._device is not None:
            self.model.to(self._device)
        self.model.eval()

        forward = inspect.signature(self.model.forward).parameters
        self._takes_positions = "position_ids" in forward and callable(
            getattr(self.model, "_prepare_position_ids_for_generation", None)
        )
        self._takes_logits_to_keep = "logits_to_keep" in forward
        self._takes_use_cache = "use_cache" in forward
        self._folder_hash = folder_hash(self._local) if self._local else None
        self._word_tokens: dict[str, dict[str, Any]] = {}
        for word in KNOWN_WORDS:
            self.word_token(word)

    # -- loading -------------------------------------------------------------------------------------------
    def _load(self, what: str, load: Callable[[], T]) -> T:
        """Run a transformers loader and turn its many failure modes into one clear ModelError line."""
        try:
            return load()
        except QBenchError:
            raise
        except ImportError as exc:
            if "num2words" in str(exc):  # SmolVLM's processor spells frame counts with it
                raise MissingDependency("num2words", "hf") from exc
            raise self._load_error(what, exc) from exc
        except Exception as exc:
            raise self._load_error(what, exc) from exc

    def _load_error(self, what: str, exc: Exception) -> ModelError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "trust_remote_code" in str(exc):
            return ModelError(
                f"model '{self.source}' runs its own code from the repository, which qbench does not "
                "run unless asked",
                hint="-M trust_remote_code=true, if you trust that code",
            )
        if self._local is None and isinstance(exc, OSError) and _offline():
            return ModelError(
                f"model '{self.source}' is not a local folder and is not in the Hugging Face cache, "
                "and the hub cannot be reached (HF_HUB_OFFLINE is set)",
                hint="download it first, or give the path of a local folder",
            )
        if self._local is None and isinstance(exc, OSError):
            return ModelError(f"model '{self.source}' could not be found or downloaded: {text}")
        if "Unrecognized configuration class" in str(exc) or "Unrecognized model" in str(exc):
            return ModelError(
                f"model '{self.source}' is not an image-text-to-text model transformers knows: {text}"
            )
        return ModelError(f"model '{self.source}': cannot load its {what}: {type(exc).__name__}: {text}")

    def _load_processor(self, where: str, common: dict[str, Any]) -> Any:
        from qbench.models.hf_processors import is_real_processor, load_processor

        if self._local is not None and not any((self._local / f).is_file() for f in PROCESSOR_FILES):
            raise ModelError(
                f"model folder '{self.source}' has no image processor "
                f"(none of {', '.join(PROCESSOR_FILES)}), so its images cannot be prepared",
                hint="copy the processor files of the model's base checkpoint into the folder",
            )

        processor = self._load("processor", lambda: load_processor(where, self.config, **common))
        if not is_real_processor(processor):
            got = type(processor).__name__
            raise ModelError(
                f"model '{self.source}' has no usable image processor: transformers' AutoProcessor "
                f"returned only a {got}, so images would be silently dropped",
                hint="the folder needs processor_config.json or preprocessor_config.json",
            )
        self._apply_image_options(processor.image_processor)
        return processor

    def _apply_image_options(self, image_processor: Any) -> None:
        """``max_pixels``/``min_pixels`` (Qwen-style pixel budgets) and ``do_image_splitting`` (Idefics3,
        SmolVLM), set on the loaded image processor so that every processor call uses them."""
        from transformers.image_utils import SizeDict

        kind = type(image_processor).__name__
        pixels = {k: self._image_options[k] for k in ("min_pixels", "max_pixels") if k in self._image_options}
        if pixels:
            size = getattr(image_processor, "size", None)
            if not (
                hasattr(image_processor, "merge_size")
                and isinstance(size, SizeDict)
                and size.longest_edge
                and size.shortest_edge
            ):
                raise UsageError(
                    f"model options min_pixels/max_pixels are for Qwen-style image processors "
                    f"(a pixel budget per image); '{self.source}' uses {kind}"
                )
            fields = {k: getattr(size, k) for k in SizeDict.__dataclass_fields__}
            fields["shortest_edge"] = pixels.get("min_pixels", size.shortest_edge)
            fields["longest_edge"] = pixels.get("max_pixels", size.longest_edge)
            if fields["shortest_edge"] > fields["longest_edge"]:
                raise UsageError("model option min_pixels must not exceed max_pixels")
            image_processor.size = SizeDict(**fields)
        if "do_image_splitting" in self._image_options:
            if not hasattr(image_processor, "do_image_splitting"):
                raise UsageError(
                    f"model option do_image_splitting is for processors that tile images "
                    f"(Idefics3, SmolVLM); '{self.source}' uses {kind}"
                )
            image_processor.do_image_splitting = self._image_options["do_image_splitting"]

    def _torch_dtype(self, name: str) -> Any:
        return "auto" if name == "auto" else getattr(torch, name)

    @property
    def device(self) -> Any:
        return self.model.device if hasattr(self, "model") else torch.device(self._device or "cpu")

    # -- identity --------------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What identifies this model's numbers: weights, dtype, device, image settings, template, tokens."""
        image_processor = self.processor.image_processor
        settings = {
            k: v
            for k, v in sorted(image_processor.to_dict().items())
            if not k.startswith("_") and k not in {"processor_class", "auto_map"}
        }
        for key in (
            "image_seq_len",
            "image_seq_length",
            "num_image_tokens",
            "patch_size",
            "vision_feature_select_strategy",
            "num_additional_image_tokens",
        ):
            if getattr(self.processor, key, None) is not None:
                settings[f"processor.{key}"] = getattr(self.processor, key)
        template = self._template or self.processor.chat_template
        split = sorted(w for w, t in self._word_tokens.items() if t["pieces"] > 1)
        info: dict[str, Any] = {
            "kind": "hf",
            "model": self.source,
            "class": type(self.model).__name__,
            "processor": type(self.processor).__name__,
            "image_processor": type(image_processor).__name__,
            "image_settings": json.loads(json.dumps(settings, default=str)),
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "device": str(self.device) if self._device_map is None else f"device_map={self._device_map}",
            "chat_template_sha256": hashlib.sha256(str(template).encode()).hexdigest()[:16],
            "assistant_join": "one space after a generation prompt not ending in white space (protocol 8.1)",
            "level_tokens": {
                w: {"id": t["id"], "token": t["token"]} for w, t in sorted(self._word_tokens.items())
            },
            "split_words": split,
            "trust_remote_code": self._trust,
            # batched forwards move logits slightly, so the choice is part of the numbers' identity
            "score_forward": "batched" if self.batched_scores else "one request at a time",
        }
        if self._local is not None:
            info["path"] = str(self._local)
            info["folder_hash"] = self._folder_hash
        else:
            info["revision"] = self._revision or getattr(self.config, "_commit_hash", None)
        if self._max_new_tokens is not None:
            info["max_new_tokens"] = self._max_new_tokens
        if self._attn:
            info["attn_implementation"] = self._attn
        return info

    def word_token(self, word: str) -> dict[str, Any]:
        """``word``'s token by protocol 8.2: the first id added when `` {word}`` follows the A3 prefix."""
        if word in self._word_tokens:
            return self._word_tokens[word]
        base = self.tokenizer(A3_PREFIX, add_special_tokens=False)["input_ids"]
        full = self.tokenizer(f"{A3_PREFIX} {word}", add_special_tokens=False)["input_ids"]
        start = next((i for i, (a, b) in enumerate(zip(base, full)) if a != b), len(base))
        if start >= len(full):
            raise ModelError(f"the tokenizer of '{self.source}' adds no token for the word '{word}'")
        entry = {
            "id": int(full[start]),
            "token": self.tokenizer.convert_ids_to_tokens(int(full[start])),
            "pieces": len(full) - start,
            "warned": False,
        }
        self._word_tokens[word] = entry
        return entry

    def _word_id(self, word: str) -> int:
        """The id used for ``word`` in a request; a split word is announced once (info() records it too)."""
        entry = self.word_token(word)
        if entry["pieces"] > 1 and not entry["warned"]:
            entry["warned"] = True
            log.warning(
                "level word '%s' splits into %d tokens in %s; its first token %r is used (protocol 8.2)",
                word,
                entry["pieces"],
                self.name,
                entry["token"],
            )
        return int(entry["id"])

    # -- rendering -------------------------------------------------------------------------------------------
    def render(self, request: Request, reply: str = "", processor: Any = None) -> tuple[str, list[Any]]:
        """The request as the model's chat template writes it (generation prompt included), with ``reply``
        (the assistant prefix, or prefix and option) after it, and the images in their placeholders' order
        (:func:`qbench.models.chat_render.render_chat`, shared with the SGLang client)."""
        return render_chat(processor or self.processor, self._template, request, reply)

    def check_images(self, n: int) -> None:
        """Refuse (one line) ``n`` images per request when the model's chat template or processor cannot take
        them: one request with ``n`` small images is rendered and processed, without running the model."""
        from PIL import Image

        parts = tuple(p for i in range(n) for p in (Text(f"Image {i + 1}:"), ImageSlot(i)))
        images = tuple(Image.new("RGB", (64, 64), (128, 128, 128)) for _ in range(n))
        try:
            self._encode_requests([Request(content=(*parts, Text("?")), images=images)], processor=None)
        except Exception as exc:  # a template's raise_exception, a processor's token/image count check
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CapabilityError(
                f"model '{self.name}' cannot take {n} images in one request: {reason}"
            ) from None

    def _encode(self, texts: list[str], images: list[list[Any]], processor: Any = None) -> Any:
        """One processor call for the whole batch, left padded, on the model's device and dtype (on the CPU,
        as the processor made it, while the weights are still loading: :meth:`_to_device` moves it later)."""
        kwargs: dict[str, Any] = {
            "text": texts,
            "return_tensors": "pt",
            "padding": True,
            "padding_side": "left",
        }
        if any(images):
            processor = processor or self.processor
            kwargs["images"], resize_kwargs = self._pre_resize.apply(processor.image_processor, images)
            kwargs.update(resize_kwargs)
        bos = self.tokenizer.bos_token
        # as transformers' apply_chat_template(tokenize=True): a template that writes BOS gets no second one
        kwargs["add_special_tokens"] = not (bos and texts[0].startswith(bos))
        batch = (processor or self.processor)(**kwargs)
        return self._to_device(batch) if hasattr(self, "model") else dict(batch)

    def _to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """The batch's tensors on the model's device, floating point ones in its dtype (a no-op when they
        already are)."""
        device, dtype = self.device, self.model.dtype
        return {
            k: (v.to(device, dtype=dtype) if torch.is_floating_point(v) else v.to(device))
            if isinstance(v, torch.Tensor)
            else v
            for k, v in batch.items()
        }

    def _forward(self, batch: Any, *, last_only: bool) -> Any:
        """Logits of one forward pass, with the positions ``generate`` would give a left-padded batch.

        A single unpadded request is forwarded exactly as the official loop does (``model(**inputs)``): the
        positions are the ones the model infers, and all logits are computed, since computing the last row
        alone (``logits_to_keep=1``) is a different matrix product whose rounding can differ."""
        kwargs = dict(batch)
        mask = batch.get("attention_mask")
        if batch["input_ids"].shape[0] == 1 and (mask is None or bool(mask.all())):
            return self.model(**kwargs).logits
        if self._takes_positions:
            try:
                kwargs["position_ids"] = self.model._prepare_position_ids_for_generation(
                    batch["input_ids"], dict(batch)
                )
            except Exception:  # a family without the hook's expectations: let the model infer positions
                log.debug("position ids from the generation hook failed", exc_info=True)
        if last_only and self._takes_logits_to_keep:
            kwargs["logits_to_keep"] = 1
        if self._takes_use_cache:
            kwargs["use_cache"] = False
        return self.model(**kwargs).logits

    # -- capabilities ----------------------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request], prepared: Any = None) -> list[str | Exception]:
        """Greedy (or the model's sampling for ``greedy=False``) answers, new tokens only, each cut at its own
        end of sequence, special tokens skipped. Requests are batched by their generation settings (left
        padded), so a batched answer equals the answer to the request alone; a family listed in
        GENERATE_ONE_AT_A_TIME runs one request at a time instead."""
        if prepared is not None and prepared.get("requests") == len(requests) and "settings" in prepared:
            try:
                return list(self._generate_encoded(prepared["batch"], *prepared["settings"]))
            except Exception:  # fall back to the plain path, which retries item by item
                log.debug("generating for a prepared batch failed", exc_info=True)
        out: list[str | Exception] = [""] * len(requests)
        seeded = [i for i, r in enumerate(requests) if r.sampling]
        for i in seeded:  # each seeded sample alone: its draw must not depend on what it was batched with
            out[i] = self._robust([requests[i]], self._generate_seeded)[0]
        rest = [r for r in requests if not r.sampling]
        if seeded and rest:
            for i, res in zip([i for i, r in enumerate(requests) if not r.sampling], self.generate(rest)):
                out[i] = res
            return out
        if seeded:
            return out
        one_by_one = self._generate_one_at_a_time()
        for (greedy, limit, _), idx in self._generation_groups(requests).items():
            call = lambda rs, g=greedy, n=limit: self._generate(rs, g, n)  # noqa: E731
            if one_by_one:
                results = [self._robust([requests[i]], call)[0] for i in idx]
            else:
                results = self._robust([requests[i] for i in idx], call)
            for i, res in zip(idx, results):
                out[i] = res
        return out

    def _generation_groups(self, requests: Sequence[Request]) -> dict[tuple[bool, int, bool], list[int]]:
        """Request indices by generation settings (greedy, token limit) and by having images or not (a
        processor cannot mix the two in one call)."""
        groups: dict[tuple[bool, int, bool], list[int]] = {}
        for i, req in enumerate(requests):
            limit = self._max_new_tokens or req.max_new_tokens
            groups.setdefault((req.greedy, limit, bool(req.images)), []).append(i)
        return groups

    def _generate_one_at_a_time(self) -> bool:
        """Whether this model's family is on GENERATE_ONE_AT_A_TIME (announced once per model)."""
        family = str(getattr(self.config, "model_type", ""))
        reason = GENERATE_ONE_AT_A_TIME.get(family)
        if reason is None:
            return False
        if not getattr(self, "_announced_one_by_one", False):
            self._announced_one_by_one = True
            log.info("%s (%s): generating one request at a time: %s", self.name, family, reason)
        return True

    def _generate_seeded(self, requests: Sequence[Request]) -> list[str]:
        """One request with explicit sampling settings: the torch RNG seeded with its seed first."""
        (request,) = requests
        given = dict(request.sampling)
        if given.get("seed") is not None:
            torch.manual_seed(int(given["seed"]))
        limit = self._max_new_tokens or request.max_new_tokens
        extra = {k: given[k] for k in ("temperature", "top_k", "top_p") if given.get(k) is not None}
        return self._generate_encoded(self._encode_requests([request]), False, limit, extra)

    def _generate(self, requests: Sequence[Request], greedy: bool, limit: int) -> list[str]:
        return self._generate_encoded(self._encode_requests(requests), greedy, limit)

    def _generate_encoded(
        self, batch: Any, greedy: bool, limit: int, sampling: Mapping[str, Any] | None = None
    ) -> list[str]:
        batch = self._to_device(batch)
        settings: dict[str, Any] = {"max_new_tokens": limit, "pad_token_id": self.tokenizer.pad_token_id}
        if greedy:
            settings.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            settings["do_sample"] = True
            settings.update(sampling or {})
        with torch.inference_mode():
            output = self.model.generate(**batch, **settings)
        new = output[:, batch["input_ids"].shape[1] :].tolist()
        cut = cut_at_eos(new, self._eos_ids())
        return [t.strip() for t in self.tokenizer.batch_decode(cut, skip_special_tokens=True)]

    def _eos_ids(self) -> set[int]:
        """The ids ``generate`` stops a row at (the generation config's end of sequence, one id or several)."""
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if eos is None:
            return set()
        return {int(e) for e in eos} if isinstance(eos, (list, tuple)) else {int(eos)}

    def prepare(self, capability: str, requests: Sequence[Request]) -> Any:
        """The chat template and processor work (resize, normalise, tokenise) of a ``score_tokens`` or
        ``generate`` batch, done by the runner's preparing threads while the model runs the previous batch
        (or, at start-up, while the weights are still loading). None when the batch cannot go through the
        model in one piece (mixed settings, images and no images, a one-at-a-time family)."""
        if capability == "score_tokens" and not self.batched_scores:
            processor = self._thread_processor()
            return {
                "requests": len(requests),
                "singles": [self._encode_requests([r], processor) for r in requests],
            }
        if capability == "score_tokens" and len(_by_images(requests)) == 1:
            return {
                "requests": len(requests),
                "batch": self._encode_requests(requests, self._thread_processor()),
            }
        if capability == "generate":
            if any(r.sampling for r in requests):
                return None  # seeded samples run one at a time (generate)
            groups = self._generation_groups(requests)
            if len(groups) != 1 or self._generate_one_at_a_time():
                return None
            ((greedy, limit, _),) = groups
            return {
                "requests": len(requests),
                "settings": (greedy, limit),
                "batch": self._encode_requests(requests, self._thread_processor()),
            }
        return None

    def _thread_processor(self) -> Any:
        """A private copy of the processor per preparing thread: fast tokenizers must not be shared by threads
        (a concurrent call can fail with "Already borrowed"). Copies are identical, so results are too."""
        processor = getattr(self._local_state, "processor", None)
        if processor is None:
            processor = self._local_state.processor = copy.deepcopy(self.processor)
        return processor

    def score_tokens(
        self, requests: Sequence[Request], prepared: Any = None
    ) -> list[dict[str, float] | Exception]:
        """Raw next-token logits (float32) of each request's ``words`` after its assistant prefix."""
        if prepared is not None and prepared["requests"] == len(requests) and "singles" in prepared:
            try:
                return [self._score_encoded([r], one)[0] for r, one in zip(requests, prepared["singles"])]
            except Exception:  # fall back to the plain path, which retries item by item
                log.debug("scoring prepared requests failed", exc_info=True)
        elif prepared is not None and prepared["requests"] == len(requests) and "settings" not in prepared:
            try:
                return list(self._score_encoded(requests, prepared["batch"]))
            except Exception:  # fall back to the plain path, which retries item by item
                log.debug("scoring a prepared batch failed", exc_info=True)
        out: list[dict[str, float] | Exception] = [{} for _ in requests]
        for idx in _by_images(requests):
            scores = self._robust([requests[i] for i in idx], self._score_tokens)
            for i, res in zip(idx, scores):
                out[i] = res
        return out

    def _encode_requests(self, requests: Sequence[Request], processor: Any = None) -> Any:
        """The requests rendered with their assistant prefix, through one processor call."""
        rendered = [self.render(r, r.assistant_prefix, processor) for r in requests]
        return self._encode([t for t, _ in rendered], [imgs for _, imgs in rendered], processor)

    def _score_tokens(self, requests: Sequence[Request]) -> list[dict[str, float]]:
        if not self.batched_scores:
            return [self._score_encoded([r], self._encode_requests([r]))[0] for r in requests]
        return self._score_encoded(requests, self._encode_requests(requests))

    def _score_encoded(self, requests: Sequence[Request], batch: Any) -> list[dict[str, float]]:
        ids = [{w: self._word_id(w) for w in r.words} for r in requests]
        batch = self._to_device(batch)
        with torch.inference_mode():
            last = self._forward(batch, last_only=True)[:, -1, :].float()
        return [{w: float(last[row, tid]) for w, tid in words.items()} for row, words in enumerate(ids)]

    def score_options(self, requests: Sequence[Request]) -> list[list[float] | Exception]:
        """Per option, the mean next-token NLL of the whole sequence (prompt, prefix, option); lower wins."""
        out: list[list[float] | Exception] = [[] for _ in requests]
        for idx in _by_images(requests):
            losses = self._robust([requests[i] for i in idx], self._score_options)
            for i, res in zip(idx, losses):
                out[i] = res
        return out

    def _score_options(self, requests: Sequence[Request]) -> list[list[float]]:
        flat: list[tuple[int, str, list[Any]]] = []
        for n, req in enumerate(requests):
            for option in req.options:
                text, images = self.render(req, join_reply(req.assistant_prefix, option))
                flat.append((n, text, images))
        losses: list[list[float]] = [[] for _ in requests]
        for start in range(0, len(flat), self.batch_size):
            chunk = flat[start : start + self.batch_size]
            batch = self._encode([t for _, t, _ in chunk], [imgs for _, _, imgs in chunk])
            with torch.inference_mode():
                logits = self._forward(batch, last_only=False)
                for row, (n, _, _) in enumerate(chunk):
                    losses[n].append(
                        sequence_loss(logits[row], batch["input_ids"][row], batch["attention_mask"][row])
                    )
        return losses

    def _robust(
        self, requests: Sequence[Request], call: Callable[[Sequence[Request]], list[T]]
    ) -> list[T | Exception]:
        """The batch at once; if that fails, one request at a time, so one bad item does not sink the rest."""
        try:
            return list(call(requests))
        except QBenchError as exc:
            if exc.exit_code == 2 and not isinstance(exc, ModelError):
                raise
            if len(requests) == 1:
                return [exc]
        except Exception as exc:
            if len(requests) == 1:
                return [exc]
            log.warning(
                "a batch of %d failed (%s: %s); retrying one request at a time",
                len(requests),
                type(exc).__name__,
                exc,
            )
            log.debug("hf batch failure", exc_info=True)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        results: list[T | Exception] = []
        for req in requests:
            try:
                results.append(call([req])[0])
            except Exception as exc:
                results.append(exc)
        return results

    def close(self) -> None:
        """Free the weights now (a run may load a judge next)."""
        if hasattr(self, "model"):
            del self.model
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


# -- helpers -------------------------------------------------------------------------------------------------
def cut_at_eos(rows: list[list[int]], eos: set[int]) -> list[list[int]]:
    """Each row of new tokens up to (not including) its own first end-of-sequence token. In a batch, a row
    that ends early is filled with padding until the longest row ends; cut here, its answer is the one it
    would have had alone, whatever the pad token decodes to."""
    cut = []
    for row in rows:
        end = next((i for i, token in enumerate(row) if token in eos), len(row))
        cut.append(row[:end])
    return cut


def sequence_loss(logits: Any, input_ids: Any, attention_mask: Any) -> float:
    """Mean next-token NLL over one row's real tokens: exactly ``model(labels=input_ids).loss`` of that row
    alone. A left pad is neither a target nor a context, so batching leaves the value unchanged."""
    mask = attention_mask.bool()
    valid = mask[1:] & mask[:-1]
    nll = torch.nn.functional.cross_entropy(logits[:-1].float(), input_ids[1:], reduction="none")
    return float(nll[valid].mean())


def _by_images(requests: Sequence[Request]) -> list[list[int]]:
    """Indices split into requests with images and without: processors cannot mix them in one call."""
    with_images = [i for i, r in enumerate(requests) if r.images]
    without = [i for i, r in enumerate(requests) if not r.images]
    return [g for g in (with_images, without) if g]


def _offline() -> bool:
    return any(
        os.environ.get(k, "").strip().lower() in {"1", "true", "yes", "on"}
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _local_folder(source: str) -> Path | None:
    """The folder ``source`` names, None for a hub id; a path-like source that does not exist is an error."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise ModelError(f"model path '{source}' is a file; give the folder that holds config.json")
    looks_like_path = (
        source.startswith((".", "/", "~", "\\"))
        or source.count("/") > 1
        or "\\" in source
        or (len(source) > 1 and source[1] == ":")
    )
    if looks_like_path:
        raise ModelError(f"model folder '{source}' does not exist")
    return None


def _share_cores(threads: int | None) -> None:
    """torch's CPU threads for a model on the CPU: ``threads`` if given, else half the cores (at least one)
    unless OMP_NUM_THREADS says otherwise. qbench decodes and pre-processes images in threads of its own while
    the model runs; torch's threads wait for each other at every operation, so when they compete with those
    for all the cores, each step waits for a descheduled thread (a small model ran 5-10x slower on two cores)."""
    if threads is None and os.environ.get("OMP_NUM_THREADS"):
        return
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // 2))


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(
            f"device '{device}' was asked for, but torch sees no CUDA device",
            hint="-M device=cpu, or install a CUDA build of torch",
        )
    return device


def folder_hash(folder: Path) -> str:
    """A fingerprint of a local checkpoint without reading its weights: every file's name and size, plus the
    full text of the small config files (a changed processor setting keeps the size but not the text)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        size = path.stat().st_size
        digest.update(f"{rel.as_posix()}\0{size}\n".encode())
        if path.suffix in CONFIG_FILES and size < (1 << 20):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
