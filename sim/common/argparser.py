"""``argparse`` that reports a bad option the way every other bad input is reported: one line, exit 2.

argparse's own ``error()`` prints the usage block and exits; here it raises ``UsageError`` instead,
so ``sim.cli.main`` prints ``error: run.py: <what is wrong> (see run.py --help)`` and returns 2.
``--help`` still prints the full help.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from sim.errors import UsageError, shorten

__all__ = ["ArgumentParser"]


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose errors are a ``UsageError`` (message shortened to one line)."""

    def error(self, message: str) -> NoReturn:
        text = shorten(" ".join(message.split()), 240)
        raise UsageError(f"{self.prog}: {text} (see {self.prog} --help)")
