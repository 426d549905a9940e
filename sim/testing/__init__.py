"""Tools for plugin authors: conformance checks (``conformance``) and a controller test harness (``harness``)."""
