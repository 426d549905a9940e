"""Parameter sweeps: many runs of one scenario over a grid, cached, in worker processes."""
