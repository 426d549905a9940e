"""What both kinds of plugin are given: their robot's constants, and the empty parameter model."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


class NoParams(BaseModel):
    """For classes that take no parameters of their own."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # .nan/.inf: an error at load


@dataclass(frozen=True)
class RobotInfo:
    """What a sensor or controller may know about its robot (its constants, not its state)."""

    index: int  # position in the scenario's robot list
    name: str
    radius: float  # m
    max_speed: float  # m/s
    max_accel: float  # m/s^2
    max_yaw_rate: float  # rad/s
    wheel_base: float  # m
    start_pose: tuple[float, float, float]  # m, m, rad
    kinematics: str = "diff_drive"  # or "ackermann" (the scenario's robots[].kinematics.type)
    min_turn_radius: float = 0.0  # m; 0 = turns in place (diff_drive), else wheelbase / tan(max_steer)
