"""Database errors become :class:`~computerouter.errors.StoreError` here, once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from computerouter.errors import StoreError

__all__ = ["translate_store_errors"]


@contextmanager
def translate_store_errors() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        text = str(getattr(exc, "orig", None) or exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise StoreError(f"database error: {first}") from exc
