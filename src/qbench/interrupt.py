"""Ctrl-C and SIGTERM during a run: the first stops cleanly, a second one exits at once.

SIGTERM is what SLURM and Kubernetes send before they kill a job, so it is treated like Ctrl-C. The first
signal raises ``KeyboardInterrupt`` in the main thread wherever it waits; the runner then gives up the requests
still queued or in flight (the API adapter shuts their sockets, so a hung server is not waited out), keeps
everything received, marks the run ``interrupted`` and the CLI prints the command that resumes (exit 130). A
second signal means "now": exit 130 at once, without a traceback; everything already saved stays valid.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

EXIT_CODE = 130
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interruptions:
    """Installs the two-step handler for SIGINT and SIGTERM inside a ``with`` block (main thread only)."""

    def __init__(self) -> None:
        self.received: str | None = None  # the name of the first signal, once one came
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interruptions:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.received is None:  # after a first signal, a second one still means "exit now" until the end
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            sys.stderr.write(f"\n{name} again: exiting now (everything saved so far is kept)\n")
            sys.stderr.flush()
            os._exit(EXIT_CODE)
        self.received = name
        sys.stderr.write(
            f"\n{name}: stopping, keeping every answer received (press Ctrl-C again to quit now)\n"
        )
        sys.stderr.flush()
        raise KeyboardInterrupt(name)
