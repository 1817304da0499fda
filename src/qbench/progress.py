"""Progress that suits where it is shown: a rich bar on a terminal, a quiet line every few seconds in logs."""

from __future__ import annotations

import logging
import os
import sys
import time
from types import TracebackType
from typing import Any

log = logging.getLogger("qbench")


class Progress:
    def __init__(self, total: int, label: str, enabled: bool | None = None) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.start = time.monotonic()
        self._last_line = self.start
        interactive = sys.stderr.isatty() and not os.environ.get("CI")
        self._bar_enabled = interactive if enabled is None else (enabled and interactive)
        self._silent = enabled is False  # the caller prints its own summary (e.g. the demo)
        self._bar: Any = None  # a rich Progress while the bar is shown
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self._bar_enabled and self.total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, rate="")
        return self

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        rate = self.done / max(now - self.start, 1e-9)
        if self._bar is not None:
            self._bar.update(self._task, advance=n, rate=f"{rate:.1f}/s")
        elif not self._silent and (now - self._last_line >= 10 or self.done == self.total):
            self._last_line = now
            log.info("%s: %d/%d (%.1f/s)", self.label, self.done, self.total, rate)

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(et, ev, tb)
