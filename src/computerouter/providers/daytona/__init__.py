"""The ``daytona`` provider: Daytona sandboxes through the official ``daytona`` SDK.

Nothing here imports the SDK at import time; :mod:`.registration` is what the registry loads,
and it imports :mod:`.provider` (and so the SDK) only when a provider is built.
"""
