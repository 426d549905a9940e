"""The run folder: a fresh ``<name>-<date>-<time>-seed<seed>`` folder directly inside ``--out``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sim.errors import UsageError, format_value


def run_folder(root: Path, scenario_name: str, seed: int) -> Path:
    """A fresh folder for one run: ``root/<name>-<date>-<time>-seed<seed>``, always inside ``root``.

    The scenario's name is checked at load (sim.scenario.load.NAME_PATTERN); the resolved path is checked
    here as well, so no name can place a run elsewhere. Any OS error is a UsageError naming the path.
    """
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = Path(root)
    base = root / f"{scenario_name}-{stamp}-seed{seed}"
    try:
        real_root = root.resolve()
        if base.resolve().parent != real_root:
            raise UsageError(f"run folder {format_value(str(base), 200)} would not be directly inside "
                             f"--out {format_value(str(root), 200)}")
        if root.exists() and not root.is_dir():
            raise UsageError(f"--out {format_value(str(root), 200)} exists and is not a folder")
        root.mkdir(parents=True, exist_ok=True)
        path, n = base, 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:  # another run of the same name in the same second
                n += 1
                path = base.with_name(f"{base.name}-{n}")
    except OSError as exc:
        where = exc.filename if exc.filename is not None else base
        raise UsageError(f"--out: cannot create the run folder {format_value(str(where), 200)}: "
                         f"{exc.strerror or exc}") from None
    return path
