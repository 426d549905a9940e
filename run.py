"""Run a scenario: ``python run.py scenarios/warehouse.yaml`` (``--help`` for options)."""

import sys

if __name__ == "__main__":
    # First of all, hold SIGINT/SIGTERM back (``_signal`` is built in and already loaded: no import
    # time for a signal to slip through) until sim.common.interrupt handles them; one held meanwhile is
    # handled the moment they are let through: one line, exit 130.
    import _signal

    _signal.pthread_sigmask(_signal.SIG_BLOCK, (_signal.SIGINT, _signal.SIGTERM))
    from sim.common import interrupt

    try:
        interrupt.install()
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, (_signal.SIGINT, _signal.SIGTERM))
        from sim.cli import main
    except KeyboardInterrupt:
        sys.exit(interrupt.stopped_early())
    sys.exit(main())
