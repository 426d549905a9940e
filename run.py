"""Run a scenario: ``python run.py scenarios/warehouse.yaml`` (``--help`` for options)."""

import sys

from sim.cli import main

if __name__ == "__main__":
    sys.exit(main())
