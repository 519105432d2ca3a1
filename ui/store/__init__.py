"""Where test runs, answers, ratings and votes are kept: SQLite in GLM_DATA_DIR by default,
PostgreSQL when DATABASE_URL says so. The database drivers are imported only here.

    store = open_store(settings.data_dir, settings.database_url)   # created on first use
"""

from __future__ import annotations

from pathlib import Path

from ui.store.api import CellFilter, RunInfo, Store
from ui.store.db import Database, StoreError, postgres_database, sqlite_database
from ui.store.sql import SqlStore
from ui.store.urls import mask, reason

__all__ = ["SQLITE_FILE", "CellFilter", "RunInfo", "Store", "StoreError", "open_store"]

SQLITE_FILE = "glm-vision-chat.sqlite3"


def open_store(data_dir: Path, database_url: str | None = None) -> Store:
    """The store the settings name, its tables created or upgraded; StoreError says why not."""
    url = (database_url or "").strip()
    if not url:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"GLM_DATA_DIR={data_dir} cannot be created ({error.strerror or error}): "
                             "set GLM_DATA_DIR to a folder this server can write to.") from None
        return _ready(sqlite_database(data_dir / SQLITE_FILE))
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        return _ready(postgres_database(url), url)
    raise StoreError(f"DATABASE_URL={mask(url)} is not a PostgreSQL URL: use "
                     "postgresql://user:password@host:5432/database, or leave it empty to keep "
                     "everything in a SQLite file in GLM_DATA_DIR.")


def _ready(db: Database, url: str = "") -> SqlStore:
    try:
        return SqlStore(db)
    except db.errors as error:
        db.close()
        raise StoreError(f"The database at {db.where} cannot be set up: {reason(error, url)}. Give its "
                         "user the right to create tables, or choose another database.") from None
    except BaseException:
        db.close()
        raise
