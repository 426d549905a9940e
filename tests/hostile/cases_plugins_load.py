"""Class 3 (at load): plugin code that ends the interpreter at import is a plugin error, exit 2, named."""

from __future__ import annotations

from pathlib import Path

from hostile import TINY, Case

RUN = ("--headless", "--out", "{tmp}/runs", "--no-plot", "--no-trace")
# Plugin modules are written into the case folder (the cwd); PYTHONPATH=. makes them importable.
ENV = {"PYTHONPATH": "."}


def with_controller(module: str) -> str:
    return TINY.replace("{type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}",
                        f"{{type: '{module}:Ctl', period: 0.05}}", 1)


def with_sensor(module: str) -> str:
    return TINY.replace("{type: odometry, rate_hz: 20}", f"{{type: '{module}:Sen', rate_hz: 20}}", 1)


def _no_run_folder(tmp: Path) -> None:
    left = list((tmp / "runs").iterdir()) if (tmp / "runs").exists() else []
    assert left == [], f"a run that never began left {left}"


def import_case(name: str, body: str, shown: str, *, as_sensor: bool = False) -> Case:
    module = f"hostile_{name.replace('-', '_')}"
    line = 9 if as_sensor else 10
    field = r"robots\[0\]\.sensors\[0\]\.type" if as_sensor else r"robots\[0\]\.controller\.type"
    scenario = with_sensor(module) if as_sensor else with_controller(module)
    return Case(f"plugins-load-{name}", ("s.yaml", *RUN), 2,
                stderr=rf"s\.yaml:{line}:\d+: {field}: cannot import module '{module}' .*: {shown}",
                files={"s.yaml": scenario, f"{module}.py": body}, env=ENV)


CASES: list[Case] = [
    import_case("sys-exit-0", "import sys\nsys.exit(0)\n", r"SystemExit: sys\.exit\(0\) was called"),
    import_case("sys-exit-1-sensor", "import sys\nsys.exit(1)\n", r"SystemExit: sys\.exit\(1\) was called",
                as_sensor=True),
    import_case("raise-systemexit", "raise SystemExit\n", r"SystemExit: sys\.exit\(null\) was called"),
    import_case("keyboardinterrupt", "raise KeyboardInterrupt('by code')\n", r"KeyboardInterrupt: by code"),
    import_case("baseexception", "raise BaseException('odd')\n", r"BaseException: odd"),
    import_case("generatorexit", "raise GeneratorExit\n", r"GeneratorExit$"),
    import_case("long-multiline-message",
                "raise RuntimeError('x' * 100000 + '\\nsecond line')\n", r"RuntimeError: xxx+\.\.\.$"),
    # a real Ctrl-C while a plugin imports (the signal really arrives) is still an interrupt: 130
    Case("plugins-load-real-ctrl-c-during-import", ("s.yaml", *RUN), 130, stderr=r"^interrupted",
         files={"s.yaml": with_controller("hostile_sigint"),
                "hostile_sigint.py": "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(10)\n"},
         env=ENV, check=lambda tmp, _r: _no_run_folder(tmp)),
    Case("plugins-load-real-sigterm-during-import", ("s.yaml", *RUN), 130, stderr=r"^interrupted \(SIGTERM\)",
         files={"s.yaml": with_controller("hostile_sigterm"),
                "hostile_sigterm.py": "import os, signal, time\n"
                                      "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(10)\n"},
         env=ENV, check=lambda tmp, _r: _no_run_folder(tmp)),
    Case("plugins-load-init-sys-exit", ("s.yaml", *RUN), 2,
         stderr=r"controller type 'hostile_init:Ctl' on robot 'r1' failed in __init__: SystemExit: sys\.exit\(0\)",
         files={"s.yaml": with_controller("hostile_init"),
                "hostile_init.py": "import sys\nfrom controllers.base import Controller\n"
                                   "class Ctl(Controller):\n    def __init__(self, *a):\n        sys.exit(0)\n"},
         env=ENV, check=lambda tmp, _r: _no_run_folder(tmp)),
    Case("plugins-load-params-validator-exits", ("s.yaml", *RUN), 2,
         stderr=r"s\.yaml:10:\d+: robots\[0\]\.controller: controller type 'hostile_pv:Ctl': params rejected: "
                r"SystemExit: sys\.exit\(0\) was called",
         files={"s.yaml": with_controller("hostile_pv").replace("period: 0.05}", "period: 0.05, x: 1}"),
                "hostile_pv.py": "import sys\nfrom pydantic import BaseModel, field_validator\n"
                                 "from controllers.base import Controller\n"
                                 "class P(BaseModel):\n    x: int = 0\n"
                                 "    @field_validator('x')\n    @classmethod\n"
                                 "    def _x(cls, v):\n        sys.exit(0)\n"
                                 "class Ctl(Controller):\n    Params = P\n"},
         env=ENV),
]
