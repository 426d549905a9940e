"""Old home of the conformance checks, kept so plugin tests written against docs/plugins.md keep working."""

from sim.testing.conformance import check_controller, check_sensor

__all__ = ["check_controller", "check_sensor"]
