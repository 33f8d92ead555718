"""Opening the database: URL checks, SQLite tuning, PostgreSQL driver choice, migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from computerouter.errors import ConfigError, StoreError
from computerouter.store.sqlite_writers import SqliteWriters

__all__ = ["HEAD_REVISION", "create_engine", "migrate", "parse_database_url", "read_connection"]

HEAD_REVISION = "0017"
"""The newest migration; a test pins it to the head of ``migrations/versions``."""

_READ_ONLY = "computerouter_read_only"
_SQLITE_BUSY_S = 60.0
"""How long a SQLite writer waits for its turn before "database is locked"."""
_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x636F6D7075746572  # "computer": serialises concurrent migrations on PostgreSQL


def parse_database_url(raw: str) -> URL:
    """Validate a database URL and pick our drivers; raise :class:`ConfigError` if unusable."""
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"malformed database URL {_redact(raw)!r}: {exc}") from exc
    backend = url.drivername.split("+", 1)[0]
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise ConfigError("the SQLite database URL must name a file (sqlite:///path/to.db)")
        return url.set(drivername="sqlite+pysqlite")
    if backend in ("postgresql", "postgres"):
        driver = url.drivername.partition("+")[2]
        if driver not in ("psycopg", "psycopg2", ""):
            raise ConfigError(
                f"unsupported PostgreSQL driver {url.drivername!r}; use postgresql://"
            )
        if not url.database:
            # libpq would connect to a database named after the user and migrate it silently.
            raise ConfigError(
                f"the PostgreSQL database URL {_redact(raw)!r} must name a database "
                "(postgresql://user@host/dbname)"
            )
        return url.set(drivername="postgresql+psycopg")
    raise ConfigError(f"unsupported database {backend!r}; use sqlite:/// or postgresql://")


def _redact(raw: str) -> str:
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return raw.rsplit("@", maxsplit=1)[-1] if "@" in raw else raw


def create_engine(raw_url: str) -> Engine:
    """An engine for ``raw_url``. A SQLite file's directory must exist: a mistyped path is
    refused rather than created (the data directory itself is made by whoever owns it)."""
    url = parse_database_url(raw_url)
    try:
        if url.get_backend_name() == "sqlite":
            assert url.database is not None
            _check_sqlite_path(Path(url.database).expanduser())
            # As many pooled connections as the server's threadpool runs at once (AnyIO's 40):
            # a connection past the pool is closed on return and reopened, PRAGMAs and all.
            engine = sa.create_engine(
                url, connect_args={"timeout": _SQLITE_BUSY_S}, pool_size=40, max_overflow=10
            )
            _tune_sqlite(engine, Path(url.database).expanduser())
            return engine
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except NoSuchModuleError as exc:
        raise ConfigError(
            f"no driver for {url.drivername}: pip install 'computerouter[postgres]'"
        ) from exc


def _check_sqlite_path(path: Path) -> None:
    try:
        is_dir, parent_is_dir = path.is_dir(), path.parent.is_dir()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the SQLite database path {str(path)!r} is not usable: {exc}") from None
    if is_dir:
        raise ConfigError(f"the SQLite database {str(path)!r} is a directory, not a file")
    if not parent_is_dir:
        raise ConfigError(
            f"the directory {str(path.parent)!r} of the SQLite database does not exist"
        )


def _tune_sqlite(engine: Engine, database: Path) -> None:
    """WAL, NORMAL sync, a long busy wait, and ``BEGIN IMMEDIATE`` for every transaction,
    its writers queued (:class:`~computerouter.store.sqlite_writers.SqliteWriters`).

    Deferred transactions that read then write can fail with SQLITE_BUSY on the lock upgrade
    without waiting; taking the write lock at BEGIN makes concurrent writers queue instead.
    A writer's turn ends after SQLite's COMMIT or ROLLBACK (the dialect's, wrapped below: the
    engine's commit event comes before it), or when its connection is closed or invalidated.
    """
    writers = SqliteWriters(database, timeout_s=_SQLITE_BUSY_S)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_READ_ONLY):
            return
        dbapi_conn = conn.connection.dbapi_connection
        writers.acquire(dbapi_conn)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers.release(dbapi_conn)
            raise

    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_conn: Any) -> None:
        try:
            commit(dbapi_conn)
        finally:
            writers.release(dbapi_conn)

    def do_rollback(dbapi_conn: Any) -> None:
        try:
            rollback(dbapi_conn)
        finally:
            writers.release(dbapi_conn)

    setattr(dialect, "do_commit", do_commit)  # noqa: B010 (per engine: this dialect only)
    setattr(dialect, "do_rollback", do_rollback)  # noqa: B010

    @sa.event.listens_for(engine.pool, "close")
    @sa.event.listens_for(engine.pool, "invalidate")
    def _on_gone(dbapi_conn: Any, *_: Any) -> None:
        writers.release(dbapi_conn)


def read_connection(engine: Engine) -> Connection:
    """A connection for one read statement on a hot path: no transaction is opened for it.

    SQLite runs the statement in its own implicit read snapshot instead of taking the write
    lock at ``BEGIN IMMEDIATE``; PostgreSQL runs it in autocommit, sparing the ``BEGIN`` and
    the ``ROLLBACK`` round trips. Only for a single ``SELECT``: nothing written through it.
    """
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        return conn.execution_options(isolation_level="AUTOCOMMIT", **{_READ_ONLY: True})
    return conn.execution_options(**{_READ_ONLY: True})


def migrate(engine: Engine) -> None:
    """Bring the schema to :data:`HEAD_REVISION`; cheap when it already is."""
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            if _current_revision(conn) == HEAD_REVISION:
                return
            _upgrade(conn)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open or migrate the database: {_first_line(exc)}") from exc


def _current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
