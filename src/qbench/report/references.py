"""Published Q-Bench numbers, as data, and as report rows that leaderboards can show beside your own runs.

Everything here is copied from protocol.md (sections 1.4, 4.5 and 5), which cites the papers and the
official leaderboard files; values are stored as printed there and turned into fractions (accuracies) or
kept as they are (correlations, A2 scores) by :func:`reference_rows`. Each row says ``"reference": True`` and
where it comes from, so a leaderboard can mark it and nobody mistakes it for a run of theirs.

Rows with only an overall number (the paper lists many models by their overall accuracy alone) carry only
``accuracy``; the other columns are absent rather than guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qbench.data.databases import DATABASES
from qbench.report.leaderboard import A1_PAIR_COLUMNS, A1_SINGLE_COLUMNS

__all__ = [
    "A1_PAIR_FULL",
    "A1_PAIR_KEYS",
    "A1_PAIR_OVERALL",
    "A1_PPL_OVERALL",
    "A1_RANDOM_SINGLE",
    "A1_SINGLE_FULL",
    "A1_SINGLE_KEYS",
    "A1_SINGLE_OVERALL",
    "A2_PAIR",
    "A2_SINGLE",
    "A3_AVERAGES",
    "A3_DATABASES",
    "A3_TABLE",
    "SOURCES",
    "reference_rows",
]

# Column keys (protocol 8.10) in the order of the official tables (1.4, 2.3).
A1_SINGLE_KEYS = tuple(key for key, _ in A1_SINGLE_COLUMNS)
A1_PAIR_KEYS = tuple(key for key, _ in A1_PAIR_COLUMNS)

SOURCES = {
    "a1": "Q-Bench+ paper Table II = official leaderboard CSVs qbench_a1_single_{dev,test}.csv (protocol.md 5)",
    "a1-pair": "Q-Bench+ paper Table III = official leaderboard CSVs qbench_a1_pair_{dev,test}.csv (protocol.md 5)",
    "a1-random": "Q-Bench leaderboard README at commit 42259df, 'random guess' (protocol.md 1.4)",
    "a1-ppl": "Q-Bench leaderboard README at commit 42259df, A1 via losses of answers (protocol.md 5)",
    "a2": "Q-Bench+ paper Tables IV-V = qbench_a2_{single,pair}.csv (protocol.md 5)",
    "a3": "Q-Bench+ paper Table VI = official leaderboard CSV qbench_a3_single.csv (protocol.md 4.5)",
}

# Sizes of the published sets (protocol 1.1, 2.1, 3, 4.2).
A1_SIZES = {("single", "dev"): 1495, ("single", "test"): 1495, ("pair", "dev"): 1000, ("pair", "test"): 999}
A2_SIZES = {"single": 499, "pair": 450}

# --- A1, single images (percent, as printed) ------------------------------------------------------------
# Yes-or-No | What | How | Distortion | Other | In-context Distortion | In-context Other | Overall
A1_SINGLE_FULL: dict[str, dict[str, tuple[float, ...]]] = {
    "dev": {
        "LLaVA-v1.5-7B": (66.36, 58.19, 50.51, 49.42, 65.74, 54.61, 70.61, 58.66),
        "LLaVA-v1.5-13B": (65.27, 64.38, 56.59, 56.03, 67.13, 61.18, 67.35, 62.14),
        "mPLUG-Owl2": (72.18, 57.96, 56.19, 56.68, 69.21, 53.29, 72.65, 61.61),
        "InternLM-XComposer-VL": (69.45, 65.27, 60.85, 61.67, 70.14, 56.91, 75.10, 65.35),
        "Qwen-VL": (63.09, 58.19, 56.39, 50.58, 62.73, 57.89, 73.88, 59.40),
    },
    "test": {
        "LLaVA-v1.5-7B": (64.60, 59.22, 55.76, 47.98, 67.30, 58.90, 73.76, 60.07),
        "LLaVA-v1.5-13B": (64.96, 64.86, 54.12, 53.55, 66.59, 58.90, 71.48, 61.40),
        "mPLUG-Owl2": (72.26, 55.53, 58.64, 52.59, 71.36, 58.90, 73.00, 62.68),
        "InternLM-XComposer-VL": (68.43, 62.04, 61.93, 56.81, 70.41, 57.53, 77.19, 64.35),
        "Qwen-VL": (65.33, 60.74, 58.44, 54.13, 66.35, 58.22, 73.00, 61.67),
    },
}
# Overall accuracy only (percent).
A1_SINGLE_OVERALL: dict[str, dict[str, float]] = {
    "dev": {
        "SPHINX": 68.56,
        "Emu2-Chat": 65.28,
        "BakLLava": 57.48,
        "InfiMM": 53.37,
        "Fuyu-8B": 45.05,
        "IDEFICS-Instruct": 48.70,
        "Shikra": 54.65,
        "Otter-v1": 46.35,
        "InstructBLIP-T5-XL": 61.47,
        "InstructBLIP-Vicuna-7B": 56.72,
        "VisualGLM-6B": 53.78,
        "mPLUG-Owl": 55.38,
        "LLaMA-Adapter-V2": 59.46,
        "LLaVA-v1": 54.18,
        "MiniGPT-4": 49.03,
        "Qwen-VL-Plus": 66.04,
        "Qwen-VL-Max": 73.63,
        "Gemini-Pro": 68.16,
        "GPT-4V": 74.51,
    },
    "test": {
        "SPHINX": 67.69,
        "Emu2-Chat": 64.32,
        "BakLLava": 61.02,
        "InfiMM": 56.05,
        "Fuyu-8B": 45.75,
        "IDEFICS-Instruct": 51.51,
        "Shikra": 55.32,
        "Otter-v1": 47.22,
        "InstructBLIP-T5-XL": 61.94,
        "InstructBLIP-Vicuna-7B": 55.85,
        "VisualGLM-6B": 53.31,
        "mPLUG-Owl": 58.93,
        "LLaMA-Adapter-V2": 58.06,
        "LLaVA-v1": 54.72,
        "MiniGPT-4": 51.77,
        "Qwen-VL-Plus": 68.93,
        "Qwen-VL-Max": 73.90,
        "Gemini-Pro": 69.46,
        "GPT-4V": 74.10,
        "Human (junior)": 74.31,
        "Human (senior)": 81.74,
    },
}
# The "random guess" rows (fractions, as printed; protocol 1.4), all eight columns.
A1_RANDOM_SINGLE: dict[str, tuple[float, ...]] = {
    "dev": (0.5000, 0.2786, 0.3331, 0.3789, 0.3848, 0.3828, 0.3582, 0.3780),
    "test": (0.5000, 0.2848, 0.3330, 0.3724, 0.3850, 0.3913, 0.3710, 0.3794),
}

# --- A1, pairs (percent) -------------------------------------------------------------------------------
# Yes-or-No | What | How | Distortion | Other | Compare | Joint | Overall
A1_PAIR_FULL: dict[str, dict[str, tuple[float, ...]]] = {
    "dev": {"LLaVA-v1.5-7B": (60.46, 42.85, 41.53, 47.88, 51.89, 46.55, 59.57, 49.32)},
    "test": {
        "LLaVA-v1.5-7B": (60.72, 42.37, 50.17, 49.15, 59.86, 52.97, 49.77, 52.25),
        "LLaVA-v1.5-13B": (57.34, 47.45, 49.13, 49.01, 59.51, 52.06, 52.00, 52.05),
    },
}
A1_PAIR_OVERALL: dict[str, dict[str, float]] = {
    "dev": {
        "LLaVA-v1.5-13B": 49.85,
        "mPLUG-Owl2": 49.85,
        "mPLUG-Owl2 (Q-Instruct)": 50.54,
        "BakLLava": 50.94,
        "Emu2-Chat": 50.05,
        "Fuyu-8B": 49.15,
        "InfiMM": 42.95,
        "GPT-4V": 76.52,
        "random guess": 39.60,
    },
    "test": {
        "mPLUG-Owl2": 48.94,
        "mPLUG-Owl2 (Q-Instruct)": 53.15,
        "BakLLava": 52.75,
        "GPT-4V": 78.07,
        "random guess": 39.82,
    },
}

# --- A1 close-set (perplexity) pipeline, overall only (percent; protocol 1.7, 5) --------------------------
A1_PPL_OVERALL: dict[str, dict[str, float]] = {
    "dev": {
        "IDEFICS": 53.18,
        "InstructBLIP-T5": 49.36,
        "LLaVA-v1.5": 48.63,
        "mPLUG-Owl": 53.78,
        "Shikra": 55.25,
    },
    "test": {
        "IDEFICS": 54.58,
        "InstructBLIP-T5": 51.84,
        "LLaVA-v1.5": 53.38,
        "mPLUG-Owl": 56.19,
        "Shikra": 54.78,
    },
}

# --- A2 (completeness, precision, relevance, sum; 0-2 each, sum 0-6) --------------------------------------
A2_SINGLE: dict[str, tuple[float, float, float, float]] = {
    "InternLM-XComposer-VL": (1.08, 1.26, 1.87, 4.21),
    "Emu2-Chat": (1.07, 1.24, 1.88, 4.19),
    "Kosmos-2": (1.12, 1.06, 1.85, 4.03),
    "LLaVA-v1.5-13B": (0.91, 1.28, 1.29, 3.47),
    "mPLUG-Owl2": (1.06, 1.24, 1.36, 3.67),
    "Qwen-VL": (0.98, 0.75, 1.63, 3.36),
}
A2_PAIR: dict[str, tuple[float, float, float, float]] = {
    "mPLUG-Owl2 (Q-Instruct)": (1.02, 0.79, 1.87, 3.69),
    "LLaVA-v1.5-13B": (0.89, 0.92, 1.63, 3.44),
}
A2_KEYS = ("completeness", "precision", "relevance", "sum")

# --- A3 (SRCC, PLCC) per database, in the official column order; then the published average -------------
A3_DATABASES = ("koniq", "spaq", "flive", "livec", "cgi", "agi", "kadid")
_A3_ROWS = """
NIQE 0.316/0.377 0.693/0.669 0.211/0.288 0.480/0.451 0.075/0.056 0.562/0.517 0.374/0.428 0.387/0.398
CLIP-ViT-L/14 0.468/0.505 0.385/0.389 0.218/0.237 0.307/0.308 0.285/0.290 0.436/0.458 0.376/0.388 0.354/0.368
InfiMM 0.507/0.547 0.616/0.633 0.269/0.299 0.548/0.580 0.229/0.245 0.706/0.767 0.466/0.452 0.477/0.503
Emu2-Chat 0.664/0.714 0.712/0.698 0.355/0.341 0.597/0.611 0.224/0.269 0.759/0.751 0.841/0.790 0.593/0.596
Fuyu-8B 0.124/0.123 0.125/0.179 0.164/0.133 0.225/0.176 0.118/0.116 0.368/0.317 0.099/0.088 0.174/0.161
BakLLava 0.389/0.390 0.406/0.398 0.227/0.216 0.335/0.337 0.179/0.209 0.542/0.561 0.344/0.361 0.346/0.353
mPLUG-Owl2 0.196/0.252 0.589/0.614 0.217/0.286 0.293/0.342 -0.024/-0.032 0.473/0.492 0.541/0.546 0.326/0.357
LLaVA-v1.5-7B 0.463/0.459 0.443/0.467 0.305/0.321 0.344/0.358 0.321/0.333 0.672/0.738 0.417/0.440 0.424/0.445
LLaVA-v1.5-13B 0.448/0.460 0.563/0.584 0.310/0.339 0.445/0.481 0.285/0.297 0.664/0.754 0.390/0.400 0.444/0.474
InternLM-XComposer-VL 0.564/0.615 0.730/0.750 0.360/0.416 0.612/0.676 0.243/0.265 0.732/0.775 0.546/0.572 0.541/0.581
IDEFICS-Instruct 0.375/0.400 0.474/0.484 0.235/0.240 0.409/0.428 0.244/0.227 0.562/0.622 0.370/0.373 0.381/0.396
Qwen-VL 0.470/0.546 0.676/0.669 0.298/0.338 0.504/0.532 0.273/0.284 0.617/0.686 0.486/0.486 0.475/0.506
Shikra 0.314/0.307 0.320/0.337 0.237/0.241 0.322/0.336 0.198/0.201 0.640/0.661 0.324/0.332 0.336/0.345
Otter-v1 0.406/0.406 0.436/0.441 0.143/0.142 -0.008/0.018 0.254/0.264 0.475/0.481 0.557/0.577 0.323/0.333
Kosmos-2 0.255/0.281 0.644/0.641 0.196/0.195 0.358/0.368 0.210/0.225 0.489/0.491 0.359/0.365 0.359/0.367
InstructBLIP-T5-XL 0.334/0.362 0.582/0.599 0.248/0.267 0.113/0.113 0.167/0.188 0.378/0.400 0.211/0.179 0.290/0.301
InstructBLIP-Vicuna-7B 0.359/0.437 0.683/0.689 0.200/0.283 0.253/0.367 0.263/0.304 0.629/0.663 0.337/0.382 0.389/0.446
VisualGLM-6B 0.247/0.234 0.498/0.507 0.146/0.154 0.110/0.116 0.209/0.183 0.342/0.349 0.127/0.131 0.240/0.239
mPLUG-Owl 0.409/0.427 0.634/0.644 0.241/0.271 0.437/0.487 0.148/0.180 0.687/0.711 0.466/0.486 0.432/0.458
LLaMA-Adapter-V2 0.354/0.363 0.464/0.506 0.275/0.329 0.298/0.360 0.257/0.271 0.604/0.666 0.412/0.425 0.381/0.417
LLaVA-v1 0.462/0.457 0.442/0.462 0.264/0.280 0.404/0.417 0.208/0.237 0.626/0.684 0.349/0.372 0.394/0.416
MiniGPT-4 0.239/0.257 0.238/0.253 0.170/0.183 0.339/0.340 0.252/0.246 0.572/0.591 0.239/0.233 0.293/0.300
"""


def _parse_a3(text: str) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, tuple[float, float]]]:
    table: dict[str, dict[str, tuple[float, float]]] = {}
    averages: dict[str, tuple[float, float]] = {}
    for line in text.strip().splitlines():
        model, *cells = line.rsplit(" ", len(A3_DATABASES) + 1)
        pairs = [tuple(float(v) for v in cell.split("/")) for cell in cells]
        table[model] = {db: (p[0], p[1]) for db, p in zip(A3_DATABASES, pairs[:-1])}
        averages[model] = (pairs[-1][0], pairs[-1][1])
    return table, averages


#: model -> database -> (SRCC, PLCC); and model -> the published (SRCC, PLCC) average over the seven.
A3_TABLE, A3_AVERAGES = _parse_a3(_A3_ROWS)


def _row(
    task: str,
    model: str,
    dataset: str,
    split: str | None,
    n: int | None,
    metrics: dict[str, Any],
    source: str,
) -> dict[str, Any]:
    return {
        "task": task,
        "model": model,
        "dataset": dataset,
        "split": split,
        "n": n,
        "metrics": metrics,
        "path": None,
        "status": "reference",
        "reference": True,
        "source": source,
    }


def _fraction(percent: float) -> float:
    return round(percent / 100, 6)


def _a1_rows(splits: Sequence[str], *, pairs: bool | None, ppl: bool) -> list[dict[str, Any]]:
    rows = []
    for split in splits:
        if pairs in (None, False):
            n = A1_SIZES[("single", split)]
            for model, values in A1_SINGLE_FULL[split].items():
                metrics = {k: _fraction(v) for k, v in zip(A1_SINGLE_KEYS, values)}
                rows.append(_row("a1", model, "llvisionqa", split, n, metrics, SOURCES["a1"]))
            for model, overall in A1_SINGLE_OVERALL[split].items():
                rows.append(
                    _row("a1", model, "llvisionqa", split, n, {"accuracy": _fraction(overall)}, SOURCES["a1"])
                )
            random_guess = dict(zip(A1_SINGLE_KEYS, A1_RANDOM_SINGLE[split]))
            rows.append(
                _row("a1", "random guess", "llvisionqa", split, n, random_guess, SOURCES["a1-random"])
            )
            if ppl:
                for model, overall in A1_PPL_OVERALL[split].items():
                    rows.append(
                        _row(
                            "a1",
                            f"{model} (PPL)",
                            "llvisionqa",
                            split,
                            n,
                            {"accuracy": _fraction(overall)},
                            SOURCES["a1-ppl"],
                        )
                    )
        if pairs in (None, True):
            n = A1_SIZES[("pair", split)]
            for model, values in A1_PAIR_FULL[split].items():
                metrics = {k: _fraction(v) for k, v in zip(A1_PAIR_KEYS, values)}
                rows.append(_row("a1", model, "qbench2", split, n, metrics, SOURCES["a1-pair"]))
            for model, overall in A1_PAIR_OVERALL[split].items():
                rows.append(
                    _row(
                        "a1", model, "qbench2", split, n, {"accuracy": _fraction(overall)}, SOURCES["a1-pair"]
                    )
                )
    for row in rows:
        row["pair"] = row["dataset"] == "qbench2"
    return rows


def _a2_rows(pairs: bool | None) -> list[dict[str, Any]]:
    rows = []
    for is_pair, table in ((False, A2_SINGLE), (True, A2_PAIR)):
        if pairs is not None and pairs != is_pair:
            continue
        dataset = "lldescribe-pair" if is_pair else "lldescribe"
        size = A2_SIZES["pair" if is_pair else "single"]
        for model, values in table.items():
            row = _row("a2", model, dataset, None, size, dict(zip(A2_KEYS, values)), SOURCES["a2"])
            row["pair"] = is_pair
            rows.append(row)
    return rows


def _a3_rows() -> list[dict[str, Any]]:
    return [
        _row("a3", model, db, None, DATABASES[db].size, {"srcc": srcc, "plcc": plcc}, SOURCES["a3"])
        for model, cells in A3_TABLE.items()
        for db, (srcc, plcc) in cells.items()
    ]


def reference_rows(
    task: str | None = None, *, split: str | None = None, pairs: bool | None = None, ppl: bool = False
) -> list[dict[str, Any]]:
    """Published rows in the shape of :func:`qbench.report.rows.run_rows`, each marked ``reference: True``.

    ``task`` ("a1", "a2", "a3"; None for all), ``split`` (A1: "dev"/"test"; None for both), ``pairs`` (A1/A2:
    True for pairs only, False for single images only), ``ppl`` (A1: add the close-set pipeline's rows).
    A1 accuracies are fractions; A1 single rows use the dataset name ``llvisionqa``, pair rows ``qbench2``
    (the names ``qbench import a1`` gives by default); A3 rows use the database names of
    :mod:`qbench.data.databases`, one row per (model, database).
    """
    if task not in (None, "a1", "a2", "a3"):
        raise ValueError(f"no published numbers for task {task!r}")
    if split not in (None, "dev", "test"):
        raise ValueError(f"unknown split {split!r}")
    splits = [split] if split else ["dev", "test"]
    rows: list[dict[str, Any]] = []
    if task in (None, "a1"):
        rows += _a1_rows(splits, pairs=pairs, ppl=ppl)
    if task in (None, "a2"):
        rows += _a2_rows(pairs)
    if task in (None, "a3"):
        rows += _a3_rows()
    return rows
