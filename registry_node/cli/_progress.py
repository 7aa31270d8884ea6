"""A progress line for long commands (an import of many issuers, a sync of many peers): drawn
on standard error and redrawn in place, only when standard error is a terminal. Anywhere else
(a pipe, a log file, a CI job) nothing is written, so output stays what scripts expect."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from registry_node.services.progress import UNITS, Progress, ignore

#: back to the start of the line and clear it
_CLEAR = "\r\x1b[K"


class ProgressLine:
    """Draws ``(phase, done, total)`` reports; redraws only when the phase or the whole
    percentage changes, so a report per issuer costs almost nothing."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self._last: tuple[str, int] | None = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if (phase, percent) == self._last:
            return
        self._last = (phase, percent)
        unit = UNITS.get(phase, "")
        if unit == "bytes":
            text = f"{phase} {self.label}: {percent}%"
        else:
            text = f"{phase} {self.label}: {done:,} of {total:,} {unit} ({percent}%)"
        self.stream.write(_CLEAR + text)
        self.stream.flush()

    def close(self) -> None:
        if self._last is not None:
            self.stream.write(_CLEAR)
            self.stream.flush()


@contextmanager
def progress_line(
    label: str,
    stream: TextIO | None = None,
    isatty: Callable[[], bool] | None = None,
) -> Iterator[Progress]:
    """A progress report to hand to long work: a :class:`ProgressLine` on ``stream``
    (standard error) when it is a terminal, else one that writes nothing. The line is cleared
    when the work is done, before the command prints its result."""
    stream = stream if stream is not None else sys.stderr
    tty = isatty if isatty is not None else stream.isatty
    if not tty():
        yield ignore
        return
    line = ProgressLine(stream, label)
    try:
        yield line
    finally:
        line.close()
