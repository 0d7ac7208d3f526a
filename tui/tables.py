"""Tables that fit the terminal without cutting a figure (issue 30, item 3).

One rule for every table glasslab prints (analyze SWEEP, sweep status, ps): identifying columns (the
point, the grid's axes, the store) and numbers are never cut or wrapped; labels may wrap at spaces;
when the columns do not fit the width, the table is printed in parts, each repeating the identifying
columns, instead of squeezing figures into "0.5684 ± 0…".  Long explanations go under the table as
notes (`notes`), not in cells.  Rich renders; this module only decides the widths.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

MIN_TEXT = 16  # a wrapping column narrower than this reads as a column of word fragments


@dataclass(frozen=True)
class Col:
    """A column: `key` ones identify a row and are repeated in every part; `text` ones (a verdict,
    a reading in words) may wrap at spaces; every other cell is a figure and is kept whole."""

    header: str
    key: bool = False
    text: bool = False
    justify: str = "left"


def width_of(console: Console | None = None, piped: int = 160) -> int:
    """The width to fit: the terminal's; piped, $COLUMNS when set, else `piped` (160: room for every
    column of a file or a pipe, as before)."""
    if console is not None and console.is_terminal:
        return console.width
    cols = os.environ.get("COLUMNS")
    return int(cols) if cols and cols.isdigit() and int(cols) > 0 else piped


def console_for(width: int | None = None) -> Console:
    """A rich console of the given width (default width_of(): the terminal's, or $COLUMNS / 160 piped)."""
    if width is None:
        probe = Console()
        width = probe.width if probe.is_terminal and sys.stdout.isatty() else width_of(None)
    return Console(width=width)


def _plain(cell) -> str:
    return cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain


def _longest_word(s: str) -> int:
    return max((cell_len(w) for w in s.split()), default=0)


def _widths(cols: list[Col], rows: list[list]) -> list[tuple[int, int]]:
    """(least, most) width of each column: a figure's least is its longest cell (never cut); a
    label's least is its longest word, or MIN_TEXT; a header wraps at spaces."""
    out = []
    for k, c in enumerate(cols):
        cells = [_plain(r[k]) for r in rows]
        longest = max((cell_len(s) for s in cells), default=0)
        head = _longest_word(c.header)
        if c.text:
            least = max(min(MIN_TEXT, longest), max((_longest_word(s) for s in cells), default=0), head)
            out.append((least, max(longest, head, least)))
        else:
            w = max(longest, head)
            out.append((w, max(w, cell_len(c.header))))
    return out


# Between columns: rich's padding (1 each side) and box.SIMPLE_HEAD's separator, or the padding alone
# without a box (plain: ps, which scripts read a line at a time); no edges (show_edge=False).
GAP = {False: 3, True: 2}


def _span(ws: list[int], plain: bool = False) -> int:
    return sum(ws) + GAP[plain] * max(len(ws) - 1, 0)


def parts(cols: list[Col], rows: list[list], width: int, plain: bool = False) -> list[tuple[list[int], list[int]]]:
    """Split the columns into parts that fit `width`: [(column indices, their widths)], each part
    starting with the key columns.  A figure's width is never below its longest cell; a part always
    holds at least one column beyond the keys, even if that one alone is too wide."""
    lim = _widths(cols, rows)
    keys = [k for k, c in enumerate(cols) if c.key]
    rest = [k for k, c in enumerate(cols) if not c.key]
    out, cur = [], []

    def fits(idx):
        return _span([lim[k][0] for k in keys + idx], plain) <= width

    for k in rest:
        if cur and not fits(cur + [k]):
            out.append(cur)
            cur = []
        cur.append(k)
    if cur or not out:
        out.append(cur)
    result = []
    for idx in out:
        cols_in = keys + idx
        ws = [lim[k][0] for k in cols_in]
        spare = width - _span(ws, plain)
        for n, k in enumerate(cols_in):  # grow towards each column's most, left to right
            add = max(min(lim[k][1] - ws[n], spare), 0)
            ws[n] += add
            spare -= add
        result.append((cols_in, ws))
    return result


def fitted(cols: list[Col], rows: list[list], width: int, plain: bool = False) -> list[Table]:
    """The rich Tables (no titles) of `rows` under `cols` that fit `width` (see parts); one when all fit.
    plain: no rule under the header (a header line, then one line a row)."""
    out = []
    for idx, ws in parts(cols, rows, width, plain):
        t = Table(box=None if plain else box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for k, w in zip(idx, ws):
            c = cols[k]
            # every column may wrap (its header at spaces); a figure's width holds its longest cell,
            # and the widths add up to at most `width`, so rich never squeezes a figure
            t.add_column(c.header, justify=c.justify, width=w, overflow="fold")
        for r in rows:
            t.add_row(*(r[k] for k in idx))
        out.append(t)
    return out


def print_fitted(console: Console, title: str | None, cols: list[Col], rows: list[list], notes=(),
                 width: int | None = None, plain: bool = False) -> None:
    """Print the title, the `fitted` tables (a table too wide in parts, each repeating the key columns),
    then each note (a long explanation) under them."""
    w = width if width is not None else width_of(console)
    tables = fitted(cols, rows, w, plain)
    if title:
        console.print(title, highlight=False, markup=False, width=w)
    name = f"{title.split(' (')[0].split(':')[0]}, " if title else ""
    for n, t in enumerate(tables):
        if n:
            console.print(f"({name}continued {n + 1}/{len(tables)})", highlight=False, markup=False, width=w)
        console.print(t, width=w)
    for note in notes:
        console.print(note, highlight=False, markup=False)
