"""Class 1: bad input of every kind is one line naming it, exit 2, no traceback."""

from __future__ import annotations

from hostile import TINY, Case

CASES: list[Case] = [
    Case("missing-scenario-file", ("nope.yaml", "--headless"), 2, stderr=r"nope\.yaml"),
    Case("tiny-runs", ("s.yaml", "--headless", "--out", "{tmp}/runs", "--no-plot"), 0,
         files={"s.yaml": TINY}, one_line=False),
]
