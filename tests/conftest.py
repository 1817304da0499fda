"""Shared test setup: offline hub, a private response cache per test session, and where shared data lives."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# built-in synthetic sets are generated once per test session here, not in the user's cache
os.environ.setdefault("QBENCH_DATA_DIR", tempfile.mkdtemp(prefix="qbench-builtin-"))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own response cache, so no test sees another's cached answers."""
    monkeypatch.setenv("QBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or a skip when it is absent (CI without shared data, a user's clone)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")
    return path
