"""Ordinary environment problems (permissions, a read-only or full disk, a file where a folder should be) as
one line naming the path and the remedy, instead of a Python exception text and "(a bug?)"."""

from __future__ import annotations

import errno
from pathlib import Path

from qbench.errors import RunError

_REMEDIES: dict[int, tuple[str, str]] = {
    errno.EACCES: (
        "permission denied",
        "choose a folder you may write to (--out DIR, QBENCH_CACHE_DIR) or fix its permissions",
    ),
    errno.EPERM: (
        "operation not permitted",
        "choose a folder you may write to (--out DIR, QBENCH_CACHE_DIR)",
    ),
    errno.EROFS: (
        "read-only file system",
        "write elsewhere: --out DIR for runs, QBENCH_CACHE_DIR for the cache",
    ),
    errno.ENOSPC: (
        "no space left on the device",
        "free some space or write elsewhere (--out DIR); the same command resumes",
    ),
    errno.EDQUOT: (
        "disk quota exceeded",
        "free some space or write elsewhere (--out DIR); the same command resumes",
    ),
    errno.EFBIG: (
        "file too large for this file system or limit",
        "write elsewhere (--out DIR); the same command resumes",
    ),
    errno.EEXIST: (
        "is a file, where a folder is needed",
        "remove or rename it, or choose another --out / QBENCH_CACHE_DIR",
    ),
    errno.ENOTDIR: (
        "a part of this path is a file, where a folder is needed",
        "remove or rename that file, or choose another --out / QBENCH_CACHE_DIR",
    ),
    errno.EISDIR: ("is a folder, where a file is needed", "give the path of a file"),
    errno.EMFILE: (
        "too many open files",
        "raise the limit (ulimit -n) or lower --decode-threads / --concurrency",
    ),
}


def environment_error(exc: OSError) -> RunError | None:
    """The one-line error for an OSError the user can fix, or None for one that may be a bug."""
    known = _REMEDIES.get(exc.errno or -1)
    if known is None:
        return None
    what, remedy = known
    path = exc.filename if exc.filename is not None else None
    if exc.errno == errno.ENOTDIR and path is not None:
        blocking = _file_in_the_way(Path(str(path)))
        if blocking is not None:
            what, path = "is a file, where a folder is needed", str(blocking)
    return RunError(what, file=path, hint=remedy)


def _file_in_the_way(path: Path) -> Path | None:
    """The first part of ``path`` that exists as something other than a folder."""
    for part in [*reversed(path.parents), path]:
        if part.exists() and not part.is_dir():
            return part
    return None
