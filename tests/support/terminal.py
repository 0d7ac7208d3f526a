"""The console in a real terminal: tmux with its own server per Terminal, send-keys and capture-pane."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (.ci/run installs it)")


class Terminal:
    """A detached tmux session on a private server (never the user's own tmux), one server per
    Terminal: kill-server returns before the old server has gone, and a new session on the same
    socket could reach the dying server ("server exited unexpectedly": a fresh clone's make test,
    two tmux tests back to back in one worker)."""

    def __init__(self, command: str, cwd: Path, size=(100, 30)):
        self.socket = f"glasslab-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # One tmux command: a second call found "no server running" under load although the session's
        # command (a nohup'd run) trained on; the socket's path is read in the same breath.
        self.socket_path = Path(self.tmux("new-session", "-d", "-s", "e2e", "-x", str(size[0]), "-y", str(size[1]),
                                          "-c", str(cwd), command, ";", "display-message", "-p", "#{socket_path}").strip())

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "e2e")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "e2e", *(["-l"] if literal else []), *keys)
        time.sleep(0.2)  # a person types slower than send-keys; the app still must not care

    def wait_for(self, predicate, what: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        self.socket_path.unlink(missing_ok=True)  # kill-server leaves it, and no later Terminal reuses the name


def glasslab_command() -> str:
    exe = Path(sys.executable).with_name("glasslab")
    return shlex.quote(str(exe)) if exe.exists() else f"{shlex.quote(sys.executable)} -m glasslab.tui.cli"


def step_of(screen: str) -> int:
    for line in screen.splitlines():
        if " step " in line and "/" in line:
            return int(line.split(" step ", 1)[1].split("/", 1)[0].replace(",", ""))
    return -1


def open_quickstart_start_dialog(term: Terminal) -> None:
    """From the preset browser at start-up, as a user: filter to the quickstart, pick it, press s."""
    term.wait_for(lambda s: "quickstart" in s and "Filter" in s, "the preset browser")
    term.keys("/")
    term.keys("quickstart", literal=True)
    term.wait_for(lambda s: "bj18" not in s and "synthetic teacher" in s, "the filter to leave the quickstart")
    term.keys("Enter")
    term.keys("s")  # no wait between: the filter hands s to the list (widgets/filter_input.py, issue 22)
    term.wait_for(lambda s: "Start quickstart" in s, "the start dialog")


class PtyConsole:
    """`glasslab ARGS` on a fresh pseudo-terminal that is its controlling terminal (pty.fork), with
    SIGHUP ignored (nohup, some IDEs and job wrappers), so that closing our side is a real hang-up the
    console outlives.  Needs no tmux.  `shown()` is what it has drawn, escape codes stripped."""

    def __init__(self, *args: str, env: dict[str, str], cwd: Path):
        import pty
        import signal

        pid, fd = pty.fork()
        if pid == 0:  # the child: ignore SIGHUP as nohup does, then become glasslab
            try:
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                os.chdir(cwd)
                os.execve(sys.executable, [sys.executable, "-m", "glasslab.tui.cli", *args], env)
            finally:
                os._exit(127)
        self.pid, self.fd, self._raw = pid, fd, b""
        self.status: int | None = None

    def shown(self) -> str:
        import re
        import select

        while self.fd is not None and select.select([self.fd], [], [], 0)[0]:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                break
            if not data:
                break
            self._raw += data
        return re.sub(r"\x1b\[[0-9;?<>=]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]", "", self._raw.decode(errors="replace"))

    def wait_for(self, predicate, what: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout  # only ends a hang
        while not predicate(text := self.shown()):
            assert self.exited() is None, f"glasslab exited ({self.status}) before {what}:\n{text[-2000:]}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{text[-2000:]}"
            time.sleep(0.1)
        return text

    def hang_up(self) -> None:
        """Close the terminal's master side: the kernel hangs the terminal up (read gives EOF, writes
        and ioctls EIO) and sends SIGHUP, which the console ignores."""
        os.close(self.fd)
        self.fd = None

    def exited(self) -> int | None:
        """The exit status once the process has ended (waitpid's), else None."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status

    def close(self) -> None:
        if self.fd is not None:
            self.hang_up()
        if self.exited() is None:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
