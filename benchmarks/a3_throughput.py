"""A3 throughput: ``qbench run a3`` against the official-style loop, same model, same large JPEGs.

Both run as fresh processes, start-up (imports, model load) included. The official scripts score one image
at a time: full decode, processor, forward, append a JSON line. qbench
decodes and pre-processes in parallel threads ahead of the model, which forwards each image alone, so both
give identical scores (with the same number of torch threads: BLAS rounding depends on it); this
script checks that, then prints images per second both ways (start-up included), the model-only time (so
the harness overhead per image is visible), and qbench's peak memory for 1,000 versus 10,000 samples.

    python benchmarks/a3_throughput.py [--images 120] [--megapixels 6] [--batch-size 8] [--repeat 5]
    python benchmarks/a3_throughput.py --build-model llava-1.5-7b --device cuda --dtype bfloat16 \\
        --megapixels 12 --skip-memory

Run by hand (not in CI). The model is a tiny random LLaVA (tests/tiny_models.py) unless ``--model FOLDER``
or ``--build-model`` says otherwise (see bench_common.py); ``--repeat K`` prints min / median / max of the
speed-up over K runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bench_common
import numpy as np
from bench_common import add_model_arguments, model_folder, spread, timed
from PIL import Image


def make_photos(folder: Path, count: int, megapixels: float) -> Path:
    """``count`` distinct large JPEGs and an official MOS json."""
    names = bench_common.make_photos(folder, count, megapixels)
    rng = np.random.default_rng(0)
    data = folder / "photos.json"
    data.write_text(json.dumps([{"img_path": name, "gt_score": float(rng.uniform(1, 5))} for name in names]))
    return data


def official_style(
    model_dir: Path, data: Path, out_file: Path, device: str = "cpu", dtype: str = "float32"
) -> tuple[float, float, list[float]]:
    """One image at a time, as the authors' scripts: returns (seconds, model-only seconds, scores)."""
    import torch

    started = time.perf_counter()
    processor, model = bench_common.load_official(model_dir, device, dtype)
    tokenizer = processor.tokenizer
    messages = [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": "Rate the quality of the image."}],
        }
    ]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    prompt += ("" if prompt[-1].isspace() else " ") + "The quality of the image is"

    def token(word: str) -> int:
        base = tokenizer("The quality of the image is", add_special_tokens=False).input_ids
        return tokenizer(f"The quality of the image is {word}", add_special_tokens=False).input_ids[len(base)]

    good, poor = token("good"), token("poor")
    model_seconds = 0.0
    scores = []
    root = data.parent
    with open(out_file, "w") as fh:
        for item in json.loads(data.read_text()):
            image = Image.open(root / item["img_path"]).convert("RGB")
            inputs = bench_common.to_model(processor(text=prompt, images=image, return_tensors="pt"), model)
            t0 = time.perf_counter()
            with torch.inference_mode():
                logits = model(**inputs).logits[0, -1]
            model_seconds += time.perf_counter() - t0
            # the official scripts save the two logits; the authors' notebook scores them in float64 numpy
            a, b = float(logits[good]) / 100, float(logits[poor]) / 100
            score = float(np.exp(a) / (np.exp(a) + np.exp(b)))
            scores.append(score)
            fh.write(
                json.dumps({**item, "logit_good": float(logits[good]), "logit_poor": float(logits[poor])})
            )
    return time.perf_counter() - started, model_seconds, scores


# qbench forwards each image alone, as the official loop does, so the logits are bit-identical given the same
# number of torch threads; a different thread count changes the BLAS summation order (differences ~1e-8).
SAME_THREADS_HINT = (
    "NOT identical: with different torch threads on the two sides (--official-threads) the BLAS summation "
    "order differs; with equal ones they must be identical"
)


def official_process(
    model_dir: Path, data: Path, out_file: Path, device: str, dtype: str
) -> tuple[float, float, list[float]]:
    """The official-style loop as the authors run it: a fresh ``python`` process (start-up included)."""
    seconds, stdout = timed(
        [
            sys.executable,
            __file__,
            "--official-loop",
            str(model_dir),
            str(data),
            str(out_file),
            device,
            dtype,
        ],
        env=bench_common.OFFICIAL_ENV,
    )
    report = json.loads(stdout.strip().splitlines()[-1])
    return seconds, report["model_seconds"], report["scores"]


def qbench_run(
    model_dir: Path, data: Path, out: Path, batch_size: int, options: list[str]
) -> tuple[float, list[float]]:
    shutil.rmtree(out, ignore_errors=True)
    seconds, _ = timed(
        [
            sys.executable,
            "-m",
            "qbench",
            "-q",
            "run",
            "a3",
            "--model",
            f"hf:{model_dir}",
            "--data",
            str(data),
            "--out",
            str(out),
            "--batch-size",
            str(batch_size),
            "--no-cache",
            "-T",
            "bootstrap=0",
            *options,
        ]
    )
    (records,) = out.rglob("records.jsonl")
    by_id = {json.loads(line)["id"]: json.loads(line)["score"] for line in records.read_text().splitlines()}
    return seconds, [by_id[item["img_path"]] for item in json.loads(data.read_text())]


def peak_memory(model_dir: Path, photo_dir: Path, samples: int, work: Path) -> float:
    """Peak RSS (MB) of a qbench A3 run over ``samples`` items (small images, reused), in a fresh process."""
    small = work / f"mem{samples}"
    small.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        Image.open(next(photo_dir.glob("*.jpg"))).convert("RGB").resize((320, 240)).save(small / f"s{i}.jpg")
    items = [{"img_path": f"s{i % 8}.jpg", "gt_score": float(i % 5)} for i in range(samples)]
    data = small / "mem.json"
    data.write_text(json.dumps(items))
    code = (
        "import resource, sys, qbench\n"
        f"qbench.evaluate('a3', 'hf:{model_dir}', '{data}', out='{small / 'runs'}', batch_size=16, cache=False,"
        " task_options={'bootstrap': '0'}, progress=False)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    if out.returncode:
        raise SystemExit(out.stderr)
    return float(out.stdout.strip().splitlines()[-1])


def correlations(data: Path, scores: list[float]) -> tuple[str, str]:
    """SRCC and PLCC against the MOS, as the result tables print them (4 places)."""
    from scipy.stats import pearsonr, spearmanr

    mos = [item["gt_score"] for item in json.loads(data.read_text())]
    return f"{spearmanr(scores, mos)[0]:.4f}", f"{pearsonr(scores, mos)[0]:.4f}"


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "--official-loop":
        model_dir, data, out_file, device, dtype = sys.argv[2:]
        _, model_s, scores = official_style(Path(model_dir), Path(data), Path(out_file), device, dtype)
        print(json.dumps({"model_seconds": model_s, "scores": scores}))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--megapixels", type=float, default=6.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--skip-memory", action="store_true")
    add_model_arguments(parser)
    args = parser.parse_args()
    official_threads = bench_common.official_threads(args)

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    model_dir = model_folder(args)
    data = make_photos(work / f"a3-photos-{args.megapixels}mp-{args.images}", args.images, args.megapixels)
    print(
        f"model: {model_dir}  device: {args.device}  dtype: {args.dtype}  "
        f"official loop's torch threads: {official_threads}\n"
        f"images: {args.images} JPEGs of {args.megapixels} MP, batch {args.batch_size}, cpus: {os.cpu_count()}"
    )
    n = args.images
    ratios = []
    for run in range(1, args.repeat + 1):
        official_s, model_s, official_scores = official_process(
            model_dir, data, work / "official-a3.jsonl", args.device, args.dtype
        )
        qbench_s, qbench_scores = qbench_run(
            model_dir, data, work / "runs-a3", args.batch_size, bench_common.model_options(args)
        )
        diff = float(np.max(np.abs(np.array(official_scores) - np.array(qbench_scores))))
        same = "identical" if diff == 0 else SAME_THREADS_HINT
        official_r, qbench_r = correlations(data, official_scores), correlations(data, qbench_scores)
        ratios.append(official_s / qbench_s)
        print(
            f"run {run}: official-style {official_s:7.2f} s {n / official_s:6.2f} img/s "
            f"(model forward {model_s:.2f} s, harness {(official_s - model_s) / n * 1000:.1f} ms/img)  |  "
            f"qbench {qbench_s:7.2f} s {n / qbench_s:6.2f} img/s  |  speed-up {official_s / qbench_s:.2f}x  |  "
            f"max |score difference| {diff:.2e} ({same}), SRCC/PLCC official {'/'.join(official_r)}, "
            f"qbench {'/'.join(qbench_r)}, score spread {np.ptp(official_scores):.1e}"
        )
    if args.repeat > 1:
        print(f"speed-up over {args.repeat} runs: {spread(ratios)}")
    if not args.skip_memory:
        for samples in (1000, 10000):
            print(
                f"qbench peak memory, {samples:>6} samples: {peak_memory(model_dir, data.parent, samples, work):.0f} MB"
            )


if __name__ == "__main__":
    main()
