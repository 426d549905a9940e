"""Features that attach to a run: faults, orders, expect gates, trace, recording, cycle log, misses, outcomes."""
