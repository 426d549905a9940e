"""``kill_worker``: SIGKILL one physics worker process; the run then ends with the failure named."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from sim.features.faultkind import Duration, ErrorSink, FaultContext, FaultKind, NoBool, ScenarioView


class KillWorker(FaultKind):
    """Kill one physics worker process at ``start``; the window is how long the report watches."""

    kind: Literal["kill_worker"] = Field(
        ..., description="kill_worker: kill one physics worker process at start (needs physics.workers >= 1).")
    worker: Annotated[int, Field(ge=0, le=15), NoBool] = Field(
        0, description="Worker index, in [0, physics.workers - 1]. Default: 0.")
    duration: Duration = Field(1.0, description="Seconds after the kill counted as the fault's window, "
                               "in (0, 86400]. Unit: s. Default: 1.0.")

    def check(self, scn: ScenarioView, k: int, err: ErrorSink) -> None:
        workers = scn.physics.workers
        if workers == 0:
            err(("faults", k, "kind"), "kill_worker needs physics worker processes, but "
                "physics.workers is 0 (physics runs inline); set physics.workers >= 1 or remove "
                "this fault", None)
        elif self.worker >= workers:
            err(("faults", k, "worker"), f"worker {self.worker} does not exist: physics.workers is "
                f"{workers} (indices 0..{workers - 1})", None)

    def apply(self, ctx: FaultContext) -> None:
        ctx.run.kill_worker(self.worker)
        ctx.window.notes.append(f"killed physics worker {self.worker}")
