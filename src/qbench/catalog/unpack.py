"""Unpacking zip and tar archives so that nothing can land outside the target folder.

Every member is checked before it is written: an absolute name, a drive letter, a ``..`` part (after turning
backslashes into slashes), a link whose target leaves the folder, or a device file refuses the whole archive.
The caller unpacks into a staging folder and throws it away on any error, so a refused or broken archive
leaves nothing behind. The archive itself is only read.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from qbench.errors import DataError


def _safe_name(name: str, archive: Path) -> PurePosixPath:
    """The member's relative path, or a DataError when it would leave the target folder."""
    posix = name.replace("\\", "/")
    rel = PurePosixPath(posix)
    drive = len(posix) > 1 and posix[1] == ":"
    if rel.is_absolute() or drive or ".." in rel.parts:
        raise DataError(
            f"archive member '{name}' would land outside the target folder; the archive was refused",
            file=archive,
        )
    return PurePosixPath(*[p for p in rel.parts if p not in ("", ".")])


def _inside(root: Path, rel: PurePosixPath, link: str, archive: Path, member: str) -> None:
    """A link target (relative to the link's folder, or absolute) must resolve inside ``root``."""
    base = (root / rel).parent
    target = (base / link.replace("\\", "/")).resolve() if not link.startswith("/") else Path(link)
    if not target.resolve().is_relative_to(root.resolve()):
        raise DataError(
            f"archive member '{member}' links to '{link}', outside the target folder; the archive was refused",
            file=archive,
        )


def unpack(archive: Path, target: Path) -> None:
    """Unpack a zip or tar (any compression) into ``target`` (created), refusing unsafe members."""
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        _unzip(archive, target)
    elif tarfile.is_tarfile(archive):
        _untar(archive, target)
    else:
        raise DataError("not a zip or tar archive", file=archive)


def _unzip(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            rel = _safe_name(info.filename, archive)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise DataError(
                    f"archive member '{info.filename}' is a symbolic link; links in zip files are refused",
                    file=archive,
                )
            if not rel.parts:
                continue
            dest = target.joinpath(*rel.parts)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)


def _untar(archive: Path, target: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tf:
            for member in tf:  # one pass: large .tgz files are decompressed once
                rel = _safe_name(member.name, archive)
                if member.issym() or member.islnk():
                    link = member.linkname
                    if member.islnk():
                        _safe_name(link, archive)
                        link_rel = PurePosixPath(link.replace("\\", "/"))
                        _inside(target, PurePosixPath("x"), str(link_rel), archive, member.name)
                    else:
                        _inside(target, rel, link, archive, member.name)
                elif not (member.isfile() or member.isdir()):
                    raise DataError(
                        f"archive member '{member.name}' is a device or pipe; the archive was refused",
                        file=archive,
                    )
                if not rel.parts:
                    continue
                # The standard library's "data" filter checks the same things again, as a second lock.
                tf.extract(member, target, filter="data")
    except tarfile.TarError as exc:
        raise DataError(f"the archive cannot be read ({exc})", file=archive) from None
