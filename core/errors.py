"""Errors the user can act on.

Each carries one line that says what is wrong and what to do; the CLI prints
that line and exits with `exit_code`, never a traceback.
"""


class GlasslabError(Exception):
    """Base class: `str(err)` is the one line shown to the user."""

    exit_code = 1


class BadInput(GlasslabError):
    """The user asked for something impossible (preset, flag, data, path): exit 2."""

    exit_code = 2


class RunFailed(GlasslabError):
    """A run started but could not go on (disk full, out of memory): exit 1."""

    exit_code = 1
