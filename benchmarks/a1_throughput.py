"""A1 throughput: ``qbench run a1`` against the official-style loop, same model, same photos, same questions.

Both sides run as fresh processes, start-up (imports, model load) included, greedy, capped at the same
``max_new_tokens``. The official loop (the authors' ``model_vqa_qbench.py``) answers one question at a
time: full decode, processor, ``generate``, append a JSON line. qbench decodes in threads ahead of the model,
pre-processes batches in other threads and generates a batch at a time (left padded, each row cut at its own
end of sequence). The script prints questions per second both ways and their ratio, whether every answer is
identical, and the share of each side's wall time spent inside ``generate`` (the rest is harness: start-up,
decoding, pre-processing, writing).

    python benchmarks/a1_throughput.py [--images 120] [--megapixels 6] [--batch-size 8] [--repeat 5]
    python benchmarks/a1_throughput.py --build-model llava-1.5-7b --device cuda --dtype bfloat16 \\
        --megapixels 12 --images 200

Run by hand (not in CI). The model is a tiny random LLaVA (tests/tiny_models.py) unless ``--model FOLDER``
or ``--build-model`` says otherwise (see bench_common.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import bench_common
from bench_common import add_model_arguments, make_photos, model_folder, spread, timed

QUESTIONS = [
    ("How is the clarity of the image?", ["High", "Medium", "Low"]),
    ("Is the image blurry?", ["Yes", "No"]),
    ("What is the main distortion of the image?", ["Noise", "Blur", "Underexposure", "Overexposure"]),
    ("Is the color of the image vivid?", ["Yes", "No"]),
    ("Which part of the image is the clearest?", ["The sky", "The face", "The background"]),
]
INSTRUCTION = "Choose between one of the options as follows:"


def make_questions(folder: Path, count: int, megapixels: float) -> Path:
    """One LLVisionQA-style question per photo (dev split: with answers), as the official json."""
    names = make_photos(folder, count, megapixels)
    items = []
    for i, name in enumerate(names):
        question, candidates = QUESTIONS[i % len(QUESTIONS)]
        items.append(
            {
                "img_path": name,
                "question": question,
                "candidates": candidates,
                "correct_ans": candidates[i % len(candidates)],
                "type": i % 3,
                "concern": i % 4,
            }
        )
    data = folder / "llvisionqa_dev.json"
    data.write_text(json.dumps(items))
    return data


def official_loop(model_dir: Path, data: Path, out_file: Path, device: str, dtype: str, limit: int) -> dict:
    """One question at a time, as the authors' script; returns seconds, generate seconds and the answers."""
    import torch
    from PIL import Image

    started = time.perf_counter()
    processor, model = bench_common.load_official(model_dir, device, dtype)
    tokenizer = processor.tokenizer
    generate_s = 0.0
    answers = []
    with open(out_file, "w") as fh:
        for item in json.loads(data.read_text()):
            image = Image.open(data.parent / item["img_path"]).convert("RGB")
            options = "".join(f"{'ABCD'[i]}. {c}\n" for i, c in enumerate(item["candidates"]))
            text = f"{item['question']}\n{INSTRUCTION}\n{options}"
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
            prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
            inputs = bench_common.to_model(processor(text=prompt, images=image, return_tensors="pt"), model)
            t0 = time.perf_counter()
            with torch.inference_mode():
                output = model.generate(
                    **inputs, do_sample=False, max_new_tokens=limit, pad_token_id=tokenizer.pad_token_id
                )
            generate_s += time.perf_counter() - t0
            new = output[0, inputs["input_ids"].shape[1] :]
            answer = tokenizer.decode(new, skip_special_tokens=True).strip()
            answers.append(answer)
            fh.write(json.dumps({**item, "response": answer}) + "\n")
            fh.flush()
    return {"seconds": time.perf_counter() - started, "generate_seconds": generate_s, "answers": answers}


def official_process(args: argparse.Namespace, model_dir: Path, data: Path) -> tuple[float, float, list[str]]:
    """The official-style loop in a fresh ``python`` process (start-up included)."""
    seconds, stdout = timed(
        [
            sys.executable,
            __file__,
            "--official-loop",
            json.dumps(
                [str(model_dir), str(data), str(args.work / "official.jsonl"), args.device, args.dtype]
            ),
            "--max-new-tokens",
            str(args.max_new_tokens),
        ],
        env=bench_common.OFFICIAL_ENV,
    )
    report = json.loads(stdout.strip().splitlines()[-1])
    return seconds, report["generate_seconds"], report["answers"]


INNER = """
import json, sys, time
from qbench.registry import MODELS
spent = [0.0]

def create(arg, options):
    from qbench.models import hf
    model = hf.create(arg, options)
    inner = model._generate_encoded
    def timed(*a, **k):
        t0 = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            spent[0] += time.perf_counter() - t0
    model._generate_encoded = timed
    return model

MODELS.register("hf", create)
from qbench.cli import main
code = main(sys.argv[2:])
open(sys.argv[1], "w").write(json.dumps({"generate_seconds": spent[0]}))
sys.exit(code)
"""


def qbench_process(args: argparse.Namespace, model_dir: Path, data: Path) -> tuple[float, float, list[str]]:
    """``qbench run a1`` in a fresh process (start-up included); its time inside ``generate`` is measured
    by wrapping the adapter's generate call from the outside (qbench itself is unchanged)."""
    out = args.work / "runs-a1"
    shutil.rmtree(out, ignore_errors=True)
    spent = args.work / "qbench-generate.json"
    command = [sys.executable, "-c", INNER, str(spent), "-q", "run", "a1", "--model", f"hf:{model_dir}"]
    command += ["--data", str(data), "--out", str(out), "--batch-size", str(args.batch_size), "--no-cache"]
    command += ["-T", f"max_new_tokens={args.max_new_tokens}", "-T", "bootstrap=0"]
    command += bench_common.model_options(args)
    # exit 3: every reply unreadable (a random model's replies are noise); the records are complete all the same
    seconds, _ = timed(command, ok=(0, 3))
    (records,) = out.rglob("records.jsonl")
    by_path = {}
    for line in records.read_text().splitlines():
        record = json.loads(line)
        by_path[record["img_path"]] = record["response"]
    answers = [by_path[item["img_path"]] for item in json.loads(data.read_text())]
    return seconds, json.loads(spent.read_text())["generate_seconds"], answers


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--official-loop":
        model_dir, data, out_file, device, dtype = json.loads(sys.argv[2])
        limit = int(sys.argv[sys.argv.index("--max-new-tokens") + 1])
        report = official_loop(Path(model_dir), Path(data), Path(out_file), device, dtype, limit)
        print(json.dumps(report))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=120, help="photos, one question each")
    parser.add_argument("--megapixels", type=float, default=6.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    add_model_arguments(parser)
    args = parser.parse_args()
    official_threads = bench_common.official_threads(args)

    args.work.mkdir(parents=True, exist_ok=True)
    model_dir = model_folder(args)
    data = make_questions(
        args.work / f"a1-photos-{args.megapixels}mp-{args.images}", args.images, args.megapixels
    )
    n = args.images
    print(
        f"model: {model_dir}  device: {args.device}  dtype: {args.dtype}  "
        f"official loop's torch threads: {official_threads}\n"
        f"questions: {n} on JPEGs of {args.megapixels} MP, max_new_tokens {args.max_new_tokens}, "
        f"batch {args.batch_size}, cpus: {bench_common.os.cpu_count()}"
    )
    ratios = []
    for run in range(1, args.repeat + 1):
        official_s, official_gen, official_answers = official_process(args, model_dir, data)
        qbench_s, qbench_gen, qbench_answers = qbench_process(args, model_dir, data)
        same = sum(a == b for a, b in zip(official_answers, qbench_answers))
        ratios.append(official_s / qbench_s)
        print(
            f"run {run}: official-style {official_s:7.2f} s {n / official_s:6.2f} q/s "
            f"(generate {official_gen / official_s:4.0%})  |  qbench {qbench_s:7.2f} s {n / qbench_s:6.2f} q/s "
            f"(generate {qbench_gen / qbench_s:4.0%})  |  speed-up {official_s / qbench_s:.2f}x  |  "
            f"answers identical: {same}/{n}"
            + (
                ""
                if same == n
                else f"  FIRST DIFFERENCE: {_first_difference(official_answers, qbench_answers)}"
            )
        )
    if args.repeat > 1:
        print(f"speed-up over {args.repeat} runs: {spread(ratios)}")


def _first_difference(a: list[str], b: list[str]) -> str:
    i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    return f"question {i}: official {a[i]!r}, qbench {b[i]!r}"


if __name__ == "__main__":
    main()
