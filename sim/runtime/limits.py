"""How long a run waits, in real seconds, for its threads and processes to end (one place: run, hosts)."""

SHUTDOWN_TIMEOUT = 1.0  # s real: every thread must be gone by then
# s real: after a completed run, how long the cycles released before the end may take to
# finish on their own (one cycle per controller; in virtual time this takes milliseconds).
END_DRAIN_TIMEOUT = 5.0
