"""The ``qbench`` command: a thin layer that builds a RunConfig (or arguments) and calls the Python API.

Errors: a :class:`QBenchError` becomes one line on stderr and its exit code (2 usage/data, 1 runtime);
anything else is a bug, shown as one line unless ``--debug`` asks for the traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from qbench.errors import QBenchError, UsageError
from qbench.options import flag_pairs as _pairs  # -M/-J/-T key=value flags
from qbench.version import __version__

log = logging.getLogger("qbench")


class TaskChoice(click.Choice):
    """The registered tasks (``qbench list tasks``), read from the task registry when first needed; with
    ``hook``, only the tasks that registered it (e.g. an ``importer``)."""

    def __init__(self, hook: str | None = None) -> None:
        super().__init__([])
        self.hook = hook
        self._names: list[str] | None = None

    @property  # type: ignore[override]
    def choices(self) -> list[str]:
        if self._names is None:
            from qbench.registry import TASKS

            names = TASKS.names()
            self._names = [n for n in names if self.hook is None or TASKS.hook(n, self.hook)]
        return self._names

    @choices.setter
    def choices(self, value: object) -> None:  # click's __init__ sets it; the registry is the source
        del value


def _setup_logging(quiet: bool, debug: bool) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    # logs and progress go to stderr: stdout carries only results (tables, reports), so it can be piped
    handler = RichHandler(
        console=Console(stderr=True), show_time=False, show_path=False, markup=False, rich_tracebacks=debug
    )
    logger = logging.getLogger("qbench")
    from qbench.redact import RedactFilter

    handler.addFilter(RedactFilter())
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="qbench")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Q-Bench for multimodal LLMs on low-level vision (the tasks: qbench list tasks)."""
    ctx.obj = {"debug": debug}
    _setup_logging(quiet, debug)


def _allow_outside_images(allow: bool) -> None:
    if allow:
        import os

        from qbench.data.containment import ALLOW_ENV

        os.environ[ALLOW_ENV] = "1"


ALLOW_OUTSIDE = click.option(
    "--allow-outside-images",
    is_flag=True,
    default=False,
    help="Read image paths that leave the data folder (../, absolute); refused by default.",
)


# -- run ---------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("task", type=TaskChoice())
@click.option("--model", "-m", help="hf:ID_OR_PATH, openai:MODEL, niqe, brisque, random, py:module:Class")
@click.option(
    "--data",
    "-d",
    help="A data file or folder, or a built-in name (synthetic, synthetic-pair, synthetic-iqa).",
)
@click.option(
    "--split",
    type=click.Choice(["dev", "test"]),
    default=None,
    help="The split, where the data has them (default dev).",
)
@click.option("--judge", help="A generating model that judges the replies (tasks that use a judge).")
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), default=None, help="Runs folder (default ./runs)."
)
@click.option("--limit", type=int, default=None, help="Only the first N samples.")
@click.option("--batch-size", type=int, default=None)
@click.option("--concurrency", type=int, default=None, help="Requests in flight for API models (default 16).")
@click.option(
    "--decode-threads", type=int, default=None, help="Image decode threads (default: CPU count, at most 8)."
)
@click.option(
    "--ray-workers",
    type=int,
    default=None,
    help="Model replicas under --executor ray (default: one per GPU, else one per CPU).",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Deprecated: --decode-threads locally, --ray-workers under Ray.",
)
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None)
@click.option("--shard", default=None, help="K/N: run the K-th of N deterministic slices (merge them after).")
@click.option("--no-cache", is_flag=True, default=None, help="Do not read or write the response cache.")
@click.option(
    "--images",
    type=click.Path(path_type=Path),
    default=None,
    help="Image folder (default: beside the data file).",
)
@click.option(
    "--format",
    "data_format",
    default=None,
    help="Force the data format (e.g. mos-json, llvisionqa, hf-parquet).",
)
@click.option(
    "--lang",
    type=click.Choice(["en", "zh"]),
    default=None,
    help="Instruction language, where a task has two.",
)
@click.option("--image-column", default=None, help="CSV column with image paths.")
@click.option("--mos-column", default=None, help="CSV column with opinion scores.")
@click.option("--encoding", default=None, help="Text encoding of a CSV data file (default UTF-8).")
@click.option(
    "--api-base", default=None, help="Base URL of an OpenAI-compatible server (else OPENAI_BASE_URL)."
)
@click.option("-M", "model_options", multiple=True, help="Model option key=value (repeatable).")
@click.option("-J", "judge_options", multiple=True, help="Judge model option key=value (repeatable).")
@click.option("-T", "task_options", multiple=True, help="Task option key=value (repeatable).")
@click.option(
    "--preset",
    default=None,
    help="A published protocol preset of the task (split lists, resize, fit, scoring): the same as -T preset=NAME.",
)
@click.option(
    "--config", "config_file", type=click.Path(path_type=Path), default=None, help="TOML file of settings."
)
@ALLOW_OUTSIDE
def run(
    task: str,
    preset: str | None,
    model: str | None,
    data: str | None,
    config_file: Path | None,
    no_cache: bool | None,
    data_format: str | None,
    model_options: tuple[str, ...],
    judge_options: tuple[str, ...],
    task_options: tuple[str, ...],
    allow_outside_images: bool,
    **flags: Any,
) -> None:
    """Run (or resume) TASK with a model on a dataset; prints the metrics and the run folder."""
    from qbench.config import layered

    _allow_outside_images(allow_outside_images)
    from qbench.runner import run as run_task

    if preset is not None:  # a task option like any other (the task says which presets it knows)
        task_options = (*task_options, f"preset={preset}")

    config = layered(
        {
            "task": task,
            "model": model,
            "data": data,
            "format": data_format,
            "cache": False if no_cache else None,
            "model_options": _pairs(model_options, "-M"),
            "judge_options": _pairs(judge_options, "-J"),
            "task_options": _pairs(task_options, "-T"),
            **flags,
        },
        config_file,
    )
    from qbench.suites import run_suite, suite_members

    if (members := suite_members(config.data)) is not None:  # --data koniq,spaq or --data qbench-a3
        raise SystemExit(run_suite(config, members))
    _print_result(run_task(config))


def _print_result(result: Any) -> None:
    from qbench.report.render import console as make_console
    from qbench.report.render import rich_tables
    from qbench.report.rows import run_rows
    from qbench.store import load_run

    console = make_console()
    for table in rich_tables(run_rows([load_run(result.path)])):
        console.print(table)
    summary = result.summary
    if summary:
        console.print(
            f"{summary.get('samples')} samples ({summary.get('skipped_finished', 0)} already done, "
            f"{summary.get('cache_hits', 0)} from cache) in {summary.get('seconds')} s"
        )
    console.print(f"run: {result.path}")


def _print_runs(runs: list[Any]) -> None:
    """The runs' leaderboards and folders, after an import or a re-scoring."""
    from qbench.health import raise_if_unusable
    from qbench.report.render import console as make_console
    from qbench.report.render import rich_tables
    from qbench.report.rows import run_rows

    console = make_console()
    usable = [r for r in runs if r.complete]
    for table in rich_tables(run_rows(usable)) if usable else []:
        console.print(table)
    for r in runs:
        console.print(f"run: {r.path}")
    raise_if_unusable(runs)


# -- import ------------------------------------------------------------------------------------------------
@cli.command("import")
@click.argument("task", type=TaskChoice("importer"))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", required=True, help="The model's name in reports.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--positive", default=None, help="Scores from level words: the positive word (default good).")
@click.option("--negative", default=None, help="Scores from level words: the negative word (default poor).")
@click.option("--dataset", default=None, help="Dataset name (default: from the file name).")
@click.option(
    "--split", type=click.Choice(["dev", "test"]), default=None, help="The split (default: guessed)."
)
@click.option("--data", default=None, help="The question file, when the saved replies lack the questions.")
def import_(task: str, files: tuple[Path, ...], model: str, out: Path, **options: str | None) -> None:
    """Turn saved model outputs (official output files) into runs, scored without the model."""
    from qbench.importer import import_files

    given = {name: value for name, value in options.items() if value is not None}
    _print_runs(import_files(task, list(files), model=model, out=out, **given))


# -- score -------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--judge", default=None, help="Judge the stored responses with this model (tasks that use a judge)."
)
@click.option("-J", "judge_options", multiple=True, help="Judge model option key=value (repeatable).")
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), default=None, help="Runs folder for the new runs."
)
@click.option("--no-cache", is_flag=True, help="Do not read or write the response cache.")
def score(
    runs: tuple[Path, ...],
    judge: str | None,
    judge_options: tuple[str, ...],
    out: Path | None,
    no_cache: bool,
) -> None:
    """Score stored responses again (new rules, or a new --judge) into new runs; old runs stay as they are."""

    from qbench.models.identity import remembering
    from qbench.rescoring import score_paths

    with remembering():  # the judge's identity is computed once, as in a run
        new_runs = score_paths(
            list(runs), judge=judge, judge_options=_pairs(judge_options, "-J"), out=out, cache=not no_cache
        )
    _print_runs(new_runs)


# -- merge -------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), required=True, help="Runs folder for the merged run."
)
def merge(runs: tuple[Path, ...], out: Path) -> None:
    """Merge the shard runs of one configuration (--shard 1/N ... N/N) into one run."""
    from qbench.merge import merge_runs

    merged = merge_runs(list(runs), out)
    click.echo(
        f"merged {len(merged.manifest['merged_from'])} shards ({merged.manifest['n']} samples): {merged.path}"
    )


# -- cache -------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("action", type=click.Choice(["stats", "clear", "path"]))
def cache(action: str) -> None:
    """Inspect or clear the response cache (QBENCH_CACHE_DIR, else the user cache dir)."""
    from qbench.cache import ResponseCache, default_path

    if action == "path":
        click.echo(default_path())
        return
    store = ResponseCache()
    try:
        if action == "stats":
            stats = store.stats()
            click.echo(
                f"{stats['entries']} cached responses, {stats['bytes'] / 1e6:.1f} MB at {stats['path']}"
            )
        else:
            click.echo(f"removed {store.clear()} cached responses")
    finally:
        store.close()


# -- report ------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "md", "csv", "json", "html", "submission"]),
    default="table",
    show_default=True,
)
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="Write to this file.")
@click.option("--references/--no-references", default=False, help="Add the published reference rows.")
@click.option(
    "--compare", is_flag=True, help="Two runs (or folders of runs): paired differences with significance."
)
def report(paths: tuple[Path, ...], fmt: str, output: Path | None, references: bool, compare: bool) -> None:
    """Report every run found under PATHS as a table, markdown, CSV, JSON or HTML."""
    from qbench.report.rows import run_rows
    from qbench.store import find_runs

    if compare:
        _report_comparison(paths, fmt, output)
        return
    runs = find_runs(paths)
    if not runs:
        from qbench.errors import DataError

        raise DataError("no qbench runs found here", file=", ".join(map(str, paths)))
    if fmt == "submission":
        from qbench.report.submission import write_submissions

        for written in write_submissions(runs, output):
            click.echo(f"wrote {written}")
        return
    rows = run_rows(runs)
    if references:
        from qbench.report.references import references_for

        rows += references_for(rows)
    if fmt == "table" and output is None:
        from qbench.report.render import console as make_console
        from qbench.report.render import rich_tables

        console = make_console()
        for table in rich_tables(rows):
            console.print(table)
        return
    from qbench.report.render import render

    text = render(rows, "md" if fmt == "table" else fmt)
    if output:
        from qbench.data.jsonfile import write_text_atomic

        write_text_atomic(output, text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text)


def _report_comparison(paths: tuple[Path, ...], fmt: str, output: Path | None) -> None:
    from qbench.report.compare import compare_paths, comparison_table, render_comparison

    if len(paths) != 2:
        raise UsageError(f"--compare takes exactly two runs (or folders of runs), got {len(paths)}")
    results = compare_paths(paths[0], paths[1])
    if fmt == "table" and output is None:
        from qbench.report.render import console as make_console

        console = make_console()
        for result in results:
            console.print(comparison_table(result))
        return
    if fmt == "submission":
        raise UsageError("--compare cannot be written as a submission")
    text = render_comparison(results, fmt)
    if output:
        from qbench.data.jsonfile import write_text_atomic

        write_text_atomic(output, text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text)


# -- runs, show (qbench.browse) ---------------------------------------------------------------------------
@cli.command("runs")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def runs_(paths: tuple[Path, ...]) -> None:
    """List every run under PATHS (default ./runs), any status: progress, fingerprint, derivation."""
    from qbench.browse import run_lines, runs_table
    from qbench.report.render import console as make_console

    make_console().print(runs_table(run_lines(list(paths) or [Path("runs")])))


@cli.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--failed", is_flag=True, help="Only samples whose model call failed.")
@click.option("--unreadable", is_flag=True, help="Only unreadable replies (with the rule) or judge rounds.")
@click.option("--sample", default=None, help="One sample, its whole record.")
@click.option("--limit", type=int, default=None, help="At most N samples.")
def show(run_dir: Path, failed: bool, unreadable: bool, sample: str | None, limit: int | None) -> None:
    """Show one run's samples: what each reply was, and the rule that read it."""
    from qbench.browse import show_lines

    for line in show_lines(run_dir, failed=failed, unreadable_only=unreadable, sample=sample, limit=limit):
        click.echo(line)


# -- validate ----------------------------------------------------------------------------------------------
@cli.command()
@click.option("--data", "-d", required=True, help="A data file or folder, or a built-in name.")
@click.option("--split", type=click.Choice(["dev", "test"]), default="dev")
@click.option("--images", type=click.Path(path_type=Path), default=None)
@click.option("--format", "data_format", default=None)
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en")
@click.option("--image-column", default=None)
@click.option("--mos-column", default=None)
@click.option("--encoding", default=None, help="Text encoding of a CSV data file (default UTF-8).")
@ALLOW_OUTSIDE
def validate(
    data: str,
    split: str,
    images: Path | None,
    data_format: str | None,
    lang: str,
    image_column: str | None,
    mos_column: str | None,
    encoding: str | None,
    allow_outside_images: bool,
) -> None:
    """Check a dataset without any model: fields, and that every image exists and decodes."""
    _allow_outside_images(allow_outside_images)
    from qbench.data.dataset import LoadOptions
    from qbench.validate import validate_dataset

    problems, dataset = validate_dataset(
        data,
        LoadOptions(
            split=split,
            images=images,
            format=data_format,
            lang=lang,
            image_column=image_column,
            mos_column=mos_column,
            encoding=encoding,
        ),
    )
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(2)
    assert dataset is not None  # validate_dataset gives None only with problems
    click.echo(f"ok: {dataset.name} ({dataset.format}, {len(dataset)} items, every image decodes)")


# -- list --------------------------------------------------------------------------------------------------
@cli.command("list")
@click.argument("what", type=click.Choice(["models", "datasets", "tasks", "databases"]))
def list_(what: str) -> None:
    """List what qbench knows: models, datasets, tasks, or the quality databases (MOS sets)."""
    from qbench.registry import DATASETS, MODELS, TASKS

    if what == "databases":
        from qbench.data.databases import DATABASES

        for db in DATABASES.values():
            low, high = db.score_range
            click.echo(f"{db.name:8} {db.display:12} {db.size:>6} images  {db.kind:12} scores {low}-{high}")
        click.echo("sources, terms and what is installed here: qbench data list")
        return
    registry = {"models": MODELS, "datasets": DATASETS, "tasks": TASKS}[what]
    for entry in registry.entries():
        click.echo(f"{entry.name:16} {entry.help}")
    if what == "datasets":
        click.echo("and the benchmark's datasets by name (koniq, llvisionqa-dev, ...): qbench data list")


# -- demo --------------------------------------------------------------------------------------------------
@cli.command()
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("qbench-demo"), show_default=True)
def demo(out: Path) -> None:
    """The whole tool offline on built-in synthetic data and baselines; writes a report."""
    from qbench.demo import run_demo

    run_demo(out)


from qbench.catalog.cli import data as _data  # noqa: E402  (qbench data list|info|get|add)
from qbench.suites import bench as _bench  # noqa: E402  (qbench bench MODEL)

cli.add_command(_data)
cli.add_command(_bench)


def resume_command(argv: list[str] | None) -> str:
    """The command that was run, as a shell line (secrets masked): running it again resumes the run."""
    import shlex

    from qbench.redact import redact_argv

    return shlex.join(["qbench", *redact_argv(list(argv if argv is not None else sys.argv[1:]))])


def main(argv: list[str] | None = None) -> int:
    """Entry point: turns errors into one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="qbench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except QBenchError as exc:
        if debug:
            raise
        from qbench.errors import Interrupted, StopRun
        from qbench.redact import redact_text

        label = "" if isinstance(exc, Interrupted) else "error: "
        click.echo(f"{label}{redact_text(exc.one_line())}", err=True)
        if isinstance(exc, (Interrupted, StopRun)):
            click.echo(f"resume with: {resume_command(argv)}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted; run the same command again to resume", err=True)
        return 130
    except SystemExit as exc:
        return int(exc.code or 0)
    except OSError as exc:
        from qbench.oserror import environment_error

        mapped = environment_error(exc)
        if mapped is None or debug:
            raise
        click.echo(f"error: {mapped.one_line()}", err=True)
        return mapped.exit_code
    except Exception as exc:
        if debug:
            raise
        from qbench.redact import redact_text

        click.echo(
            f"error: {type(exc).__name__}: {redact_text(str(exc))} (a bug? run with --debug for the traceback)",
            err=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
