"""-M/-J/-T flags: ``key=value`` pairs read the same by ``qbench run``, ``score`` and ``bench``."""

import subprocess
import sys

import pytest

from qbench.errors import UsageError
from qbench.options import flag_pairs


def test_pairs_keep_the_value_as_typed():
    assert flag_pairs(("a=1", " b =x=y", "c="), "-M") == {"a": "1", "b": "x=y", "c": ""}
    assert flag_pairs((), "-T") == {}
    assert flag_pairs(("a=1", "a=2"), "-M") == {"a": "2"}  # the last one wins, as on a command line


@pytest.mark.parametrize("bad", ["novalue", "=1", ""])
def test_a_flag_without_key_and_equals_names_the_flag(bad):
    with pytest.raises(UsageError, match=f"-J '{bad}' must look like key=value"):
        flag_pairs(("ok=1", bad), "-J")


def test_bench_reads_its_flags_with_the_same_parser(tmp_path):
    """One line on stderr, exit 2, before any work (the bench command used to borrow the CLI's parser)."""
    result = subprocess.run(
        [sys.executable, "-m", "qbench.cli", "bench", "random", "-M", "novalue", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "-M 'novalue' must look like key=value" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())
