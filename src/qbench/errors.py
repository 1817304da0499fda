"""One error tree for everything a user can get wrong or the world can break.

The CLI turns a :class:`QBenchError` into a single line that names the file, the item and the field, and
exits with the error's code (2 for usage and data errors, 1 for runtime failures). Anything else is a bug and
gets a traceback only with ``--debug``.
"""

from __future__ import annotations

from pathlib import Path


class QBenchError(Exception):
    """Base error: a message plus where it happened (file, item, field)."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        item: str | int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.item = item
        self.field = field
        self.hint = hint

    def one_line(self) -> str:
        """``file: item 12: field 'gt_score': message (hint)`` with the parts that are known."""
        where = []
        if self.file:
            where.append(self.file)
        if self.item is not None:
            where.append(f"item {self.item}")
        if self.field:
            where.append(f"field '{self.field}'")
        text = ": ".join([*where, self.message])
        if self.hint:
            text += f" ({self.hint})"
        return text

    def __str__(self) -> str:
        return self.one_line()


class UsageError(QBenchError):
    """A wrong flag, option, model spec or task name."""

    exit_code = 2


class DataError(QBenchError):
    """A data file that is missing, malformed, or has a wrong field or an unreadable image."""

    exit_code = 2


class MissingDependency(UsageError):
    """An optional extra is not installed; the message carries the exact pip line."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"this needs the Python package '{package}', which is not installed",
            hint=f"pip install 'qbench[{extra}]'",
        )
        self.package = package
        self.extra = extra


class ModelError(QBenchError):
    """A model that cannot be loaded or reached, or that lacks a needed capability."""

    exit_code = 2


class CapabilityError(ModelError):
    """A model that cannot do a task at all (``qbench bench`` skips that task for it instead of failing)."""


class RunError(QBenchError):
    """A run that failed at run time (the model crashed, the server kept failing, ...)."""

    exit_code = 1


class StopRun(RunError):
    """A failure that would repeat for every remaining sample (the server is gone): the run stops at once.

    The pipeline and the judging re-raise it instead of recording it per sample; what was received is kept,
    and the CLI adds the command that resumes.
    """


class Interrupted(QBenchError):
    """Ctrl-C or SIGTERM: the run stopped sending, kept what it received, and is marked ``interrupted``."""

    exit_code = 130
