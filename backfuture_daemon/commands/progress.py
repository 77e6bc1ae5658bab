"""Progress of `backfuture check` on a terminal: one line on stderr, rewritten with \\r.

`progress_line` is the pure renderer (counts in, text out); `Progress` writes it only when enabled
(`for_stream`: the stream is a TTY and the output is not --json), so pipes, files and CI logs get
nothing extra. The line is blanked before the report is printed.
"""

from __future__ import annotations

from typing import TextIO


def progress_line(done: int, total: int, failed: int) -> str:
    """`testing connections: 2/3 done, 1 failed so far`."""
    failures = "no failures" if not failed else f"{failed} failed"
    return f"testing connections: {done}/{total} done, {failures} so far"


class Progress:
    """Counts finished connection tests and redraws the line; a no-op when not enabled."""

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self._stream = stream
        self.total = total
        self.done = 0
        self.failed = 0
        self._width = 0

    @classmethod
    def for_stream(cls, stream: TextIO, total: int, *, as_json: bool) -> Progress:
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):  # a closed or stand-in stream
            tty = False
        return cls(stream if tty and not as_json else None, total)

    @property
    def enabled(self) -> bool:
        return self._stream is not None

    def start(self) -> None:
        self._draw()

    def advance(self, *, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        self._draw()

    def clear(self) -> None:
        """Blank the line so the report starts at column 0 on a clean line."""
        self._write("\r" + " " * self._width + "\r")
        self._width = 0

    def _draw(self) -> None:
        line = progress_line(self.done, self.total, self.failed)
        # Pad over a longer previous line: no terminal escape codes needed.
        self._write("\r" + line.ljust(self._width))
        self._width = max(self._width, len(line))

    def _write(self, text: str) -> None:
        if self._stream is not None:
            self._stream.write(text)
            self._stream.flush()
