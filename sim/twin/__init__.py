"""The twin run: a real-time run and its virtual twin, to tell the host's deadline misses from the design's."""
