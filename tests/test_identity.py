"""Edited code never reuses old answers; metric options never overwrite another run's numbers.

Through the real CLI, as a user works: write a ``py:`` model, run, edit the file to answer differently, run
the same command again (same cache, same ``--out``, then a new ``--out``): the new answers must come back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import run_cli, write_mos_set

MODEL = """
class MyModel:
    name = "my-model"
    def generate(self, requests):
        return ["{letter}" for _ in requests]
"""

BASE = """
class Base:
    def generate(self, requests):
        return ["{letter}" for _ in requests]
"""

CHILD = """
from my_base import Base

class Child(Base):
    name = "child"
"""


def _responses(out: Path) -> dict[str, set[str]]:
    """{run folder name: the set of stored replies} for every run under ``out``."""
    found = {}
    for records in out.rglob("records.jsonl"):
        lines = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
        found[records.parent.name] = {line["response"] for line in lines}
    return found


def _run(tmp_path: Path, model: str, out: str) -> subprocess.CompletedProcess[str]:
    args = ("run", "a1", "--model", model, "--data", "synthetic", "--limit", "6", "--out", out)
    result = run_cli(*args, "-T", "bootstrap=0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result


def test_editing_a_py_model_gives_the_new_answers_with_the_same_command_and_cache(tmp_path: Path) -> None:
    source = tmp_path / "my_model.py"
    source.write_text(MODEL.format(letter="A"))
    _run(tmp_path, "py:my_model:MyModel", "runs")
    assert list(_responses(tmp_path / "runs").values()) == [{"A"}]

    source.write_text(MODEL.format(letter="B"))  # same name, class and info(): only the code differs
    _run(tmp_path, "py:my_model:MyModel", "runs")
    runs = _responses(tmp_path / "runs")
    assert sorted(map(sorted, runs.values())) == [["A"], ["B"]]  # a new run beside the old one, not a resume

    _run(tmp_path, "py:my_model:MyModel", "fresh")  # a new folder: only the cache could give old answers
    assert list(_responses(tmp_path / "fresh").values()) == [{"B"}]

    source.write_text(MODEL.format(letter="A"))  # back to the first code: that run and its cache are valid
    again = _run(tmp_path, "py:my_model:MyModel", "runs")
    assert "6 already done" in again.stdout


def test_editing_a_base_class_in_another_module_counts_too(tmp_path: Path) -> None:
    (tmp_path / "my_base.py").write_text(BASE.format(letter="C"))
    (tmp_path / "my_child.py").write_text(CHILD)
    _run(tmp_path, "py:my_child:Child", "runs")
    (tmp_path / "my_base.py").write_text(BASE.format(letter="D"))
    _run(tmp_path, "py:my_child:Child", "fresh")
    assert list(_responses(tmp_path / "fresh").values()) == [{"D"}]


JUDGE = """
class Judge:
    name = "judge"
    def generate(self, requests):
        return ["Result: {verdict}" for _ in requests]
"""


def test_editing_a_judge_gives_new_verdicts(tmp_path: Path) -> None:
    (tmp_path / "my_model.py").write_text(MODEL.format(letter="A"))
    judge = tmp_path / "my_judge.py"
    judged = []
    for verdict in (1, 0):
        judge.write_text(JUDGE.format(verdict=verdict))
        args = ("--model", "py:my_model:MyModel", "--judge", "py:my_judge:Judge", "--data", "synthetic")
        result = run_cli(
            "run", "a1", *args, "--limit", "4", "--out", "runs", "-T", "bootstrap=0", cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        metrics = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("metrics.json")]
        judged.append(sorted(m["judged/accuracy"] for m in metrics))
    assert judged == [[1.0], [0.0, 1.0]]


SCRIPT = """
import sys
import qbench

class Typed:  # defined in `python -c`: no file to read
    name = "typed"
    def generate(self, requests):
        return ["A"] * len(requests)

result = qbench.evaluate("a1", Typed(), "synthetic", out=sys.argv[1], limit=4)
print(result.summary["computed"], result.path)
"""


def test_a_model_whose_source_cannot_be_read_is_neither_cached_nor_resumed(tmp_path: Path) -> None:
    outputs = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "runs")],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert "cannot read the source" in result.stderr and "neither cached nor resumed" in result.stderr
        outputs.append(result.stdout.split())
    assert outputs[0][0] == outputs[1][0] == "4"  # the second process computed everything again
    assert outputs[0][1] != outputs[1][1]  # in its own run folder


def _metrics(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.rglob("metrics.json")}


def test_metric_options_make_their_own_run_and_never_overwrite_another(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=8)
    base = ("run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path / "runs"))
    assert run_cli(*base).returncode == 0
    (first,) = _metrics(tmp_path / "runs").values()
    assert "srcc_ci" in first and "plcc_logistic" not in first
    for option in ("bootstrap=0", "logistic=true"):
        assert run_cli(*base, "-T", option).returncode == 0
    runs = _metrics(tmp_path / "runs")
    assert len(runs) == 3
    assert first in runs.values()  # the first run's numbers are untouched
    assert sum("srcc_ci" not in m for m in runs.values()) == 1
    assert sum("plcc_logistic" in m for m in runs.values()) == 1


OPTIONED = """
class Optioned:
    name = "optioned"
    def __init__(self, letter="A", api_key=""):
        self.letter = letter
    def generate(self, requests):
        return [self.letter for _ in requests]
"""


def test_py_model_options_are_part_of_its_identity_and_secrets_stay_hidden(tmp_path: Path) -> None:
    (tmp_path / "optioned.py").write_text(OPTIONED)
    for letter in ("A", "B"):
        args = (
            "run",
            "a1",
            "--model",
            "py:optioned:Optioned",
            "-M",
            f"letter={letter}",
            "-M",
            "api_key=s3cret",
        )
        result = run_cli(*args, "--data", "synthetic", "--limit", "4", "--out", "runs", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert sorted(map(sorted, _responses(tmp_path / "runs").values())) == [["A"], ["B"]]
    for manifest in (tmp_path / "runs").rglob("manifest.json"):
        assert "s3cret" not in manifest.read_text()


README_SCRIPT = """
import sys
import qbench

class MyModel:
    name = "my-model"
    def generate(self, requests):
        return ["{letter}" for _ in requests]

result = qbench.evaluate("a1", MyModel(), "synthetic", out=sys.argv[1], limit=5)
print(result.summary["computed"], result.path)
"""


def test_the_readme_python_api_example_edited_between_runs(tmp_path: Path) -> None:
    """The README's ``qbench.evaluate(MyModel(), ...)`` in a script, edited, run again (also into a new out)."""
    script = tmp_path / "evaluate_me.py"
    for letter, out in (("A", "runs"), ("C", "runs"), ("C", "fresh")):
        script.write_text(README_SCRIPT.format(letter=letter))
        result = subprocess.run(
            [sys.executable, str(script), str(tmp_path / out)], capture_output=True, text=True, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0] == "5"  # every sample computed: no resume of the old code's run
    assert sorted(map(sorted, _responses(tmp_path / "runs").values())) == [["A"], ["C"]]
    assert list(_responses(tmp_path / "fresh").values()) == [{"C"}]
