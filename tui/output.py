"""Output that never ends a run: stdout and stderr that go quiet when their reader is gone.

A headless run prints to a terminal or a pipe that can vanish under it: a dropped SSH
connection or `tmux kill-session` (writes fail with EIO, and a SIGHUP follows), `| head`
(EPIPE), a stdout closed by the caller (`>&-`: sys.stdout is None).  None of these may end
the training (issue 22): the printer is a sink like any other, and a sink that raises stops
the run unsaved.  So the headless commands print through `guarded_output()`: the first failed
write marks the stream lost, points its file descriptor at /dev/null (so that the
interpreter's own flush at exit and the Rich progress thread go quiet too) and every later
write is dropped.  The store and the SIGHUP handler carry on; `glasslab ps` and the store are
where the run is seen from then on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

# What a lost reader raises: OSError (EIO from a hung-up tty, EPIPE, EBADF), ValueError (a
# closed file object), AttributeError (no stream at all: sys.stdout is None).
LOST = (OSError, ValueError, AttributeError)


class QuietOnError:
    """A text stream that drops its writes for good once one has failed."""

    def __init__(self, stream):
        self._stream = stream
        self.lost: BaseException | None = None if stream is not None else ValueError("no stream")

    def write(self, text: str) -> int:
        if self.lost is None:
            try:
                return self._stream.write(text)
            except LOST as err:
                self._lose(err)
        return len(text)

    def flush(self) -> None:
        if self.lost is None:
            try:
                self._stream.flush()
            except LOST as err:
                self._lose(err)

    def isatty(self) -> bool:
        try:
            return self.lost is None and self._stream.isatty()
        except LOST:
            return False

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name):  # encoding, errors, buffer ... of the stream underneath
        return getattr(self._stream, name)

    def _lose(self, err: BaseException) -> None:
        self.lost = err
        # Later writes to the same descriptor (the interpreter flushing this stream's buffer at exit:
        # "Exception ignored ... BrokenPipeError" and exit 120) land in /dev/null instead.
        with contextlib.suppress(*LOST):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)


@contextlib.contextmanager
def guarded_output():
    """stdout and stderr that go quiet, rather than raise, when the terminal or pipe is gone."""
    out, err = sys.stdout, sys.stderr
    if isinstance(out, QuietOnError):  # already guarded (resume -> train_headless)
        yield
        return
    sys.stdout, sys.stderr = QuietOnError(out), QuietOnError(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def quiet_output(command):
    """A command that prints through `guarded_output()`: `glasslab ps | head` ends as the command
    would have, exit 0, rather than with Click's silent exit 1 at the first write after the reader
    left; a sweep's driver goes on driving its points.  Not for the console, which needs the real
    terminal."""

    @functools.wraps(command)  # Typer reads the options from the signature, which follows __wrapped__
    def guarded(*args, **kwargs):
        with guarded_output():
            return command(*args, **kwargs)

    return guarded
