"""An emulator of Daytona's API, derived from what the official SDK sends; sandboxes really run,
each backed by a ``local`` session (see :mod:`.sandboxes`)."""

from computerouter.emulators.daytona.server import EmulatorServer, serve
from computerouter.emulators.daytona.settings import EmulatorSettings, Fault, Timings

__all__ = ["EmulatorServer", "EmulatorSettings", "Fault", "Timings", "serve"]
