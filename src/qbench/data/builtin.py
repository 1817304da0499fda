"""The built-in synthetic datasets (``--data synthetic``, ``synthetic-pair``, ``synthetic-iqa``).

They are generated once per version and seed into the user cache dir (atomically: built in a temporary
folder, then renamed), then read by the ordinary readers, so they exercise exactly the code paths that real
LLVisionQA, Q-Bench2 and MOS files do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from qbench.data.dataset import Dataset, LoadOptions, load_dataset


def _root() -> Path:
    if os.environ.get("QBENCH_DATA_DIR"):
        return Path(os.environ["QBENCH_DATA_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("qbench")) / "builtin"


def _materialise(name: str, build: Callable[[Path], Path], seed: int = 0) -> Path:
    from qbench.data.synthetic import SYNTHETIC_VERSION

    target = _root() / f"{name}-{SYNTHETIC_VERSION}-seed{seed}"
    marker = target / ".complete"
    if marker.exists():
        return target / marker.read_text().strip()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        data_file = build(tmp)
        (tmp / ".complete").write_text(data_file.relative_to(tmp).as_posix())
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target / (target / ".complete").read_text().strip()


def _load(name: str, path: Path, options: LoadOptions, fmt: str) -> Dataset:
    dataset = load_dataset(path, replace(options, format=fmt, images=None))
    return replace(dataset, name=name, info={**dataset.info, "builtin": name})


def synthetic_a1(options: LoadOptions) -> Dataset:
    from qbench.data.synthetic import build_a1

    return _load("synthetic", _materialise("synthetic", lambda d: build_a1(d, seed=0)), options, "llvisionqa")


def synthetic_pair(options: LoadOptions) -> Dataset:
    from qbench.data.synthetic import build_a1_pairs

    path = _materialise("synthetic-pair", lambda d: build_a1_pairs(d, seed=0))
    return _load("synthetic-pair", path, options, "qbench2")


def synthetic_iqa(options: LoadOptions) -> Dataset:
    from qbench.data.synthetic import build_iqa

    return _load(
        "synthetic-iqa", _materialise("synthetic-iqa", lambda d: build_iqa(d, seed=0)), options, "mos-json"
    )
