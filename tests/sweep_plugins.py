"""A controller that fails on purpose, for sweep and supervision tests."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from controllers.base import Controller, Inputs


class FailParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fail_after: int = Field(-1, description="raise in this cycle number (-1 = never)")


class FailingController(Controller):
    """Drives nowhere; raises RuntimeError in cycle ``fail_after``."""

    Params = FailParams

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        if self.calls == self.params.fail_after:
            raise RuntimeError(f"planned failure in cycle {self.calls}")
        self.calls += 1
        return 0.0, 0.0
