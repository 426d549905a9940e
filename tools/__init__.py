"""Maintenance scripts run from the checkout (not installed): ``python -m tools.constraints``."""
