"""The store's tables, versioned: MIGRATIONS[n] takes a database from version n to n + 1, and
opening a database applies the steps it lacks in one transaction, so an older file or server is
upgraded in place, rows kept. A step is never edited once released; a change is a new step.

    version 1  images (once per content), runs (inputs as JSON), cells (one per row × variant)
    version 2  ratings (one per cell, who and when), and the indexes the page's filters page by
    version 3  votes of the Compare page (two answers, which was better, why; models and choices,
               question, images by name and hash, both answers), by time for the leaderboard
    version 4  the Chat's ratings (one per owner and answer, with what it was about), and test
               sets saved from the Chat (named per owner; rows of an image and a question)
    version 5  a running run's lease: which process asks it and until when (ui/testing/lease.py)
"""

from __future__ import annotations

from ui.store.db import DDL, Database, StoreError

V1 = (
    """CREATE TABLE images (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        bytes {blob} NOT NULL,
        thumbnail {blob} NOT NULL,
        created TEXT NOT NULL)""",
    """CREATE TABLE runs (
        id {id},
        title TEXT NOT NULL,
        owner TEXT NOT NULL,
        created TEXT NOT NULL,
        status TEXT NOT NULL,
        size INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        items TEXT NOT NULL,
        variants TEXT NOT NULL)""",
    "CREATE INDEX runs_by_owner ON runs (owner, id)",
    "CREATE INDEX runs_by_fingerprint ON runs (fingerprint, owner, id)",
    """CREATE TABLE cells (
        id {id},
        run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        row INTEGER NOT NULL,
        variant INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        answer TEXT NOT NULL DEFAULT '',
        thinking TEXT NOT NULL DEFAULT '',
        record TEXT,
        error TEXT NOT NULL DEFAULT '',
        error_params TEXT NOT NULL DEFAULT '{{}}',
        attempts INTEGER NOT NULL DEFAULT 0,
        updated TEXT NOT NULL,
        UNIQUE (run_id, row, variant))""",
    # todo() and the status filter: a run's pending / failed cells in row order
    "CREATE INDEX cells_by_status ON cells (run_id, status, row, variant)",
)

V2 = (
    """CREATE TABLE ratings (
        cell_id {key} REFERENCES cells (id) ON DELETE CASCADE,
        run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        verdict INTEGER NOT NULL,
        reasons TEXT NOT NULL DEFAULT '[]',
        note TEXT NOT NULL DEFAULT '',
        who TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL)""",
    # a run's ratings by verdict: the 👍 / 👎 filters and the count of rated cells, without
    # visiting the run's unrated cells
    "CREATE INDEX ratings_by_run ON ratings (run_id, verdict)",
    # the model filter: one variant's cells in row order
    "CREATE INDEX cells_by_variant ON cells (run_id, variant, row)",
)

V3 = (
    """CREATE TABLE votes (
        id {id},
        at TEXT NOT NULL,
        owner TEXT NOT NULL,
        who TEXT NOT NULL DEFAULT '',
        blind INTEGER NOT NULL,
        model_a TEXT NOT NULL,
        model_b TEXT NOT NULL,
        choices_a TEXT NOT NULL,
        choices_b TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reasons TEXT NOT NULL DEFAULT '[]',
        note TEXT NOT NULL DEFAULT '',
        question TEXT NOT NULL,
        images TEXT NOT NULL DEFAULT '[]',
        answer_a TEXT NOT NULL DEFAULT '',
        answer_b TEXT NOT NULL DEFAULT '',
        test_set TEXT NOT NULL DEFAULT '')""",
    # the leaderboard's date filter, newest votes first in the downloads
    "CREATE INDEX votes_by_time ON votes (at, id)",
)

V4 = (
    """CREATE TABLE chat_ratings (
        id {id},
        owner TEXT NOT NULL,
        answer_key TEXT NOT NULL,
        who TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL,
        model TEXT NOT NULL,
        choices TEXT NOT NULL,
        question TEXT NOT NULL,
        images TEXT NOT NULL DEFAULT '[]',
        answer TEXT NOT NULL DEFAULT '',
        verdict INTEGER NOT NULL,
        reasons TEXT NOT NULL DEFAULT '[]',
        note TEXT NOT NULL DEFAULT '',
        UNIQUE (owner, answer_key))""",
    # the Leaderboard's downloads by date
    "CREATE INDEX chat_ratings_by_time ON chat_ratings (at, id)",
    """CREATE TABLE test_sets (
        id {id},
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (owner, name))""",
    # a row is an image and a question once per set (row_key: their hash; a question may be
    # longer than an index entry may be)
    """CREATE TABLE test_set_rows (
        id {id},
        set_id BIGINT NOT NULL REFERENCES test_sets (id) ON DELETE CASCADE,
        row_key TEXT NOT NULL,
        image TEXT NOT NULL,
        name TEXT NOT NULL,
        question TEXT NOT NULL,
        expected TEXT NOT NULL DEFAULT '',
        who TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL,
        UNIQUE (set_id, row_key))""",
)

V5 = (
    # holder: "host:pid:random" of the process asking the run; until: UTC ISO 8601 to the
    # microsecond, compared as text. '' when no process holds it.
    "ALTER TABLE runs ADD COLUMN lease_holder TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE runs ADD COLUMN lease_until TEXT NOT NULL DEFAULT ''",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (V1, V2, V3, V4, V5)
LATEST = len(MIGRATIONS)
LOCK_KEY = 0x676C6D76  # "glmv": PostgreSQL advisory lock, so replicas starting together upgrade once


def upgrade(db: Database, *, to: int = LATEST) -> int:
    """Bring the database to version `to` (created from nothing if empty); the version it had."""
    with db.write() as tx:
        if db.kind == "postgres":
            tx.run("SELECT pg_advisory_xact_lock(?)", (LOCK_KEY,))
        tx.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        found = tx.one("SELECT MAX(version) FROM schema_version")[0] or 0
        if found > LATEST:
            raise StoreError(f"The database at {db.where} has schema version {found}, newer than this "
                             f"app knows ({LATEST}): run a newer version of the app, or point "
                             "GLM_DATA_DIR / DATABASE_URL at another database.")
        for version in range(found, to):
            for statement in MIGRATIONS[version]:
                tx.run(statement.format(**DDL[db.kind]))
        if found == 0:
            tx.run("INSERT INTO schema_version (version) VALUES (?)", (to,))
        elif to > found:
            tx.run("UPDATE schema_version SET version = ?", (to,))
    return found


def version(db: Database) -> int:
    with db.read() as tx:
        return int(tx.one("SELECT MAX(version) FROM schema_version")[0] or 0)
