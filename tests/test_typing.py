"""The type check's own rules that mypy cannot state (mypy itself runs in ./dev test, [tool.mypy])."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?(.*)$")


def test_every_type_ignore_names_its_error_code_and_says_why() -> None:
    """An ignore hides one known error, with a reason on its line or in a comment just above."""
    bad = []
    for path in sorted(p for d in ("sim", "sensors", "controllers") for p in (ROOT / d).rglob("*.py")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            m = IGNORE.search(line)
            if m is None:
                continue
            reason_here = m.group(2).strip().lstrip("#").strip()
            reason_above = i > 0 and lines[i - 1].strip().startswith("# ignore:")
            if not m.group(1) or not (reason_here or reason_above):
                bad.append(f"{path.relative_to(ROOT)}:{i + 1}: {line.strip()}")
    assert bad == []
