"""Worked examples (see docs/plugins.md). Importable from the repository root."""
