"""``hermes``: Nous Research's Hermes agent as a compute-session runtime."""

from computerouter.runtimes.hermes.image import HERMES_VERSION, HermesImage
from computerouter.runtimes.hermes.runtime import HermesRuntime, ModelEndpoint

__all__ = ["HERMES_VERSION", "HermesImage", "HermesRuntime", "ModelEndpoint"]
