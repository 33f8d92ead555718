"""An emulator of the Fly.io Sprites API, for tests, the offline demo and simulation.

Sprites really run: each is backed by a ``local`` session running :mod:`.agent`.
"""

from computerouter.emulators.fly_sprites.faults import Fault, Faults
from computerouter.emulators.fly_sprites.server import RunningEmulator, start
from computerouter.emulators.fly_sprites.world import Timings, World

__all__ = ["Fault", "Faults", "RunningEmulator", "Timings", "World", "start"]
