"""Controllers that end or freeze their robot host process: supervision tests of ``run.hosts``.

Referenced from test scenarios as ``host_plugins:ExitController`` / ``host_plugins:GilHolder``.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controllers.base import Controller, Inputs


class AfterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: int = Field(5, ge=0, description="cycles that run normally before the controller acts")
    code: int = Field(3, ge=0, le=255, description="ExitController: the exit status")
    seconds: int = Field(30, ge=1, description="GilHolder: seconds inside one C call holding the GIL")


class ExitController(Controller):
    """Stands still for ``after`` cycles, then ends its process with ``os._exit(code)`` (no clean-up at all)."""

    Params = AfterParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        self.calls += 1
        if self.calls > self.params.after:  # type: ignore[attr-defined]  # params is the class's AfterParams
            os._exit(self.params.code)  # type: ignore[attr-defined]  # params is the class's AfterParams
        return 0.0, 0.0


class GilHolder(Controller):
    """After ``after`` cycles calls libc ``sleep`` through ``ctypes.PyDLL``, which keeps the GIL: the whole
    process freezes (its watchdog and heartbeat threads too), as in a C extension that never releases it."""

    Params = AfterParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        self.calls += 1
        if self.calls > self.params.after:  # type: ignore[attr-defined]  # params is the class's AfterParams
            ctypes.PyDLL(None).sleep(self.params.seconds)  # type: ignore[attr-defined]  # params is the class's AfterParams
        return 0.0, 0.0
