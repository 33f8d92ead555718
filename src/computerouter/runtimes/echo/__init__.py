"""``echo``: a tiny OpenAI-compatible test runtime (not an agent; it repeats what it is told),
which runs agent turns for tests and benchmarks."""

from computerouter.runtimes.echo.runtime import EchoRuntime

__all__ = ["EchoRuntime"]
