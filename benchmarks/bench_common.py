"""What the throughput benchmarks share: the model they run, large photos, timed fresh processes, and ratios.

The model is a tiny random LLaVA (tests/tiny_models.py) by default, any checkpoint folder with ``--model``, or
a random-weight model of real size built from its published shape with ``--build-model llava-1.5-7b`` (for a
GPU: weights are made on ``--device`` in ``--dtype`` and saved once under ``--work``). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# LLaVA-1.5-7B (llava-hf/llava-1.5-7b-hf config.json): CLIP ViT-L/14 at 336 px, Vicuna-7B (LLaMA) text model
LLAVA_15_7B = {
    "vision": {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "image_size": 336,
        "patch_size": 14,
        "projection_dim": 768,
    },
    "text": {
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "max_position_embeddings": 4096,
        "vocab_size": 32064,
    },
}
REAL_SIZE = {"llava-1.5-7b": LLAVA_15_7B}


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, default=None, help="a checkpoint folder (default: a tiny LLaVA)"
    )
    parser.add_argument(
        "--build-model",
        choices=sorted(REAL_SIZE),
        default=None,
        help="build a random-weight model of this real size (once, under --work) and use it",
    )
    parser.add_argument("--layers", type=int, default=None, help="with --build-model: fewer text layers")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (both sides use it)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/qbench-bench"))
    parser.add_argument("--repeat", type=int, default=1, help="run both sides this many times")
    parser.add_argument(
        "--official-threads",
        type=int,
        default=None,
        help="torch threads of the official loop (default on the CPU: qbench's, half the cores, so that the "
        "two compare bit for bit; 0: torch's default, all cores)",
    )


def model_folder(args: argparse.Namespace) -> Path:
    """The folder both sides load: --model, a built real-size model, or the tiny LLaVA."""
    if args.model is not None:
        return args.model
    if args.build_model is not None:
        suffix = f"-{args.layers}l" if args.layers else ""
        return build_real_size(
            args.work / f"{args.build_model}-{args.dtype}{suffix}",
            args.build_model,
            args.device,
            args.dtype,
            args.layers,
        )
    import tiny_models

    return tiny_models.build("llava", args.work)


def build_real_size(folder: Path, name: str, device: str, dtype: str, layers: int | None = None) -> Path:
    """A random-weight LLaVA of ``name``'s real shape (576 image tokens, 336-px CLIP crops), saved in ``dtype``.

    The tokenizer is the tiny test one, padded with plain added tokens to the real vocabulary size, so every
    id the random model can produce decodes to text (the answers can then be compared)."""
    if (folder / "qbench_tiny.json").exists():
        return folder
    import torch
    import transformers as tf
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    import tiny_models

    shape = REAL_SIZE[name]
    tiny = tf.AutoProcessor.from_pretrained(tiny_models.build("llava", folder.parent))
    tok = tiny.tokenizer
    vocab = shape["text"]["vocab_size"]
    tok.add_tokens([f"w{i:05d}" for i in range(vocab - len(tok))])
    image_processor = LlavaImageProcessorPil(
        size={"shortest_edge": shape["vision"]["image_size"]},
        crop_size={"height": shape["vision"]["image_size"], "width": shape["vision"]["image_size"]},
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    processor = tf.LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=shape["vision"]["patch_size"],
        num_additional_image_tokens=1,
        vision_feature_select_strategy="default",
        chat_template=tiny.chat_template,
    )
    text = dict(shape["text"])
    if layers:
        text["num_hidden_layers"] = layers
    config = tf.LlavaConfig(
        vision_config=tf.CLIPVisionConfig(**shape["vision"]),
        text_config=tf.LlamaConfig(
            **text,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        ),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = tf.LlavaForConditionalGeneration(config).to(getattr(torch, dtype)).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / "qbench_tiny.json").write_text(
        json.dumps({"random": name, "layers": text["num_hidden_layers"]})
    )
    del model
    return folder


def make_photos(folder: Path, count: int, megapixels: float) -> list[str]:
    """``count`` distinct large JPEGs (upscaled packaged photos plus noise); their file names."""
    from qbench.data.synthetic import load_sources

    folder.mkdir(parents=True, exist_ok=True)
    sources = list(load_sources().values())
    width = int((megapixels * 1e6 * 1.5) ** 0.5)
    height = int(width / 1.5)
    rng = np.random.default_rng(0)
    names = []
    for i in range(count):
        path = folder / f"photo_{i:04d}.jpg"
        if not path.exists():
            base = Image.fromarray((sources[i % len(sources)] * 255).astype(np.uint8)).resize((width, height))
            noise = rng.integers(-12, 12, (height, width, 3), dtype=np.int16)
            arr = np.asarray(base, dtype=np.int16) + noise
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=92)
        names.append(path.name)
    return names


OFFICIAL_ENV: dict[str, str] = {}  # the official loop's environment: OMP_NUM_THREADS with --official-threads


def official_threads(args: argparse.Namespace) -> str:
    """The official loop's torch threads: on the CPU, qbench's (half the cores) unless --official-threads
    says N (0: torch's default, all cores). The BLAS summation order depends on the thread count, so only
    equal counts give bit-identical logits; on these tiny models one thread is no slower than two."""
    threads = args.official_threads
    if threads is None and args.device == "cpu":
        threads = max(1, (os.cpu_count() or 1) // 2)
    if threads:
        OFFICIAL_ENV["OMP_NUM_THREADS"] = str(threads)
    return str(threads) if threads else "torch's default"


def timed(
    command: list[str], ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None
) -> tuple[float, str]:
    """Wall seconds and stdout of a fresh process (its stderr when its exit code is not one of ``ok``)."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if result.returncode not in ok:
        raise SystemExit(result.stderr)
    return time.perf_counter() - started, result.stdout


def model_options(args: argparse.Namespace) -> list[str]:
    """The ``-M`` options that put qbench's model on the same device and dtype as the official loop."""
    return ["-M", f"device={args.device}", "-M", f"dtype={args.dtype}"]


def spread(ratios: list[float]) -> str:
    """min / median / max of the ratios of several runs."""
    return (
        f"{min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f}x "
        f"(min / median / max of {len(ratios)})"
    )


def load_official(model_dir: Path, device: str, dtype: str) -> tuple[Any, Any]:
    """Processor and model loaded as the authors' scripts do, then moved to ``device`` in ``dtype``."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    return processor, model.to(device).eval()


def to_model(inputs: Any, model: Any) -> Any:
    """Processor outputs on the model's device, pixel values in its dtype."""
    import torch

    return {
        k: v.to(model.device, dtype=model.dtype) if torch.is_floating_point(v) else v.to(model.device)
        for k, v in inputs.items()
    }
