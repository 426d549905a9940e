"""fleet-timing-sim: a multi-sensor robot fleet simulator that measures how control loops cope with sensor timing.

The package is layered; a layer imports only the layers below it (``tests/test_layers.py``
checks it). From the top: ``cli``; ``api`` (the public plugin API); ``sweep``, ``view``,
``testing``; ``session``; ``report``; ``runtime``; ``scenario``; ``features``; ``core``;
``world``; ``interfaces``; ``common``; ``errors``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fleet-timing-sim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
