"""The CLI's standard streams when their reader goes away early (`batchsync run items -v 2>&1 | head -8`).

Python ignores SIGPIPE, so a write to a pipe nobody reads raises BrokenPipeError: in our own writes, in
logging, in the interpreter's last flush, and in Rich, whose default answer is `SystemExit(1)` from
whichever thread was printing, mid-pass. None of that may stop a sync. As the Python documentation
advises (https://docs.python.org/3/library/signal.html#note-on-sigpipe), SIGPIPE stays ignored (its
default would kill the process at the next write, mid-pass, its run left recorded as running) and the
first broken write points that stream's file descriptor at /dev/null: later writes vanish, the command
goes on to its end, and the exit code is the command's own. A closed stdout is said once on stderr
(when stderr is itself the closed pipe, there is nowhere left to say it; the run record still tells the
run's outcome).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import IO, TextIO

from rich.console import Console

STDOUT_CLOSED_NOTICE = (
    "batchsync: stdout was closed by its reader (broken pipe); nothing more is printed there, "
    "and the command goes on to its end"
)

_lock = threading.Lock()
_closed_descriptors: set[int] = set()


def stream_closed(stream: IO[str]) -> None:
    """Called when a write to `stream` broke its pipe: from now on its writes go to /dev/null."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture buffer): nothing to redirect
        return
    with _lock:
        if descriptor in _closed_descriptors:
            return
        _closed_descriptors.add(descriptor)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, descriptor)
        finally:
            os.close(devnull)
    if descriptor == _descriptor_of(sys.stdout):
        _tell_stderr(STDOUT_CLOSED_NOTICE)


def write_stdout(text: str) -> None:
    """`text` on stdout, flushed; a closed stdout is noted (see the module docstring), never raised."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        stream_closed(sys.stdout)


def flush_standard_streams() -> None:
    """Flush stdout and stderr before the interpreter does: its own flush at exit would report a
    broken pipe as 'Exception ignored' and turn the exit code into 120."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            stream_closed(stream)
            with contextlib.suppress(OSError):
                stream.flush()  # what was buffered now goes to /dev/null


class PipeSafeConsole(Console):
    """A Rich console that stops printing when its stream's reader is gone, instead of exiting."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        stream_closed(self.file)


class PipeSafeStreamHandler(logging.StreamHandler[TextIO]):
    """A log handler whose closed stream ends its output quietly, not in a 'Logging error' per line."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            stream_closed(self.stream)
            return
        super().handleError(record)


def _descriptor_of(stream: IO[str]) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError):
        return None


def _tell_stderr(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except BrokenPipeError:
        stream_closed(sys.stderr)
