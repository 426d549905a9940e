"""Controllers: the code under test. Each runs in its own periodic thread."""

from controllers.base import Controller, Inputs

__all__ = ["Controller", "Inputs"]
