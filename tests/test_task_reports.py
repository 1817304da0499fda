"""Tasks own their reports and checks: ``report/``, the CLI, the health check and ``qbench show`` name no task,
and a new task reports, is checked and is shown through its spec and hooks.

The naming check reads the source (ast): no import of ``qbench.tasks``, no identifier built on a task name
or a task module's name (``a1_columns``, ``perception``), and no string (docstrings aside) holding a task
name as a word. The second half registers a task that qbench has never heard of, from one module written
here, and checks that every report form shows it: leaderboard, markdown, CSV, JSON, HTML, the paired
comparison, the submission file and the published rows, through the real CLI; its health check (suspect and
unusable runs) and ``qbench show`` lines come from its hooks, and a task without hooks gets the defaults.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import textwrap
from pathlib import Path

import pytest

import qbench
from helpers import run_cli
from qbench.browse import describe, unreadable
from qbench.health import UnusableRun, check, raise_if_unusable
from qbench.registry import TASKS
from qbench.report.compare import compare_runs
from qbench.report.references import reference_rows
from qbench.report.render import render
from qbench.report.rows import ReportRow, run_rows
from qbench.report.spec import ReferenceQuery, task_report
from qbench.store import Manifest, Run, load_run, write_run
from qbench.types import Record
from test_import_graph import module_files

QBENCH_SRC = str(Path(qbench.__file__).resolve().parents[1])
GENERIC = [
    "qbench.cli",
    "qbench.health",
    "qbench.browse",
    "qbench.checks",
    *[name for name in module_files() if name.startswith("qbench.report")],
]


def _task_words() -> list[str]:
    """Every registered task name and the names of the modules that implement the tasks."""
    words = set(TASKS.names())
    for entry in TASKS.entries():
        targets = [entry.target, *entry.hooks.values()]
        for target in targets:
            if isinstance(target, str) and target.startswith("qbench.tasks."):
                module = target.split(":")[0].split(".")[2]
                words.add(module.removesuffix("_report").removesuffix("_import"))
    return sorted(words)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (module, class, function)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def naming_problems(source: str, words: list[str]) -> list[str]:
    """Where ``source`` names a task: imports of qbench.tasks, identifiers and strings with a task word."""
    tree = ast.parse(source)
    word = re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, words)) + r")(?![a-z0-9])", re.I)
    docs = _docstrings(tree)
    problems = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            names = []
        problems += [f"{line}: imports {n}" for n in names if n.startswith("qbench.tasks")]
        identifier = (
            node.id
            if isinstance(node, ast.Name)
            else node.attr
            if isinstance(node, ast.Attribute)
            else node.name
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            else node.arg
            if isinstance(node, ast.arg)
            else None
        )
        if identifier and word.search(identifier.replace("_", " ")):
            problems.append(f"{line}: identifier {identifier}")
        text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""
        if text and id(node) not in docs and word.search(text):
            problems.append(f"{line}: string {text[:60]!r}")
    return problems


@pytest.mark.parametrize("module", GENERIC)
def test_report_cli_health_and_show_name_no_task(module: str) -> None:
    source = module_files()[module].read_text(encoding="utf-8")
    assert naming_problems(source, _task_words()) == []


def test_the_naming_check_catches_what_it_should() -> None:
    words = _task_words()
    assert {"a1", "a2", "a3", "perception", "description", "assessment"} <= set(words)
    caught = naming_problems(
        textwrap.dedent(
            '''
            """A docstring may say A1."""
            from qbench.tasks.perception import PerceptionTask
            import qbench.tasks
            def a1_columns(rows):
                if rows[0].task == "a3":
                    return {"a2": perception_board}
                return "shown for A1 only"
            '''
        ),
        words,
    )
    # the two imports, a1_columns, perception_board, "a3", "a2" and the help text naming A1
    assert len(caught) == 7, caught
    assert naming_problems('"""The A1 board."""\nx = "Accuracy in %"\n', words) == []


# -- a task qbench has never heard of ----------------------------------------------------------------------
TASK_MODULE = '''
"""A made-up task 'z9' (counting objects): its report spec is all the report layer needs."""

from pathlib import Path

import numpy as np

from qbench.checks import answers_tally
from qbench.data.jsonfile import write_json_atomic
from qbench.report.leaderboard import metric_board
from qbench.report.paired import paired_accuracy
from qbench.report.rows import ReportRow
from qbench.report.spec import TaskReport
from qbench.report.submission import ordered_records, submission_name, submission_target

COLUMNS = [("exact", "Exact count"), ("close", "Within one")]


def boards(rows):
    return [metric_board("Z9 counting (share %)", COLUMNS, rows, percent=True)]


def compare(pairs, dataset, notes, resamples, seed):
    known = [(a.output["count"] == a.output["truth"], b.output["count"] == b.output["truth"]) for a, b in pairs]
    metric, a_only, b_only = paired_accuracy(known, "exact", "Exact count", resamples, seed)
    notes.append(f"{a_only} only A exact, {b_only} only B")
    return [metric]


def submission(run, output):
    items = [{"id": r.id, "count": r.output["count"]} for r in ordered_records(run)]
    target = submission_target(run, output, submission_name(run))
    write_json_atomic(target, items)
    return target


def references(query):
    return [ReportRow(task="z9", model="paper model", dataset="counts", n=100, metrics={"exact": 0.61, "close": 0.9},
                      reference=True, source="made up", status="reference")]


REPORT = TaskReport(boards=boards, headline="exact", compare=compare, submission=submission,
                    references=references, method="Z9 share of exact counts")


# what the health check and `qbench show` need: a reply with no number in it is unreadable
def health_counts(records, metrics):
    unread = [("no number", r.output["reply"]) for r in records if r.output["count"] is None]
    return [answers_tally(unread, len(records))]


def describe_record(record):
    return f"counted {record.output['count']} of {record.output['truth']} from {record.output['reply']!r}"


def unreadable_record(record):
    return record.output["count"] is None
'''
HOOKS = "health_counts", "describe_record", "unreadable_record"


class NoModel:
    """The task's factory: the report never calls it."""


@pytest.fixture
def z9(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Module ``z9_task`` on the path, task ``z9`` registered with its report; two run folders of it."""
    (tmp_path / "z9_task.py").write_text(TASK_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    # this qbench's own source too: the subprocesses must run the code under test, not another install
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), QBENCH_SRC]))
    TASKS.register("z9", "test_task_reports:NoModel", "Z9 counting", report="z9_task:REPORT")
    task_report.cache_clear()
    truth = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    for model, counts in (("good", [3, 1, 4, 1, 5, 9, 2, 6, 5, 4]), ("bad", [3, 2, 4, 0, 5, 8, 2, 6, 1, 4])):
        run = Run.open(
            tmp_path / "runs" / model,
            {"task": "z9", "model": model, "dataset": "counts", "split": None, "fingerprint": model},
        )
        run.append(
            Record(str(i), {"index": i, "count": c, "truth": t})
            for i, (c, t) in enumerate(zip(counts, truth))
        )
        exact = sum(c == t for c, t in zip(counts, truth)) / len(truth)
        close = sum(abs(c - t) <= 1 for c, t in zip(counts, truth)) / len(truth)
        run.finish({"n": len(truth), "exact": exact, "close": close})
        run.close()
    yield tmp_path
    TASKS._entries.pop("z9", None)
    task_report.cache_clear()
    sys.modules.pop("z9_task", None)


def test_a_new_task_reports_through_its_spec_alone(z9: Path) -> None:
    rows = run_rows([load_run(z9 / "runs" / "good"), load_run(z9 / "runs" / "bad")])
    assert [(r.task, r.model, r.metrics["exact"]) for r in rows] == [("z9", "good", 0.9), ("z9", "bad", 0.5)]
    md = render([*rows, *reference_rows("z9")], "md")
    assert "### Z9 counting (share %)" in md and "| Model | Exact count | Within one | n |" in md
    assert "| good (counts) | 90.00 | 100.00 | 10 |" in md and "| paper model (counts) — published |" in md
    assert "z9,good,counts,,10,exact,0.9" in render(rows, "csv")
    assert json.loads(render(rows, "json"))[1]["metrics"] == {"exact": 0.5, "close": 0.9}
    page = render(rows, "html")
    assert "Z9 counting (share %)" in page and "Z9 share of exact counts" in page

    result = compare_runs(z9 / "runs" / "good", z9 / "runs" / "bad", resamples=200)
    (metric,) = result["metrics"]
    assert (metric["a"], metric["b"], metric["n"]) == (0.9, 0.5, 10)
    assert metric["diff"] == pytest.approx(0.4) and "4 only A exact, 0 only B" in result["notes"]


def test_the_cli_reports_compares_submits_and_adds_published_rows_of_a_new_task(z9: Path) -> None:
    """The real command line, in a subprocess: the task is registered by a plugin entry (sitecustomize)."""
    (z9 / "sitecustomize.py").write_text(
        "from qbench.registry import TASKS\n"
        "TASKS.register('z9', 'z9_task:REPORT', 'Z9 counting', report='z9_task:REPORT')\n"
    )
    runs = str(z9 / "runs")
    table = run_cli("report", runs, "--references", cwd=z9)
    assert table.returncode == 0, table.stderr
    assert "Z9 counting" in table.stdout and "paper model" in table.stdout and "90.00" in table.stdout
    compared = run_cli("report", f"{runs}/good", f"{runs}/bad", "--compare", "--format", "md", cwd=z9)
    assert compared.returncode == 0, compared.stderr
    assert "| Exact count | 90.00 | 50.00 | +40.00 |" in compared.stdout
    submitted = run_cli("report", f"{runs}/good", "--format", "submission", "-o", "sub.json", cwd=z9)
    assert submitted.returncode == 0, submitted.stderr
    assert json.loads((z9 / "sub.json").read_text())[-1] == {"id": "9", "count": 4}
    listed = run_cli("list", "tasks", cwd=z9)
    assert "z9" in listed.stdout and "Z9 counting" in listed.stdout


def test_a_task_without_a_spec_gets_a_plain_board(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [
        ReportRow(task="unknown-task", model="m", dataset="d", n=3, metrics={"hits": 0.5, "hits_ci": [0, 1]})
    ]
    md = render(rows, "md")
    assert "### UNKNOWN-TASK" in md and "| m (d) | 0.50 | 3 |" in md
    assert "not known to this qbench" in caplog.text
    assert "UNKNOWN-TASK" in render(rows, "html")


@pytest.mark.parametrize("task", TASKS.names())
def test_every_registered_task_has_a_spec_and_its_published_rows_fill_its_board(task: str) -> None:
    spec = task_report(task)
    assert spec.headline, f"{task} has no report spec of its own"
    if spec.references is None:
        return
    published = spec.references(ReferenceQuery())
    assert published and all(r.reference and r.task == task and r.source for r in published)
    shown = {label for board in spec.boards(published) for label, _ in board.rows}
    for row in published:
        assert any(label.startswith(row.model) and label.endswith("published") for label in shown), row.model
    for board in spec.boards(published):
        keys_shown = sum(cell not in ("-", None) for _, cells in board.rows for cell in cells[:-1])
        assert keys_shown > 0, board.title


def test_published_a_bench_and_video_rows_land_in_their_columns() -> None:
    for task in ("abench", "qbench-video"):
        spec = task_report(task)
        assert spec.references is not None
        published = spec.references(ReferenceQuery())
        (board,) = spec.boards(published)
        for row, (_, cells) in zip(published, board.rows):
            filled = [c for c in cells[:-1] if c != "-"]  # the last cell is n
            assert len(filled) == len(row.metrics), (task, row.model, board.columns, cells)


def test_a_plugin_task_class_declares_its_report_as_an_attribute(z9: Path) -> None:
    """Entry-point plugins register only ``name = module:Factory``: the factory's ``report`` is the spec."""
    (z9 / "z8_task.py").write_text(
        "import z9_task\n\nclass Task:\n    report = 'z9_task:REPORT'\n\nclass Direct:\n    report = z9_task.REPORT\n"
    )
    TASKS.register("z8", "z8_task:Task", "Z8")
    TASKS.register("z7", "z8_task:Direct", "Z7")
    try:
        import z9_task  # the fixture put it on the path

        assert task_report("z8") is z9_task.REPORT and task_report("z7") is z9_task.REPORT
    finally:
        for name in ("z8", "z7"):
            TASKS._entries.pop(name, None)
        task_report.cache_clear()
        sys.modules.pop("z8_task", None)


# -- its health check and `qbench show`, through its hooks ---------------------------------------------------
def _counted(replies: list[str]) -> list[Record]:
    """z9 records of ``replies``: a reply that is not a number is unreadable (count None)."""
    return [
        Record(str(i), {"count": int(r) if r.isdigit() else None, "truth": 3, "reply": r})
        for i, r in enumerate(replies)
    ]


def _write(path: Path, records: list[Record]) -> Run:
    manifest = Manifest(task="z9", model="m", dataset="counts", fingerprint=path.name)
    return write_run(path, manifest, records, {"n": len(records)})


MIXED = ["3", "one", "3", "many", "2", "many", "3", "4", "3", "3"]


def test_a_new_task_without_hooks_gets_the_defaults(z9: Path) -> None:
    """Registered with a report only: no counts (so no warning, even with unreadable replies), the output
    as JSON in ``qbench show``, nothing unreadable; a task name qbench does not know at all gets the same."""
    records = _counted(MIXED)
    for task in ("z9", "never-registered"):
        health = check(task, records, {})
        assert (health.unusable, health.warnings) == (None, [])
        assert describe(records[1], task) == '1: {"count": null, "truth": 3, "reply": "one"}'
        assert not any(unreadable(r, task) for r in records)
    assert check("z9", [Record("0", {}, error="boom")], {}).unusable == "no finished samples"


def test_a_new_task_counts_its_failures_for_the_health_check_through_its_hooks(z9: Path) -> None:
    TASKS.register(
        "z9", "test_task_reports:NoModel", "Z9", report="z9_task:REPORT", **{h: f"z9_task:{h}" for h in HOOKS}
    )
    health = check("z9", _counted(MIXED), {})
    assert health.unusable is None
    assert health.warnings == [
        "suspect run: 3 of 10 (30.0%) answers unreadable "
        "(commonest rules: no number x3; commonest replies: 'many' x2; 'one' x1)"
    ]
    few = check("z9", _counted(["3"] * 19 + ["lots"]), {})  # 5% is under the suspect rate
    assert (few.unusable, few.warnings) == (None, [])
    # every reply unreadable: the store writes the run as unusable, and the command exits 3 naming it
    lost = _write(z9 / "runs" / "lost", _counted(["lots", "many"]))
    assert load_run(lost.path).status == "unusable"
    assert load_run(lost.path).manifest.error == (
        "no answer could be read: 2 of 2 (100.0%) unreadable "
        "(commonest rules: no number x2; commonest replies: 'lots' x1; 'many' x1)"
    )
    with pytest.raises(UnusableRun, match="unusable run: no answer could be read") as raised:
        raise_if_unusable([load_run(lost.path)])
    assert raised.value.exit_code == 3
    kept = _write(z9 / "runs" / "mixed", _counted(MIXED))
    assert load_run(kept.path).status == "complete"


def test_the_cli_shows_a_new_task_s_records_through_its_hooks(z9: Path) -> None:
    """``qbench show`` in a subprocess, the task and its hooks registered by sitecustomize; the class of a
    plugin task declares them as attributes (as the in-tree tasks do)."""
    (z9 / "z9_plugin.py").write_text(
        "import z9_task\n\nclass Task:\n    report = 'z9_task:REPORT'\n"
        + "".join(f"    {h} = staticmethod(z9_task.{h})\n" for h in HOOKS)
    )
    (z9 / "sitecustomize.py").write_text(
        "from qbench.registry import TASKS\nTASKS.register('z9', 'z9_plugin:Task', 'Z9 counting')\n"
    )
    run = _write(z9 / "runs" / "mixed", _counted(MIXED)).path
    everything = run_cli("show", str(run), cwd=z9)
    assert everything.returncode == 0, everything.stderr
    assert "10 samples" in everything.stdout and "0: counted 3 of 3 from '3'" in everything.stdout
    shown = run_cli("show", str(run), "--unreadable", cwd=z9)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-4:] == [
        "3 unreadable samples",
        "1: counted None of 3 from 'one'",
        "3: counted None of 3 from 'many'",
        "5: counted None of 3 from 'many'",
    ]
