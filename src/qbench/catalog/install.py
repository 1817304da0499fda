"""``qbench data get`` and ``qbench data add``: put a dataset into the data home, whole or not at all.

Both build the install in a staging folder beside the final one and rename it into place last, under a file
lock, so two processes never collide and a failure (network, checksum, a refused archive, missing images)
leaves the previous state untouched. The user's own folder or archive is only ever read: ``add`` links to its
images (or copies them with ``--copy``), and unpacks archives into the staging folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from qbench.catalog.download import DownloadError, HTTPRefused, check_file, fetch, resolve, sha256_file
from qbench.catalog.home import (
    IMAGES,
    PRESENT,
    RECORD,
    Checked,
    InstallRecord,
    data_home,
    install_dir,
    read_record,
    status,
)
from qbench.catalog.registry import Catalog, CatalogEntry, Remote
from qbench.catalog.unpack import unpack
from qbench.errors import DataError, UsageError

log = logging.getLogger("qbench")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
ROOT = Path("/__qbench_root__")  # a stand-in image root: samples' paths relative to it are the layout


@dataclass(frozen=True)
class Options:
    """How to install: the flags of ``get`` and ``add``."""

    partial: bool = False
    copy: bool = False
    force: bool = False
    accept_terms: bool = False
    confirm: Callable[[str], bool] | None = None  # asks on a terminal; None: not a terminal
    source: str | None = None
    mos: Path | None = None
    progress: bool = True


# -- locking and staging --------------------------------------------------------------------------------
@contextmanager
def _locked(name: str, home: Path) -> Iterator[None]:
    from filelock import FileLock, Timeout

    locks = home / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(locks / f"{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("another qbench process is installing %s: waiting for it (%s)", name, lock.lock_file)
        lock.acquire()
    try:
        # left by a process that was killed ("~" ends the name: qbench2's are not qbench2-hf's)
        for stale in [*home.glob(f".staging-{name}~*"), *home.glob(f".old-{name}~*")]:
            shutil.rmtree(stale, ignore_errors=True)
        yield
    finally:
        lock.release()


def _commit(staging: Path, final: Path) -> None:
    """Put the finished staging folder in place of any previous install (both renames are atomic)."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.with_name(f".old-{final.name}~{os.getpid()}")
        os.rename(final, old)
    os.rename(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- what the images must be -----------------------------------------------------------------------------
def required_images(entry: CatalogEntry, folder: Path) -> list[str] | None:
    """The image paths (relative to ``images/``) the entry's list files name; None: any images (a folder)."""
    from qbench.data.dataset import LoadOptions, load_dataset

    wanted: dict[str, None] = {}
    for view in entry.views:
        if view.format == "image-folder":
            return None
        if view.format == "hf-parquet" or view.list in ("", "."):
            continue
        options = LoadOptions(split=view.split or "dev", images=ROOT, format=view.format)
        for sample in load_dataset(folder / view.list, options).samples:
            for image in sample.images:
                wanted[Path(image).relative_to(ROOT).as_posix()] = None
    return list(wanted)


def _index(root: Path) -> dict[str, list[Path]]:
    by_name: dict[str, list[Path]] = defaultdict(list)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        for name in filenames:
            by_name[name].append(Path(dirpath) / name)
    return by_name


def locate(
    root: Path, required: list[str], *, prefer: str = "", avoid: str = ""
) -> tuple[dict[str, Path], str]:
    """Where each required image is under ``root``, whatever folders wrap them.

    The folder that holds the most of them (as ``folder/img_path``) wins; ``prefer`` breaks near-ties (an
    archive with both KonIQ resolutions). An image not under it is taken from elsewhere only when its file
    name is unique (LIVE-itw keeps t1-t7 in a sub-folder in some copies) and not under ``avoid``.
    """
    index = _index(root)
    votes: Counter[str] = Counter()
    for rel in required:
        for candidate in index.get(rel.rsplit("/", 1)[-1], ()):
            text = candidate.as_posix()
            if text.endswith("/" + rel):
                votes[text[: -len(rel)]] += 1
    found: dict[str, Path] = {}
    if not votes:
        return found, ""
    top = max(votes.values())

    def rank(folder: str) -> tuple[bool, bool, int]:
        parts = Path(folder).parts
        close = votes[folder] >= 0.5 * top
        return (close and bool(prefer) and prefer in parts, not (avoid and avoid in parts), votes[folder])

    best = max(votes, key=rank)
    for rel in required:
        path = Path(best + rel)
        if path.is_file():
            found[rel] = path
            continue
        others = [p for p in index.get(rel.rsplit("/", 1)[-1], ()) if not (avoid and avoid in p.parts)]
        if len(others) == 1:
            found[rel] = others[0]
    return found, Path(best).relative_to(root).as_posix() if best.rstrip("/") != root.as_posix() else "."


def locate_folder(root: Path) -> tuple[dict[str, Path], str]:
    """Every image under the folder that holds the most images (an image-folder dataset)."""
    counts: Counter[Path] = Counter()
    for dirpath, _, filenames in os.walk(root):
        counts[Path(dirpath)] = sum(Path(n).suffix.lower() in IMAGE_SUFFIXES for n in filenames)
    if not counts or not max(counts.values()):
        return {}, ""
    best = max(counts, key=lambda d: counts[d])
    found = {p.name: p for p in sorted(best.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    return found, best.relative_to(root).as_posix()


# -- list files ----------------------------------------------------------------------------------------------
def _fetch_list_files(
    entry: CatalogEntry, staging: Path, catalog: Catalog, opts: Options, search: list[Path]
) -> list[Checked]:
    """The label / list files, checked: from ``--mos``, found in the user's folder, else downloaded."""
    out = []
    for remote in entry.files:
        dest = staging / remote.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        local = _local_copy(remote, opts, search, len(entry.files) == 1)
        if local is not None:
            shutil.copyfile(local, dest)
            checked = check_file(dest, remote)
            out.append(replace(checked, origin=str(local)))
            continue
        try:
            out.append(fetch(resolve(remote, catalog), dest, progress=False))
        except (DownloadError, HTTPRefused, UsageError) as exc:
            error = DownloadError if isinstance(exc, DownloadError | HTTPRefused) else DataError
            raise error(
                f"{remote.name} is needed and could not be fetched ({exc.message})",
                file=remote.where,
                hint=f"offline? give the official file with --mos FILE ({_hash_text(remote)})",
            ) from None
    return out


def _hash_text(remote: Remote) -> str:
    if remote.sha256:
        return f"sha256 {remote.sha256}"
    return f"git blob {remote.git_sha1}" if remote.git_sha1 else "no recorded hash"


def _local_copy(remote: Remote, opts: Options, search: list[Path], single: bool) -> Path | None:
    """A local official file: ``--mos`` (must match), or one of that name in the user's folder that matches."""
    if opts.mos is not None and (single or opts.mos.name == Path(remote.name).name):
        check_file(opts.mos, remote)  # a wrong --mos is an error, not a silent fallback
        return opts.mos
    for root in search:
        for candidate in root.rglob(Path(remote.name).name):
            try:
                check_file(candidate, remote)
            except DataError:
                log.warning("%s is not the official %s (hash differs): not used", candidate, remote.name)
                continue
            return candidate  # without a recorded hash: used as given, its sha256 computed and recorded
    return None


# -- the two commands ------------------------------------------------------------------------------------------
def get(entry: CatalogEntry, catalog: Catalog, opts: Options, home: Path | None = None) -> InstallRecord:
    """Download, check, unpack and lay out a dataset from its public source(s)."""
    home = home or data_home()
    if not opts.force:
        current = status(entry, home)
        if current.state in ("ready", "verified"):
            log.info("%s is already installed (%s) at %s", entry.name, current.state, current.path)
            record = read_record(entry.name, home)
            assert record is not None
            return record
    source = _choose_source(entry, opts.source)
    accepted = _accept_terms(entry, source, opts)
    with _locked(entry.name, home):
        if not opts.force and status(entry, home).state in ("ready", "verified"):
            record = read_record(entry.name, home)  # another process installed it while this one waited
            assert record is not None
            return record
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{entry.name}~", dir=home))
        try:
            files = _fetch_list_files(entry, staging, catalog, opts, [])
            archives: list[Checked] = []
            downloaded: list[Path] = []
            if source is not None:
                archive_name = source.file or Path(source.url).name or source.name
                dest = home / ".downloads" / entry.name / f"{source.name}-{Path(archive_name).name}"
                archives.append(fetch(resolve(source, catalog), dest, progress=opts.progress))
                downloaded.append(dest)
                unpack(dest, staging / ".payload")
            record = _lay_out(
                entry,
                staging,
                staging / ".payload",
                opts,
                method="get",
                move=True,
                source=source.where if source else ", ".join(f.where for f in entry.files),
            )
            record.files, record.archives, record.terms_accepted = files, archives, accepted
            _finish(record, staging, install_dir(entry.name, home))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for path in downloaded:
            path.unlink(missing_ok=True)  # ours, and now unpacked; a failure above keeps it for the next try
    return record


def add(
    entry: CatalogEntry, origin: Path, catalog: Catalog, opts: Options, home: Path | None = None
) -> InstallRecord:
    """Adopt a copy the user already has (a folder or an archive), checked against the official list."""
    home = home or data_home()
    origin = origin.expanduser().resolve()
    if not origin.exists():
        raise DataError("no such folder or archive", file=origin)
    if not entry.needs_images and not entry.files:
        raise UsageError(f"{entry.name} has nothing to add", hint=entry.get_command())
    with _locked(entry.name, home):
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{entry.name}~", dir=home))
        try:
            archives: list[Checked] = []
            if origin.is_dir():
                root, move, search = origin, False, [origin]
            else:
                unpack(origin, staging / ".payload")
                root, move, search = staging / ".payload", True, [staging / ".payload"]
                archives.append(_check_user_archive(entry, origin))
            files = _fetch_list_files(entry, staging, catalog, opts, search)
            record = _lay_out(entry, staging, root, opts, method="add", move=move, source=str(origin))
            record.files, record.archives = files, archives
            _finish(record, staging, install_dir(entry.name, home))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return record


def _check_user_archive(entry: CatalogEntry, archive: Path) -> Checked:
    """The user's archive, hashed: when it is one of the entry's known downloads, it counts as verified."""
    digest = sha256_file(archive)
    for source in entry.sources:
        if source.sha256 and source.sha256.lower() == digest:
            return Checked(archive.name, digest, "known sha256", f"{source.where} (same file)")
    return Checked(archive.name, digest, "computed (no recorded hash)", str(archive))


def _choose_source(entry: CatalogEntry, name: str | None) -> Remote | None:
    if not entry.sources:
        return None
    if name is not None:
        for source in entry.sources:
            if source.name == name:
                if source.manual:
                    raise UsageError(
                        f"source '{name}' of {entry.name} is a manual download",
                        hint=f"{entry.manual_hint()}, then: qbench data add {entry.name} --from DIR_OR_ARCHIVE",
                    )
                return source
        raise UsageError(
            f"{entry.name} has no source '{name}'",
            hint="sources: " + ", ".join(s.name for s in entry.sources),
        )
    if entry.manual_first:
        mirrors = [s.name for s in entry.downloadable]
        also = f"; or a third-party mirror: --source {mirrors[0]}" if mirrors else ""
        raise UsageError(
            f"{entry.name} has no scriptable official source",
            hint=f"{entry.manual_hint()}, then: qbench data add {entry.name} --from DIR_OR_ARCHIVE{also}",
        )
    return entry.sources[0]


def _accept_terms(entry: CatalogEntry, source: Remote | None, opts: Options) -> str:
    """The terms accepted (empty when there are none); shown and asked for on a terminal."""
    terms = [t for t in (entry.terms, source.terms if source else "") if t]
    if not terms:
        return ""
    if opts.accept_terms:
        return " | ".join(terms)
    text = f"Terms of {entry.name}:\n  " + "\n  ".join(terms)
    if opts.confirm is not None and opts.confirm(text + "\nDo you accept these terms?"):
        return " | ".join(terms)
    raise UsageError(
        f"{entry.name} has terms of use that must be accepted: {' | '.join(terms)}",
        hint="read them, then pass --accept-terms (or answer yes on a terminal)",
    )


def _lay_out(
    entry: CatalogEntry, staging: Path, root: Path, opts: Options, *, method: str, move: bool, source: str
) -> InstallRecord:
    """Find the images under ``root`` and place them in ``staging/images`` as the list files name them."""
    if not entry.needs_images:
        n = len(entry.files)
        return InstallRecord(entry.name, method, source, "files only", n, n)
    required = required_images(entry, staging)
    if required is None:
        found, image_root = locate_folder(root)
        required = list(found)
    else:
        found, image_root = locate(root, required, prefer=entry.prefer, avoid=entry.avoid)
    if entry.avoid and entry.avoid in Path(image_root).parts:
        raise DataError(
            f"the images found for {entry.name} are in '{image_root}', the copy Q-Bench did not score",
            file=source,
            hint=f"use a copy with the '{entry.prefer}' images" if entry.prefer else None,
        )
    missing = [rel for rel in required if rel not in found]
    if not found:
        raise DataError(
            f"none of the {len(required)} images of {entry.name} are in it",
            file=source,
            hint=f"first expected: {required[0]}" if required else None,
        )
    if missing and not opts.partial:
        raise DataError(
            f"{len(found)} of {len(required)} images of {entry.name} found, {len(missing)} missing "
            f"(e.g. {', '.join(missing[:3])})",
            file=source,
            hint="nothing was installed; pass --partial to install an incomplete copy (reported as partial)",
        )
    images = staging / IMAGES
    for rel, path in found.items():
        dest = images / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if move and path.is_symlink():  # a link inside the archive: its content, not a link that may break
            shutil.copy2(path.resolve(), dest)
        elif move:
            os.rename(path, dest)
        elif opts.copy:
            shutil.copy2(path, dest)
        else:
            dest.symlink_to(path.resolve())
    shutil.rmtree(staging / ".payload", ignore_errors=True)
    if missing:
        (staging / PRESENT).write_text("\n".join(found) + "\n")
    layout = "moved from archive" if move else "copied" if opts.copy else "linked"
    record = InstallRecord(
        entry.name,
        method,
        source,
        layout,
        len(found),
        len(required),
        missing_examples=missing[:20],
        image_root=image_root,
    )
    if missing:
        log.warning("%s installed as PARTIAL: %d of %d images", entry.name, len(found), len(required))
    return record


def _finish(record: InstallRecord, staging: Path, final: Path) -> None:
    import json

    from qbench import __version__

    record.installed_at = datetime.now(UTC).isoformat(timespec="seconds")
    record.qbench_version = __version__
    (staging / RECORD).write_text(json.dumps(record.to_json(), indent=1) + "\n")
    _commit(staging, final)
