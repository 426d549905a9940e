"""Run a scenario: ``python run.py scenarios/warehouse.yaml`` (``--help`` for options)."""

import sys

if __name__ == "__main__":
    from sim import interrupt

    interrupt.install()  # first thing: a signal during the imports below is one line and exit 130
    try:
        from sim.cli import main
    except KeyboardInterrupt:
        sys.exit(interrupt.stopped_early())
    sys.exit(main())
