"""A1 questions in the Hugging Face layouts: Q-Bench-HF / Q-Bench2-HF parquet, ``save_to_disk``, hub ids.

Columns (protocol.md 1.3, 2.2): ``id``, ``image`` (single) or ``image1``/``image2`` (pairs), ``question``,
``option0``..``option3`` padded with ``"N/A"``, ``question_type``, ``question_concern``, ``correct_choice``
(a letter; ``"@"`` on the test split = hidden). Codes and checks are those of the official json
(:mod:`qbench.data.llvisionqa`), so the same item reads the same in every format; the sample id is the
row's ``id`` (equal to the item's position in the official json).

Images. The HF files embed each image's bytes (an ``Image`` struct ``{bytes, path}``), but the runner opens
images only by path (:mod:`qbench.data.images`, which also hashes the file for the response cache). So the
bytes are written once to files, **content-addressed under the qbench cache folder**:
``$QBENCH_CACHE_DIR/images/<2 hex>/<blake2b of the bytes>.<ext>`` (default cache folder: the user cache dir,
``~/.cache/qbench``). Why there and why by content:

* the data folder may be read-only (a shared mount, the HF hub cache), so nothing is written beside it;
* a name derived from the bytes can never be stale: a changed dataset gets new files, an unchanged one
  finds its files and writes nothing (each file is written to a temporary name and renamed, so a crash
  never leaves half an image that a later load would trust);
* pairs reuse images (protocol 2.1) and the same photo appears in several splits and formats: it is stored
  once, and its response-cache key is the same as for the original file from the json release.

The bytes are read in batches of rows, so memory stays flat. An image struct that holds only a ``path`` is
resolved against ``--images`` or the data folder instead. ``pyarrow`` (parquet) and ``datasets``
(``save_to_disk`` folders, hub ids) are the ``datasets`` extra.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from qbench.data.base import Dataset, LoadOptions
from qbench.data.containment import image_path
from qbench.data.llvisionqa import (
    PAIR_CONCERNS,
    QTYPES,
    SINGLE_CONCERNS,
    check_answer_letter,
    check_code,
    check_options,
    warn_hidden,
)
from qbench.errors import DataError, MissingDependency
from qbench.types import Sample

__all__ = [
    "ImageStore",
    "image_cache_dir",
    "is_hub_id",
    "load_hub_dataset",
    "read_hf_disk",
    "read_hf_folder",
]

BATCH_ROWS = 128
OPTION_COLUMNS = ("option0", "option1", "option2", "option3")
REQUIRED_COLUMNS = ("question", "option0", "option1", "question_type", "question_concern")

# "owner/name": what the hub calls a dataset id. Paths with a data file's extension are never hub ids.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
_DATA_SUFFIXES = {".json", ".jsonl", ".csv", ".parquet", ".arrow"}


# --- image files ------------------------------------------------------------------------------------------


def image_cache_dir() -> Path:
    """Where embedded images are extracted: ``images/`` beside the response cache (``QBENCH_CACHE_DIR``)."""
    from qbench.paths import cache_dir

    return cache_dir() / "images"


_MAGIC = (
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)


def _extension(data: bytes, name: str | None) -> str:
    """The file extension for image bytes: from their magic number, else the stored name, else ``.img``.

    The extension matters to people looking at the folder and to API adapters that send a MIME type;
    decoding (Pillow) looks at the bytes anyway.
    """
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    suffix = Path(name).suffix.lower() if name else ""
    return suffix if re.fullmatch(r"\.[a-z0-9]{2,5}", suffix) else ".img"


class ImageStore:
    """Content-addressed image files: ``put(bytes)`` returns the path of a file holding exactly those bytes."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or image_cache_dir()
        self.written = 0

    def put(self, data: bytes, name: str | None = None) -> Path:
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        target = self.root / digest[:2] / f"{digest}{_extension(data, name)}"
        if target.exists() and target.stat().st_size == len(data):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.written += 1
        return target


# --- rows -> samples ---------------------------------------------------------------------------------------


def _image_path(
    cell: Any, store: ImageStore, root: Path, *, file: Path | str, item: Any, field: str
) -> tuple[Path, str]:
    """(file to open, name as stored) for one image cell: an ``Image`` struct, raw bytes, or a path."""
    data: Any = None
    name: str | None = None
    if isinstance(cell, Mapping):
        data, name = cell.get("bytes"), cell.get("path")
    elif isinstance(cell, (bytes, bytearray, memoryview)):
        data = cell
    elif isinstance(cell, str):
        name = cell
    if data:
        return store.put(bytes(data), name), name or ""
    if name:
        return image_path(root, name, file=file, item=item, field=field), name
    raise DataError("no image bytes and no path", file=file, item=item, field=field)


def _columns(names: Iterable[str], file: Path | str) -> tuple[str, ...]:
    """The image columns (``image``, or ``image1`` and ``image2``), after checking the required ones."""
    names = set(names)
    for column in REQUIRED_COLUMNS:
        if column not in names:
            raise DataError(
                f"missing column (found: {', '.join(sorted(names))})",
                file=file,
                field=column,
                hint="expected the Q-Bench-HF layout (protocol.md 1.3)",
            )
    if {"image1", "image2"} <= names:
        return ("image1", "image2")
    if "image" in names:
        return ("image",)
    raise DataError("missing image column: expected 'image', or 'image1' and 'image2'", file=file)


def _row_sample(
    row: Mapping[str, Any],
    index: int,
    image_columns: tuple[str, ...],
    *,
    file: Path | str,
    store: ImageStore,
    root: Path,
    lang: str,
) -> Sample:
    rid = row.get("id", index)
    if rid is None or isinstance(rid, bool) or not isinstance(rid, (int, str)) or str(rid).strip() == "":
        raise DataError(f"not an id: {rid!r}", file=file, item=index, field="id")
    item = str(rid)

    def check(value: Any, why: str | None, field: str) -> Any:
        if why:
            raise DataError(why, file=file, item=item, field=field)
        return value

    pair = len(image_columns) == 2
    qtype = check(*check_code(row.get("question_type"), QTYPES), "question_type")
    concern = check(
        *check_code(row.get("question_concern"), PAIR_CONCERNS if pair else SINGLE_CONCERNS),
        "question_concern",
    )
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataError("missing or empty", file=file, item=item, field="question")
    raw_options = [row[c] if row[c] is not None else "N/A" for c in OPTION_COLUMNS if c in row]
    options = check(*check_options(raw_options), "option0..option3")
    answer = check(*check_answer_letter(row.get("correct_choice"), options), "correct_choice")
    images, names = [], []
    for column in image_columns:
        path, name = _image_path(row.get(column), store, root, file=file, item=item, field=column)
        images.append(path)
        names.append(name)
    return Sample(
        id=item,
        images=tuple(images),
        question=question,
        options=options,
        answer=answer,
        qtype=qtype,
        concern=concern,
        source="|".join(names) if all(names) else item,
        extra={"pair": pair, "lang": lang, "hf_id": rid},
    )


def _samples_from_tables(
    tables: Iterable[Any], *, file: Path | str, options: LoadOptions, root: Path
) -> list[Sample]:
    """Samples from pyarrow tables/record batches in the HF layout, converted batch by batch."""
    store = ImageStore()
    samples: list[Sample] = []
    seen: set[str] = set()
    image_columns: tuple[str, ...] | None = None
    abench = False
    for table in tables:
        if image_columns is None:
            abench = _is_abench(table.schema.names)
            image_columns = ("image",) if abench else _columns(table.schema.names, file)
        for row in table.to_pylist():
            if abench:
                sample = _abench_row(row, len(samples), file=file, store=store, root=root, lang=options.lang)
            else:
                sample = _row_sample(
                    row, len(samples), image_columns, file=file, store=store, root=root, lang=options.lang
                )
            if sample.id in seen:
                raise DataError("the same id appears twice", file=file, item=sample.id, field="id")
            seen.add(sample.id)
            samples.append(sample)
    warn_hidden(file, samples, options)
    return samples


def _is_abench(names: Iterable[str]) -> bool:
    from qbench.data.abench import is_abench_columns

    return is_abench_columns(names)


def _abench_row(
    row: Mapping[str, Any], index: int, *, file: Path | str, store: ImageStore, root: Path, lang: str
) -> Sample:
    """An A-Bench-HF row (``category`` instead of type/concern codes): :mod:`qbench.data.abench`."""
    from qbench.data.abench import row_sample

    item = row.get("id", index)
    path, name = _image_path(row.get("image"), store, root, file=file, item=item, field="image")
    return row_sample(row, index, file=file, image=path, name=name, lang=lang)


# --- parquet folders ---------------------------------------------------------------------------------------


def _pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependency("pyarrow", "datasets") from None
    return pq


def parquet_files(path: Path, split: str) -> list[Path]:
    """The parquet shards of ``split``: ``data/<split>-*.parquet`` (the hub layout) or ``<split>-*.parquet``.

    A single ``.parquet`` file is taken as it is, whatever its name.
    """
    if path.is_file():
        return [path]
    for pattern in (f"data/{split}-*.parquet", f"{split}-*.parquet", f"data/{split}/*.parquet"):
        files = sorted(path.glob(pattern))
        if files:
            return files
    found = sorted(
        {p.name.split("-")[0] for p in path.glob("data/*.parquet")}
        | {p.name.split("-")[0] for p in path.glob("*.parquet")}
    )
    raise DataError(
        f"no parquet files for split '{split}'",
        file=path,
        hint=f"splits here: {', '.join(found)}" if found else "expected data/<split>-*.parquet",
    )


def _parquet_batches(files: list[Path]) -> Iterator[Any]:
    pq = _pyarrow()
    for file in files:
        try:
            handle = pq.ParquetFile(file)
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a broken file
            raise DataError(f"not a readable parquet file ({exc})", file=file) from None
        try:
            yield from handle.iter_batches(batch_size=BATCH_ROWS)
        except Exception as exc:  # a corrupted page or column chunk, found while reading
            raise DataError(
                f"broken parquet data ({exc})",
                file=file,
                hint="the file is damaged: download or copy it again",
            ) from None


def read_hf_folder(path: Path, options: LoadOptions) -> list[Sample]:
    """Samples of one split of a Q-Bench-HF / Q-Bench2-HF parquet folder (or one parquet file)."""
    files = parquet_files(path, options.split)
    base = path if path.is_dir() else path.parent
    label = files[0] if len(files) == 1 else path
    return _samples_from_tables(
        _parquet_batches(files), file=label, options=options, root=options.images or base
    )


# --- datasets: save_to_disk folders and hub ids ----------------------------------------------------------


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise MissingDependency("datasets", "datasets") from None
    return datasets


def _pick_split(obj: Any, split: str, where: str) -> Any:
    """The split of a DatasetDict (or a lone Dataset as it is)."""
    if hasattr(obj, "keys") and not hasattr(obj, "features"):
        if split not in obj:
            raise DataError(f"no split '{split}' (splits: {', '.join(obj.keys())})", file=where)
        return obj[split]
    return obj


def _arrow_batches(ds: Any) -> Iterator[Any]:
    # The arrow format hands over the stored columns as they are: images stay {bytes, path} structs
    # instead of being decoded to PIL and re-encoded.
    yield from ds.with_format("arrow").iter(batch_size=BATCH_ROWS)


def read_hf_disk(path: Path, options: LoadOptions) -> list[Sample]:
    """Samples of one split of a ``datasets`` ``save_to_disk`` folder (a DatasetDict or a Dataset)."""
    datasets = _datasets()
    try:
        obj = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataError(f"not a readable save_to_disk folder ({exc})", file=path) from None
    ds = _pick_split(obj, options.split, str(path))
    return _samples_from_tables(_arrow_batches(ds), file=path, options=options, root=options.images or path)


def is_hub_id(text: str) -> bool:
    """Whether a data spec that is not a local path looks like a hub dataset id (``owner/name``)."""
    return bool(_HUB_ID.fullmatch(text)) and Path(text).suffix.lower() not in _DATA_SUFFIXES


def _hub_reachable() -> bool:
    """A quick check that the hub's host answers, so that offline fails at once, not after minutes of retries."""
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # a proxy decides; let the library try
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=3):
            return True
    except OSError:
        return False


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"}
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def load_hub_dataset(spec: str, options: LoadOptions) -> Dataset:
    """One split of a hub dataset (``q-future/Q-Bench-HF``) through ``datasets.load_dataset``.

    Online only, or from the local HF cache when ``HF_HUB_OFFLINE=1``; every failure is one line that says
    what to do instead.
    """
    where = f"'{spec}' is not a local file or folder, and"
    hint = "pass a downloaded folder with data/<split>-*.parquet"
    if not _offline() and not _hub_reachable():
        raise DataError(
            f"{where} the Hugging Face Hub is not reachable to load it as a hub dataset (offline?)",
            hint=hint + ", or set HF_HUB_OFFLINE=1 to use a copy in your HF cache",
        )
    datasets = _datasets()
    try:
        ds = datasets.load_dataset(spec, split=options.split)
    except Exception as exc:  # datasets raises ConnectionError, FileNotFoundError, DatasetNotFoundError, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{where} loading it from the Hugging Face Hub failed: {reason}", hint=hint) from None
    samples = _samples_from_tables(
        _arrow_batches(ds), file=spec, options=options, root=options.images or Path.cwd()
    )
    if not samples:
        raise DataError("no items in this dataset", file=spec)
    return Dataset(
        name=spec.rstrip("/").rsplit("/", 1)[-1],
        samples=tuple(samples),
        format="hf-hub",
        kind="mcq",
        path=None,
        split=options.split,
        fingerprint=_content_fingerprint(samples, f"hf-hub|{spec}|{options.split}|{options.lang}"),
        info={"hub_id": spec},
    )


def _content_fingerprint(samples: Iterable[Sample], extra: str) -> str:
    """A hash of everything that defines the items; image files are content-addressed, so their names suffice."""
    digest = hashlib.blake2b(digest_size=12)
    for s in samples:
        fields = (s.id, s.question, "\x1f".join(s.options), s.answer, s.qtype, s.concern)
        digest.update(repr(fields).encode())
        digest.update("|".join(p.name for p in s.images).encode())
    digest.update(extra.encode())
    return digest.hexdigest()
