"""``kill_worker`` / ``kill_host``: SIGKILL a physics worker or a robot host process; the run then ends
with the failure named (the process, its robots, how it ended)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from sim.errors import format_value, suggest
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


class KillHost(FaultKind):
    """SIGKILL the robot host process running ``robot`` at ``start``: the machine a robot's software runs on dies.

    The hosts' supervision (sim.runtime.hosts) sees the process end and ends the run with exit 1, naming
    the host, every robot it ran and "killed by SIGKILL"; the window is how long the report watches.
    """

    kind: Literal["kill_host"] = Field(
        ..., description="kill_host: kill the robot host process running robot at start (needs run.hosts "
        "per_robot or N).")
    robot: str = Field(..., min_length=1, description="Robot whose host process is killed (with every robot "
                       "that host runs).")
    duration: Duration = Field(1.0, description="Seconds after the kill counted as the fault's window, "
                               "in (0, 86400]. Unit: s. Default: 1.0.")

    def target(self) -> str:
        return self.robot

    def robot_target(self) -> str:
        return self.robot

    def check(self, scn: ScenarioView, k: int, err: ErrorSink) -> None:
        robots = {r.name for r in scn.robots}
        if self.robot not in robots:
            err(("faults", k, "robot"), f"fault names unknown robot {format_value(self.robot)}",
                suggest(self.robot, robots))
        elif scn.run.hosts == "shared":
            err(("faults", k, "kind"), "kill_host needs robot host processes, but run.hosts is shared (every "
                "robot runs in the world process); set run.hosts to per_robot or a number (or --hosts), or "
                "remove this fault", None)

    def apply(self, ctx: FaultContext) -> None:
        ctx.window.notes.append(f"killed {ctx.run.kill_host(self.robot)}")
