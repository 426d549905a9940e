"""Run a scenario: ``python run.py scenarios/warehouse.yaml`` (``--help`` for options).

The same as ``python -m sim`` and the ``fleet-sim`` command (sim/__main__.py).
"""

import sys

if __name__ == "__main__":
    # First of all, hold SIGINT/SIGTERM back (``_signal`` is built in and already loaded: no import
    # time for a signal to slip through) until sim.common.interrupt handles them (sim.__main__.main);
    # one held meanwhile is handled the moment they are let through: one line, exit 130.
    import _signal

    _signal.pthread_sigmask(_signal.SIG_BLOCK, (_signal.SIGINT, _signal.SIGTERM))
    from sim.__main__ import main

    sys.exit(main())
