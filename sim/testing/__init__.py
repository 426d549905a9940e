"""Checks for plugin authors: conformance checks of sensors and controllers."""
