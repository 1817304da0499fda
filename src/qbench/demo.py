"""``qbench demo``: the whole tool, offline, in about a minute, on built-in data and baselines.

It runs A3 on the synthetic quality set with NIQE, BRISQUE and the random floor, and A1 (single images and
pairs) with the random floor (the only built-in model that can answer questions: a real MLLM needs
``hf:`` or ``openai:``), then writes a markdown and an HTML report and prints where everything is.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from qbench.config import RunConfig
from qbench.data.jsonfile import write_text_atomic
from qbench.report.render import console as make_console
from qbench.report.render import render, rich_tables
from qbench.report.rows import run_rows
from qbench.runner import run
from qbench.store import load_run

log = logging.getLogger("qbench")

DEMO_RUNS = (
    ("a3", "niqe", "synthetic-iqa"),
    ("a3", "brisque", "synthetic-iqa"),
    ("a3", "random", "synthetic-iqa"),
    ("a1", "random", "synthetic"),
    ("a1", "random", "synthetic-pair"),
)


def run_demo(out: Path) -> Path:
    """Run the demo into ``out``; returns the HTML report's path."""
    console = make_console()
    started = time.monotonic()
    console.print(f"[bold]qbench demo[/bold]: built-in synthetic data, classical baselines, offline -> {out}")
    paths = []
    for task, model, data in DEMO_RUNS:
        result = run(RunConfig(task=task, model=model, data=data, out=out / "runs", progress=False))
        paths.append(result.path)
        console.print(f"  {task} {model:8} on {data:15} done ({result.summary.get('seconds', 0):.1f} s)")
    rows = run_rows([load_run(p) for p in paths])
    for table in rich_tables(rows):
        console.print(table)
    markdown = out / "report.md"
    html = out / "report.html"
    write_text_atomic(markdown, render(rows, "md"))
    write_text_atomic(html, render(rows, "html"))
    console.print(
        "The random model is a floor, not an MLLM: try `qbench run a1 --model hf:PATH --data synthetic` "
        "or `--model openai:NAME` to see a real model here."
    )
    console.print(f"report: {html.resolve()}  (markdown: {markdown})")
    console.print(f"runs:   {(out / 'runs').resolve()}  — finished in {time.monotonic() - started:.0f} s")
    return html
