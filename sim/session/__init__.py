"""One way to run a scenario: ``execute(scenario, out, ...) -> Result``, used by the CLI, sweeps, benchmarks and tests.

``execute`` (sim.session.execute) is the run sequence: build the Run, run it, build the report,
write the run folder, evaluate the ``expect:`` gates; ``sim.session.verdict`` decides the exit status.
"""

from sim.session.execute import Presenter, Result, execute
from sim.session.verdict import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, report_exit_status

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "Presenter", "Result", "execute",
           "report_exit_status"]
