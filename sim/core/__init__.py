"""The timing kernel: clocks, bounded channels, producer and controller tasks, execution-time models, supervision."""
