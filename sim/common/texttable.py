"""The one plain-text table printer the terminal reports share."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TextIO


def print_table(rows: Sequence[Sequence[str]], out: TextIO, left: Collection[int] = (0,)) -> None:
    """Header, a rule, then rows; columns in ``left`` (negative = from the end) are text, left-aligned,
    the rest figures, right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    n = len(widths)
    for k, r in enumerate(rows):
        cells = [c.ljust(w) if (i in left or i - n in left) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        print("  ".join(cells).rstrip(), file=out)
        if k == 0:
            print("  ".join("-" * w for w in widths), file=out)
