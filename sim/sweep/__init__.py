"""Parameter sweeps: many runs of one scenario over a grid, cached, in worker processes.

``command`` (``run.py sweep``) -> ``grid`` (the runs) -> ``pool`` (local processes or Dask) ->
``worker`` (one run, through ``sim.session``) -> ``cache`` (runs kept by key), ``summary``,
``outputs``, ``progress``.
"""
