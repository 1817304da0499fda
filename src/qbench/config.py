"""RunConfig: everything that defines a run, layered defaults < TOML file < ``QBENCH_*`` env < flags.

The CLI and the Python API build the same RunConfig and call the same :func:`qbench.runner.run`.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from qbench.errors import DataError, UsageError
from qbench.options import convert, setting_kind
from qbench.registry import did_you_mean

log = logging.getLogger("qbench")


@dataclass
class RunConfig:
    task: str
    model: Any
    data: Any
    split: str = "dev"
    out: Path = Path("runs")
    judge: Any = None
    limit: int | None = None
    batch_size: int | None = None
    concurrency: int = 16
    decode_threads: int | None = (
        None  # image decode threads of a local run (default: the CPU count, at most 8)
    )
    ray_workers: int | None = None  # model replicas under --executor ray (default: one per GPU, else per CPU)
    workers: int | None = (
        None  # deprecated: decode_threads locally, ray_workers under Ray (see __post_init__)
    )
    executor: str = "local"
    shard: str | None = None  # "K/N", 1-based K
    cache: bool = True
    images: Path | None = None
    format: str | None = None
    lang: str = "en"
    image_column: str | None = None
    mos_column: str | None = None
    encoding: str | None = None  # a CSV file's text encoding (default UTF-8)
    api_base: str | None = None
    model_options: dict[str, str] = field(default_factory=dict)
    judge_options: dict[str, str] = field(default_factory=dict)
    task_options: dict[str, str] = field(default_factory=dict)
    progress: bool | None = None  # None: a bar on a terminal, quiet lines elsewhere

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.images is not None:
            self.images = Path(self.images)
        if self.split not in {"dev", "test"}:
            raise UsageError(f"unknown split '{self.split}'", hint="use --split dev or --split test")
        if self.lang not in {"en", "zh"}:
            raise UsageError(f"unknown language '{self.lang}'", hint="use --lang en or --lang zh")
        if self.executor not in {"local", "ray"}:
            raise UsageError(
                f"unknown executor '{self.executor}'", hint=did_you_mean(self.executor, ["local", "ray"])
            )
        if self.limit is not None and self.limit < 1:
            raise UsageError("--limit must be at least 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        if self.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        if self.workers is not None:
            self._replace_workers()
        if self.decode_threads is not None and self.decode_threads < 1:
            raise UsageError(
                "--decode-threads must be at least 1 (leave it out for the CPU count, at most 8)"
            )
        if self.ray_workers is not None and self.ray_workers < 1:
            raise UsageError("--ray-workers must be at least 1 (leave it out for one per GPU, else per CPU)")
        if self.shard is not None:
            parse_shard(self.shard)

    def _replace_workers(self) -> None:
        """``workers`` meant decode threads locally but model replicas under Ray: each meaning has its own
        setting now. The old one still works, with one deprecation line, and is stored as the new one."""
        if self.workers is not None and self.workers < 1:
            raise UsageError("--workers must be at least 1 (leave it out for the CPU count, at most 8)")
        new = "ray_workers" if self.executor == "ray" else "decode_threads"
        log.warning(
            "--workers (the workers setting) is deprecated: it means --%s here (%s); "
            "use --decode-threads for image decode threads and --ray-workers for Ray model replicas",
            new.replace("_", "-"),
            "Ray model replicas" if new == "ray_workers" else "image decode threads",
        )
        if getattr(self, new) is None:
            setattr(self, new, self.workers)
        self.workers = None


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> (2, 8); K is 1-based so ``$SLURM_ARRAY_TASK_ID`` style numbering works."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard '{text}' must look like K/N, e.g. 1/4") from None
    if not (n >= 1 and 1 <= k <= n):
        raise UsageError(f"--shard '{text}': need 1 <= K <= N")
    return k, n


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """A ``QBENCH_*`` value as the setting's type, through the one option parser (:mod:`qbench.options`)."""
    converter = setting_kind(kind)
    if converter is None or (converter is int and isinstance(value, int)):
        return value
    try:
        return convert(value, converter)
    except (TypeError, ValueError):
        raise UsageError(f"setting '{name}' has a bad value {value!r}") from None


def _check_type(key: str, value: Any, kind: Any, path: Path) -> None:
    """A TOML value of the wrong type is one line naming the file and the setting, not a crash later."""
    text = str(kind)
    if "dict" in text:
        ok, expected = isinstance(value, dict), 'a table (key = "value" pairs)'
    elif "bool" in text:
        ok, expected = isinstance(value, bool), "true or false"
    elif "int" in text:
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif "str" in text or "Path" in text:
        ok, expected = isinstance(value, str), "a string"
    else:
        return  # model, judge, data: a spec string or, from Python, an object
    if not ok:
        raise DataError(f"must be {expected}, not {value!r}", file=path, field=key)


def layered(
    flags: Mapping[str, Any], config_file: Path | None = None, env: Mapping[str, str] | None = None
) -> RunConfig:
    """Merge defaults < TOML file < QBENCH_* environment < explicit flags (None means "not given")."""
    env = os.environ if env is None else env
    known = {f.name: f.type for f in fields(RunConfig)}
    merged: dict[str, Any] = {}
    path = config_file or (Path(env["QBENCH_CONFIG"]) if env.get("QBENCH_CONFIG") else None)
    if path is not None:
        try:
            table = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise DataError("config file not found", file=path) from None
        except tomllib.TOMLDecodeError as exc:
            raise DataError(f"broken TOML: {exc}", file=path) from None
        for key, value in table.items():
            name = key.replace("-", "_")
            if name not in known:
                raise DataError(f"unknown setting '{key}'", file=path, hint=did_you_mean(name, sorted(known)))
            _check_type(key, value, known[name], path)
            merged[name] = value
    for key, value in env.items():
        if key.startswith("QBENCH_") and key != "QBENCH_CONFIG":
            name = key[len("QBENCH_") :].lower()
            if name in known:
                merged[name] = _coerce(name, value, known[name])
    for key, value in flags.items():
        if value is None or (isinstance(value, dict) and not value):
            continue
        merged[key] = value
    for required in ("task", "model", "data"):
        if required not in merged:
            raise UsageError(f"missing --{required}")
    return RunConfig(**merged)
