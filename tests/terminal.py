"""A real terminal for a CLI subprocess (a pty of a given width, its controlling terminal, so Ctrl+C is
typed as a user types it: echoed as ^C, SIGINT to the process), and just enough of one to read back
what its user would see: text, carriage return, line feed, erase in line and cursor up, with the wrap at
the right margin. Colours and cursor visibility change nothing on screen and are skipped; any other
control sequence fails loudly, so a test never passes on a screen it misread."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Sequence

_CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")

# Run in a new session: make the pty on stderr the session's controlling terminal, then become `argv`.
_ATTACH = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(2, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


class Terminal:
    """Runs `command` with stderr on a pty `width` columns wide; `output` is everything it wrote there."""

    def __init__(self, command: Sequence[str], *, width: int = 80, env: dict[str, str] | None = None) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, width, 0, 0))
        environment = {**os.environ, **(env or {}), "COLUMNS": str(width), "TERM": "xterm-256color"}
        self.width = width
        self.process = subprocess.Popen(
            [sys.executable, "-c", _ATTACH, *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=environment,
            start_new_session=True,
        )
        os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def press_ctrl_c(self) -> None:
        os.write(self._master, b"\x03")

    @property
    def output(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def wait(self, timeout: float) -> int:
        self.process.communicate(timeout=timeout)
        self._reader.join(timeout)
        os.close(self._master)
        return self.process.returncode

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: the process closed its end
                return
            if not data:
                return
            self._chunks.append(data)


def screen(output: str, width: int) -> list[str]:
    """The lines a terminal `width` columns wide shows after `output`, trailing blanks removed."""
    rows: list[list[str]] = [[]]
    row = column = 0
    is_wrap_pending = False  # the cursor sits on the last column; the next character starts a new line
    position = 0
    while position < len(output):
        match = _CSI.match(output, position)
        if match:
            position = match.end()
            parameters, final = match.groups()
            if final in "mlh":  # colours; cursor shown or hidden: the cursor stays, a wrap stays pending
                continue
            is_wrap_pending = False
            if final == "K":
                if parameters == "2":
                    rows[row] = []
                else:
                    del rows[row][column:]
            elif final == "A":
                row = max(0, row - int(parameters or 1))
            else:
                raise AssertionError(f"the test terminal does not know {match.group()!r}")
            continue
        character = output[position]
        position += 1
        if character == "\r":
            column, is_wrap_pending = 0, False
        elif character == "\n":
            row, is_wrap_pending = row + 1, False
        elif character == "\x1b":
            raise AssertionError(f"the test terminal does not know {output[position - 1 : position + 8]!r}")
        else:
            if is_wrap_pending:
                row, column, is_wrap_pending = row + 1, 0, False
            while len(rows) <= row:
                rows.append([])
            line = rows[row]
            line.extend(" " * (column + 1 - len(line)))
            line[column] = character
            if column == width - 1:
                is_wrap_pending = True
            else:
                column += 1
        while len(rows) <= row:
            rows.append([])
    return ["".join(line).rstrip() for line in rows]
