"""`backfuture check` progress (commands.progress): the pure line renderer, and the writer that
draws only on a TTY and not with --json, rewriting one line with \\r and blanking it at the end."""

from __future__ import annotations

import io

from backfuture_daemon.commands.progress import Progress, progress_line


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_shows_done_of_total_and_failures_so_far() -> None:
    assert progress_line(0, 3, 0) == "testing connections: 0/3 done, no failures so far"
    assert progress_line(2, 3, 1) == "testing connections: 2/3 done, 1 failed so far"
    assert progress_line(250, 1000, 17) == "testing connections: 250/1000 done, 17 failed so far"


def test_on_a_tty_each_step_rewrites_one_line_then_blanks_it() -> None:
    tty = Tty()
    p = Progress.for_stream(tty, 3, as_json=False)
    assert p.enabled
    p.start()
    p.advance(failed=False)
    p.advance(failed=True)
    p.advance(failed=False)
    drawn = tty.getvalue()
    assert "\n" not in drawn  # one line, rewritten in place
    frames = drawn.split("\r")[1:]
    assert [f.rstrip() for f in frames] == [
        progress_line(0, 3, 0),
        progress_line(1, 3, 0),
        progress_line(2, 3, 1),
        progress_line(3, 3, 1),
    ]
    # "1 failed" is shorter than "no failures": the old tail is padded over, not left behind.
    assert len(frames[2]) == len(progress_line(0, 3, 0))
    assert (p.done, p.failed) == (3, 1)
    p.clear()
    assert tty.getvalue()[len(drawn) :] == "\r" + " " * len(progress_line(0, 3, 0)) + "\r"


def test_nothing_is_written_to_a_pipe_or_a_file() -> None:
    pipe = io.StringIO()  # isatty() is False
    p = Progress.for_stream(pipe, 2, as_json=False)
    assert not p.enabled
    p.start()
    p.advance(failed=True)
    p.clear()
    assert pipe.getvalue() == ""
    assert (p.done, p.failed) == (1, 1)  # still counts


def test_nothing_is_written_with_json_even_on_a_tty() -> None:
    tty = Tty()
    p = Progress.for_stream(tty, 2, as_json=True)
    p.start()
    p.advance(failed=False)
    p.clear()
    assert tty.getvalue() == ""


def test_a_closed_stream_counts_as_no_tty() -> None:
    closed = io.StringIO()
    closed.close()
    assert not Progress.for_stream(closed, 1, as_json=False).enabled
