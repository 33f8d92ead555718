"""``echo``: a tiny OpenAI-compatible test runtime (not an agent; it repeats what it is told)."""

from computerouter.runtimes.echo.runtime import EchoRuntime

__all__ = ["EchoRuntime"]
