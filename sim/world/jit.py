"""The simulator's compiled (numba) kernels as one set: load or compile them all before time starts.

numba compiles a kernel on its first call for each new combination of argument types
(read-only and writeable arrays count as different types) and keeps the result in its
disk cache (``__pycache__`` next to the module, or ``NUMBA_CACHE_DIR``). A compile takes
seconds and holds the GIL: inside a run it would stall every thread. So ``Run.start``
calls ``warm_up_all`` (and each sensor and controller class once) before the clock
starts, and ``announce_compiles`` says so, once, when a compile really happens (an empty
or stale cache: the first run after cloning or upgrading), not when kernels load from it.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["COMPILE_NOTICE", "KERNEL_MODULES", "announce_compiles", "dispatchers", "warm_up_all"]

KERNEL_MODULES = ("sim.world.raycast", "sim.world.gridcast", "sim.world.kernels", "controllers.kernels")
COMPILE_NOTICE = "compiling kernels (first run only)…"

_Dispatcher: type[Any] | None  # None where numba is not installed
try:
    from numba.core import event as _event
    from numba.core.dispatcher import Dispatcher as _Dispatcher
except ImportError:  # pragma: no cover - without numba the numpy fallbacks run: nothing to compile
    _event = None  # type: ignore[assignment]  # a ModuleType annotation would hide _event.Listener (a base class below)
    _Dispatcher = None


def warm_up_all() -> None:
    """Load (or compile) every kernel of ``KERNEL_MODULES`` for the types a run passes them."""
    for name in KERNEL_MODULES:
        importlib.import_module(name).warm_up()


def dispatchers() -> dict[str, Any]:
    """Every numba kernel of ``KERNEL_MODULES`` by ``module.name`` (tests compare their signatures)."""
    if _Dispatcher is None:
        return {}
    out = {}
    for name in KERNEL_MODULES:
        for attr, value in vars(importlib.import_module(name)).items():
            if isinstance(value, _Dispatcher):
                out[f"{name}.{attr}"] = value
    return out


if _event is not None:
    class _Notice(_event.Listener):
        """Calls ``say`` once, when the first compile starts (cache loads raise no such event)."""

        def __init__(self, say: Callable[[], None]) -> None:
            self.say: Callable[[], None] | None = say

        def on_start(self, ev: Any) -> None:
            say, self.say = self.say, None
            if say is not None:
                say()

        def on_end(self, ev: Any) -> None:
            pass


@contextlib.contextmanager
def announce_compiles(say: Callable[[], None] | None) -> Iterator[None]:
    """Within the block, call ``say`` once if numba compiles anything (any thread, any kernel)."""
    if say is None or _event is None:
        yield
        return
    with _event.install_listener("numba:compile", _Notice(say)):
        yield
