"""The ``fly_sprites`` provider: Fly.io Sprites on the official ``sprites-py`` SDK.

The SDK is imported only by :mod:`.provider` (and lazily by :mod:`.registration`); the rest of
this package is pure translation so it can be tested without a vendor account.
"""
