"""Where qbench keeps its per-user files (one rule, read by the cache and by the data loaders).

Kept apart from :mod:`qbench.cache` so that a data loader can find the cache folder without importing the
response cache (data/ is a lower layer than the cache).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """The qbench cache folder: ``$QBENCH_CACHE_DIR``, else the user cache dir (``~/.cache/qbench``)."""
    if os.environ.get("QBENCH_CACHE_DIR"):
        return Path(os.environ["QBENCH_CACHE_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("qbench"))
