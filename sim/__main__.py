"""``python -m sim`` and the ``fleet-sim`` command: the same as ``python run.py`` (same arguments, same exit status).

``main`` takes SIGINT/SIGTERM in hand before the command line is imported, as ``run.py`` does
(``sim.common.interrupt``): a signal held back meanwhile is handled the moment they are let
through (one line, exit 130). ``run.py`` blocks them even earlier, before ``sim`` is imported.
"""

import sys


def main() -> int:
    """Run the command line on ``sys.argv[1:]``; the exit status."""
    import _signal  # type: ignore[import-not-found]  # the built-in C module under signal: loaded already, no stub

    _signal.pthread_sigmask(_signal.SIG_BLOCK, (_signal.SIGINT, _signal.SIGTERM))
    from sim.common import interrupt

    try:
        interrupt.install()
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, (_signal.SIGINT, _signal.SIGTERM))
        from sim.cli import main as cli_main
    except KeyboardInterrupt:
        return interrupt.stopped_early()
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
