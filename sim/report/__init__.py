"""The deadline-miss report: built from a finished run, printed, written, plotted and compared."""
