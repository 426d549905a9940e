"""One way to run a scenario: execute(scenario, out, ...) -> Result, used by the CLI, sweeps, benchmarks and tests."""
