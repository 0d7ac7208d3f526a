"""What the console leaves behind when it fails: the traceback in a log file, one line on stderr.

Textual's own handling prints a screenful of traceback with locals and, run as
`app.run()`, the process still exits 0, so `make run` or a script sees nothing
wrong.  The console instead writes the whole traceback to a log file beside
the runs (or the temporary directory when that is not writable) and names that
file in a single line; the exit code is 1.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from pathlib import Path

EXIT_CRASHED = 1


def write_log(error: BaseException, out_dir: Path) -> Path:
    """The traceback of `error` in out_dir/console-crash-YYYYmmdd-HHMMSS.log (or the temp dir); returns the file."""
    name = f"console-crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    for folder in (Path(out_dir), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text)
            return path.resolve()
        except OSError:
            continue
    raise OSError(f"cannot write {name} in {out_dir} nor in {tempfile.gettempdir()}")


def crash_line(error: BaseException, log: Path) -> str:
    """The one line printed on stderr after the console has given the terminal back."""
    what = f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else type(error).__name__
    return f"glasslab: error: the console failed ({what[:200]}); the traceback is in {log}"
