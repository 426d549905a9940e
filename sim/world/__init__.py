"""The simulated world: map, bodies, physics, ray casting, collisions, compiled kernels, worker processes.

``sim.world.WorldSnapshot`` and ``sim.world.StaticMap`` are documented plugin import paths
(docs/plugins.md); they are re-exported here from ``sim.world.model``.
"""

from sim.world.model import Bodies, Obstacle, StaticMap, WorldSnapshot

__all__ = ["Bodies", "Obstacle", "StaticMap", "WorldSnapshot"]
