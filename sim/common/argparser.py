"""``argparse`` that reports a bad option the way every other bad input is reported: one line, exit 2.

argparse's own ``error()`` prints the usage block and exits; here it raises ``UsageError`` instead,
so ``sim.cli.main`` prints ``error: run.py: <what is wrong> (see run.py --help)`` and returns 2.
``--help`` still prints the full help. Every parser made with it has ``--version`` (as every one has
``--help``), so ``run.py --version`` and ``run.py sweep --version`` (any subcommand) print the same.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from sim import __version__
from sim.errors import UsageError, shorten

__all__ = ["ArgumentParser"]


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose errors are a ``UsageError`` (message shortened to one line),
    with a ``--version`` option."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action="version", version=f"fleet-timing-sim {__version__}",
                          help="print the version and exit")

    def error(self, message: str) -> NoReturn:
        text = shorten(" ".join(message.split()), 240)
        raise UsageError(f"{self.prog}: {text} (see {self.prog} --help)")
