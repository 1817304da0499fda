"""Several runs, one report: dataset suites (``--data koniq,spaq`` or ``--data qbench-a3``) and ``qbench bench``.

Each (task, dataset) is an ordinary run (resumable, cached, its own folder). Datasets that are not installed
are listed with the command that installs them, and the rest runs; one table in the official layout (A3:
one SRCC/PLCC column per database and the average) closes the output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click

from qbench.errors import CapabilityError, DataError, QBenchError
from qbench.options import flag_pairs

log = logging.getLogger("qbench")
A1_SINGLE = ("llvisionqa-dev", "qbench-hf-dev")  # the first installed one is used
A1_PAIRS = ("qbench2-dev", "qbench2-hf-dev")
A2_DATA = "lldescribe"
A3_SUITE = "qbench-a3"


@dataclass
class SuiteOutcome:
    """The finished runs, the datasets that are missing (with their install command), and the failures."""

    runs: list[Any] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # the model cannot do that task at all
    notes: list[str] = field(default_factory=list)


def suite_members(spec: Any) -> list[str] | None:
    """The datasets of a suite spec (a comma list or a suite name); None for a single dataset."""
    if not isinstance(spec, str) or Path(spec).exists():
        return None
    if "," in spec:
        return [part.strip() for part in spec.split(",") if part.strip()]
    from qbench.catalog.registry import load_catalog

    suites = load_catalog().suites
    return list(suites[spec]) if spec in suites else None


def missing_command(name: str) -> str | None:
    """The install command of a catalog dataset that is not usable here; None when installed or not ours."""
    from qbench.catalog.home import status
    from qbench.catalog.registry import load_catalog

    hit = load_catalog().view(name)
    if hit is None:
        return None
    state = status(hit[0])
    return hit[0].get_command() if state.state in ("missing", "broken") else None


def run_many(plan: list[tuple[Any, str]]) -> SuiteOutcome:
    """Run each (config, label); missing datasets are listed, a failed run is reported and the rest go on."""
    from qbench.runner import run as run_task
    from qbench.store import load_run

    outcome = SuiteOutcome()
    for config, label in plan:
        command = missing_command(str(config.data))
        if command is not None:
            outcome.missing.append((label, command))
            continue
        try:
            result = run_task(config)
        except KeyboardInterrupt:
            raise
        except CapabilityError as exc:
            outcome.skipped.append((label, exc.one_line()))
            continue
        except QBenchError as exc:
            outcome.failed.append((label, exc.one_line()))
            continue
        outcome.runs.append(load_run(result.path))
    return outcome


def print_outcome(outcome: SuiteOutcome) -> int:
    """One report for all runs; the missing and failed datasets after it. Returns the exit code."""
    from qbench.report.render import console as make_console
    from qbench.report.render import rich_tables
    from qbench.report.rows import run_rows

    console = make_console()
    if outcome.runs:
        for table in rich_tables(run_rows(outcome.runs)):
            console.print(table)
        for run in outcome.runs:
            console.print(f"run: {run.path}")
    for note in outcome.notes:
        click.echo(note, err=True)
    for label, command in outcome.missing:
        click.echo(f"missing: {label} (install it: {command})", err=True)
    for label, line in outcome.skipped:
        click.echo(f"skipped: {label}: {line}", err=True)
    for label, line in outcome.failed:
        click.echo(f"failed: {label}: {line}", err=True)
    if not outcome.runs:
        if outcome.failed:
            return 1
        raise DataError("none of these datasets is installed; nothing was run")
    return 1 if outcome.failed else 0


def run_suite(config: Any, members: list[str]) -> int:
    """``qbench run TASK --data a,b,c``: one run per dataset, one table."""
    plan = [(replace(config, data=member), f"{config.task} {member}") for member in members]
    return print_outcome(run_many(plan))


def _installed(name: str) -> bool:
    return missing_command(name) is None


def bench_plan(base: Any, judge: str | None, a2_data: str | None) -> tuple[list[tuple[Any, str]], list[str]]:
    """The standard evaluation: A1 dev single and pairs, A3 on every installed database, A2 with a judge."""
    from qbench.catalog.registry import load_catalog

    plan: list[tuple[Any, str]] = []
    notes: list[str] = []
    for names, label in ((A1_SINGLE, "A1 single"), (A1_PAIRS, "A1 pairs")):
        name = next((n for n in names if _installed(n)), names[0])
        plan.append((replace(base, task="a1", data=name, split="dev"), f"{label} ({name})"))
    for member in load_catalog().suites[A3_SUITE]:
        plan.append((replace(base, task="a3", data=member), f"A3 {member}"))
    if judge is not None:
        data = a2_data or A2_DATA
        use_judge: str | None = judge
        if _installed(data) and not _has_references(data):
            notes.append(
                f"A2: {data} has no public reference descriptions, so it was described but not judged; "
                "export the descriptions with `qbench report RUN --format submission`, or give --a2-data FILE "
                "with golden_description fields"
            )
            use_judge = None
        plan.append((replace(base, task="a2", data=data, judge=use_judge), f"A2 ({data})"))
    return plan, notes


def _has_references(name: str) -> bool:
    from qbench.data.dataset import load_dataset

    try:
        dataset = load_dataset(name)
    except QBenchError:
        return True  # let the run itself report the problem
    return any(getattr(s, "reference", None) is not None for s in dataset.samples)


@click.command()
@click.argument("model")
@click.option(
    "--judge", default=None, help="A generating model that judges A2 descriptions (A2 runs only then)."
)
@click.option("--a2-data", default=None, help="A2 data with reference descriptions (default: lldescribe).")
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), default=None, help="Runs folder (default ./runs)."
)
@click.option("--limit", type=int, default=None, help="Only the first N samples of each dataset.")
@click.option("--batch-size", type=int, default=None)
@click.option("--concurrency", type=int, default=None)
@click.option(
    "--api-base", default=None, help="Base URL of an OpenAI-compatible server (else OPENAI_BASE_URL)."
)
@click.option("-M", "model_options", multiple=True, help="Model option key=value (repeatable).")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None)
def bench(
    model: str,
    judge: str | None,
    a2_data: str | None,
    config_file: Path | None,
    model_options: tuple[str, ...],
    **flags: Any,
) -> None:
    """The standard evaluation of MODEL in one command: A1 dev (single and pairs), A3 on every installed
    database, A2 when --judge is given. Missing datasets are listed with the commands that get them."""
    from qbench.config import layered

    base = layered(
        {
            "task": "a3",
            "model": model,
            "data": "-",
            "model_options": flag_pairs(model_options, "-M"),
            **flags,
        },
        config_file,
    )
    plan, notes = bench_plan(base, judge, a2_data)
    outcome = run_many(plan)
    outcome.notes += notes
    raise SystemExit(print_outcome(outcome))
