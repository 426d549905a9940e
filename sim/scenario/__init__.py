"""Scenario files: loading with line marks, validation, plugin registry, fleet resizing, schema docs."""
