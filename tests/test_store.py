"""The store (ui/store/) on a real SQLite file and a real PostgreSQL server: every test runs on both.

PostgreSQL: GLM_TEST_DATABASE_URL names a server and a user that may create databases (.ci/run
starts Debian's server and sets it); each test session gets a database of its own, dropped at the
end. Without it the PostgreSQL half skips on a developer's machine and fails in CI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import IN_CI, ROOT
from ui.choices import Choices
from ui.records import AnswerRecord
from ui.settings import Settings, default_data_dir
from ui.store import SQLITE_FILE, CellFilter, Store, StoreError, open_store, sql
from ui.store.db import Database, postgres_database, sqlite_database
from ui.store.schema import LATEST, upgrade, version
from ui.store.urls import mask, reason
from ui.testing.cells import Item, Rating, Variant
from ui.testing.lease import iso

ADMIN_URL = os.environ.get("GLM_TEST_DATABASE_URL", "")  # read before the autouse fixture clears GLM_*


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the test server for this session, dropped at its end."""
    if not ADMIN_URL:
        if IN_CI:
            pytest.fail("CI must run the store's tests on PostgreSQL: .ci/run sets GLM_TEST_DATABASE_URL")
        pytest.skip("GLM_TEST_DATABASE_URL is not set (a PostgreSQL URL whose user may create databases)")
    import psycopg

    name = f"glm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Place:
    """One database the test may open as often as it likes; every store opened is closed after."""

    data_dir: Path
    url: str | None
    opened: list[Store] = field(default_factory=list)

    def open(self) -> Store:
        store = open_store(self.data_dir, self.url)
        self.opened.append(store)
        return store

    def database(self) -> Database:
        """The bare database, no tables made (to build an older version of the schema)."""
        if self.url is not None:
            return postgres_database(self.url)
        self.data_dir.mkdir(parents=True)
        return sqlite_database(self.data_dir / SQLITE_FILE)


def _empty_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgres"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        _empty_postgres(url)
    where = Place(tmp_path / "data", url)
    yield where
    for store in where.opened:
        store.close()


@pytest.fixture
def store(place: Place) -> Store:
    return place.open()


def items(n: int) -> list[Item]:
    return [Item(f"{i:064x}", f"photo {i}.jpg", f"What is in image {i}?", f"expected {i}") for i in range(n)]


VARIANTS = [Variant(Choices(model="glm-4.6v")), Variant(Choices(model="glm-4.6v", temperature=0.0), "greedy"),
            Variant(Choices(model="glm-4v-flash", thinking=None))]


def record(model: str = "glm-4.6v", **more: object) -> AnswerRecord:
    return AnswerRecord(model, Choices(model=model, temperature=0.2), prompt_tokens=812, completion_tokens=40,
                        first_token_s=0.42, total_s=1.5, finish="stop", at="2026-11-27T10:00:00Z", **more)


def order(cells: list) -> list[tuple[int, int]]:
    return [(c.row, c.variant) for c in cells]


def test_a_new_run_has_one_pending_cell_per_item_and_variant(store: Store) -> None:
    run = store.create_run("Shelf photos", "ana", items(4), VARIANTS)
    assert run.size == 12 and run.status == "ready"
    assert store.count(run.id) == 12
    cells = store.cells(run.id, limit=100)
    assert order(cells) == [(r, v) for r in range(4) for v in range(3)]
    assert {c.status for c in cells} == {"pending"} and {c.attempts for c in cells} == {0}
    again = store.run(run.id)
    assert again == run  # items, variants (labels, every choice) and fingerprint come back as given
    assert again is not None and again.fingerprint() == run.fingerprint()
    assert store.run(run.id + 1000) is None
    empty = store.create_run("nothing yet", "ana", [], VARIANTS)  # finished at once by the runner
    assert empty.size == 0 and store.todo(empty.id) == [] and store.count(empty.id) == 0
    assert store.runs()[0].size == 0


def test_todo_is_pending_cells_by_row_then_variant(store: Store) -> None:
    run = store.create_run("t", "ana", items(3), VARIANTS[:2])
    first = store.todo(run.id)
    assert order(first) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    store.save_answer(first[0].id, "A red cup.", "", record())
    store.save_failure(first[3].id, "error_rate_limited", {"seconds": 30}, None)
    assert order(store.todo(run.id)) == [(0, 1), (1, 0), (2, 0), (2, 1)]
    assert order(store.todo(run.id, retry_failed=True)) == [(0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]


def test_answers_and_failures_are_kept_with_their_record_and_attempts(store: Store) -> None:
    run = store.create_run("t", "ana", items(1), VARIANTS[:2])
    done, failed = store.todo(run.id)
    store.save_answer(done.id, "Two **cats** 猫", "counting ears", record())
    store.save_failure(failed.id, "error_timeout", {"seconds": 60}, record(error="error_timeout"))
    got = {c.id: c for c in store.cells(run.id)}
    assert got[done.id].status == "done" and got[done.id].answer == "Two **cats** 猫"
    assert got[done.id].thinking == "counting ears" and got[done.id].record == record()
    assert got[done.id].attempts == 1 and got[done.id].error == ""
    assert got[failed.id].status == "failed" and got[failed.id].error == "error_timeout"
    assert got[failed.id].error_params == {"seconds": 60} and got[failed.id].attempts == 1
    assert got[failed.id].record == record(error="error_timeout")
    # retried alone ("retry failed cells"): it fails once more, then answers; nothing of before stays
    store.save_failure(failed.id, "error_server", {}, None)
    store.save_answer(failed.id, "One dog.", "", record())
    again = store.cells(run.id, CellFilter(variant=1))[0]
    assert (again.status, again.error, again.error_params, again.attempts) == ("done", "", {}, 3)
    with pytest.raises(KeyError):
        store.save_answer(10**9, "x", "", record())


def test_a_failure_is_kept_even_when_its_sentence_parameters_are_not_plain_values(store: Store) -> None:
    run = store.create_run("t", "ana", items(1), VARIANTS[:1])
    (cell,) = store.todo(run.id)
    store.save_failure(cell.id, "error_server", {"status": 502, "detail": ValueError("bad gateway")}, None)
    assert store.cells(run.id)[0].error_params == {"status": 502, "detail": "bad gateway"}


def test_retry_failed_asks_failed_cells_again_and_never_a_done_one(store: Store) -> None:
    run = store.create_run("t", "ana", items(2), VARIANTS[:1])
    a, b = store.todo(run.id)
    store.save_answer(a.id, "ok", "", record())
    store.save_failure(b.id, "error_server", {}, None)
    assert store.todo(run.id) == []
    assert [c.id for c in store.todo(run.id, retry_failed=True)] == [b.id]


def test_pages_of_cells_cover_the_run_once_and_each_filter_narrows_them(store: Store) -> None:
    run = store.create_run("t", "ana", items(7), VARIANTS)  # 21 cells
    pages = [store.cells(run.id, offset=o, limit=5) for o in range(0, 25, 5)]
    assert [len(p) for p in pages] == [5, 5, 5, 5, 1]
    assert order([c for p in pages for c in p]) == [(r, v) for r in range(7) for v in range(3)]
    cells = store.cells(run.id, limit=100)
    for c in cells[:6]:
        store.save_answer(c.id, f"answer {c.row}", "", record())
    store.save_failure(cells[6].id, "error_server", {}, None)
    store.rate(cells[0].id, Rating(1))
    store.rate(cells[1].id, Rating(-1, ("wrong_count", "misread_text"), "three, not two", "bo"))
    store.rate(cells[2].id, Rating(-1, ("missed_object",)))
    cases = {
        CellFilter(variant=1): [(r, 1) for r in range(7)],
        CellFilter(status="done"): order(cells[:6]),
        CellFilter(status="failed"): [(2, 0)],
        CellFilter(status="pending"): order(cells[7:]),
        CellFilter(verdict=1): [(0, 0)],
        CellFilter(verdict=-1): [(0, 1), (0, 2)],
        CellFilter(verdict=0): order(cells[3:]),
        CellFilter(reason="wrong_count"): [(0, 1)],
        CellFilter(reason="wrong_position"): [],
        CellFilter(variant=2, verdict=-1, reason="missed_object"): [(0, 2)],
        CellFilter(variant=0, status="done"): [(0, 0), (1, 0)],
    }
    for where, expected in cases.items():
        assert order(store.cells(run.id, where, limit=100)) == expected, where
        assert store.count(run.id, where) == len(expected), where
    assert order(store.cells(run.id, CellFilter(verdict=0), offset=2, limit=3)) == order(cells[5:8])


def test_a_rating_is_set_changed_and_cleared(store: Store) -> None:
    run = store.create_run("t", "ana", items(1), VARIANTS[:1])
    (cell,) = store.todo(run.id)
    store.rate(cell.id, Rating(-1, ("invented_object",), "no dog there", "ana"))
    rating = store.cells(run.id)[0].rating
    assert rating is not None and (rating.verdict, rating.reasons, rating.note, rating.who) == \
        (-1, ("invented_object",), "no dog there", "ana")
    assert rating.at.endswith("Z")  # stamped when not given
    store.rate(cell.id, Rating(1, who="bo", at="2026-11-27T12:00:00Z"))
    assert store.cells(run.id)[0].rating == Rating(1, (), "", "bo", "2026-11-27T12:00:00Z")
    store.rate(cell.id, None)
    assert store.cells(run.id)[0].rating is None and store.count(run.id, CellFilter(verdict=0)) == 1
    with pytest.raises(ValueError):
        store.rate(cell.id, Rating(0))
    with pytest.raises(ValueError):
        store.rate(cell.id, Rating(1, ("looked_fine",)))
    with pytest.raises(KeyError):
        store.rate(10**9, Rating(1))


def test_runs_are_listed_newest_first_with_their_progress_and_by_owner(store: Store) -> None:
    first = store.create_run("first", "ana", items(2), VARIANTS[:2])
    second = store.create_run("second", "bo", items(1), VARIANTS[:1])
    third = store.create_run("third", "ana", items(1), VARIANTS[:2])
    a, b, c, _ = store.todo(first.id)
    store.save_answer(a.id, "x", "", record())
    store.save_answer(b.id, "y", "", record())
    store.save_failure(c.id, "error_server", {}, None)
    store.rate(a.id, Rating(1))
    store.set_status(first.id, "stopped")
    listed = store.runs()
    assert [r.title for r in listed] == ["third", "second", "first"]
    info = listed[2]
    assert (info.id, info.owner, info.status, info.size, info.done, info.failed, info.rated) == \
        (first.id, "ana", "stopped", 4, 2, 1, 1)
    assert (listed[0].size, listed[0].done, listed[0].failed, listed[0].rated) == (2, 0, 0, 0)
    assert [r.id for r in store.runs("ana")] == [third.id, first.id]
    assert [r.id for r in store.runs("bo")] == [second.id]
    assert store.runs("nobody") == []
    assert [r.id for r in store.runs(limit=2)] == [third.id, second.id]
    with pytest.raises(ValueError):
        store.set_status(first.id, "paused")  # type: ignore[arg-type]


def test_an_unfinished_run_is_found_by_its_inputs_and_its_owner(store: Store) -> None:
    older = store.create_run("a", "cli", items(2), VARIANTS[:2])
    newer = store.create_run("b", "cli", items(2), VARIANTS[:2])
    store.create_run("c", "cli", items(3), VARIANTS[:2])  # other inputs
    store.create_run("d", "ana", items(2), VARIANTS[:2])  # someone else's
    found = store.find_unfinished(older.fingerprint(), "cli")
    assert found is not None and found.id == newer.id
    store.set_status(newer.id, "done")
    found = store.find_unfinished(older.fingerprint(), "cli")
    assert found is not None and found.id == older.id
    store.set_status(older.id, "done")
    assert store.find_unfinished(older.fingerprint(), "cli") is None
    assert store.find_unfinished(older.fingerprint(), "bo") is None


def test_an_image_is_stored_once_whatever_its_name(store: Store) -> None:
    data, thumb = b"\x89PNG fake image bytes \x00\xff" * 100, b"\xff\xd8 small jpeg"
    digest = store.put_image(data, "cat.png", thumb)
    assert store.put_image(data, "copy of cat.png", b"another thumbnail") == digest
    assert store.image(digest) == data and store.thumbnail(digest) == thumb
    assert store.image("0" * 64) is None and store.thumbnail("0" * 64) is None
    with store.db.read() as tx:  # type: ignore[attr-defined]
        assert tx.one("SELECT COUNT(*), MIN(name) FROM images") == (1, "cat.png")


def test_sixteen_threads_saving_at_once_lose_nothing(store: Store) -> None:
    run = store.create_run("t", "ana", items(40), VARIANTS[:2])  # 80 cells, 5 per thread
    cells = store.todo(run.id)
    start = threading.Barrier(16)
    errors: list[BaseException] = []

    def work(mine: list) -> None:
        try:
            start.wait()
            for cell in mine:
                store.save_answer(cell.id, f"answer {cell.id}", f"thought {cell.id}", record())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(cells[i::16],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    saved = list(store.each_cell(run.id))
    assert [c.answer for c in saved] == [f"answer {c.id}" for c in cells]
    assert {(c.status, c.attempts) for c in saved} == {("done", 1)}
    assert store.todo(run.id) == []


def test_each_cell_reads_a_large_run_in_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "BATCH", 4)
    run = store.create_run("t", "ana", items(5), VARIANTS[:2])  # 10 cells: batches of 4, 4, 2
    cells = store.todo(run.id)
    reading = store.each_cell(run.id)
    first = next(reading)
    store.save_answer(cells[9].id, "saved while the report was being read", "", record())
    rest = list(reading)
    assert order([first, *rest]) == order(cells)
    assert rest[-1].answer == "saved while the report was being read"  # read after, not up front


def test_reopening_the_database_keeps_everything(place: Place) -> None:
    store = place.open()
    digest = store.put_image(b"image bytes", "a.png", b"thumb")
    run = store.create_run("kept", "ana", items(2), VARIANTS[:2])
    cells = store.todo(run.id)
    store.save_answer(cells[0].id, "kept answer", "kept thinking", record())
    store.save_failure(cells[1].id, "error_server", {"status": 502}, None)
    store.rate(cells[0].id, Rating(1, note="good", who="ana"))
    store.set_status(run.id, "stopped")
    before = store.cells(run.id, limit=10)
    store.close()
    again = place.open()
    assert again.run(run.id) == replace(run, status="stopped")
    assert again.cells(run.id, limit=10) == before
    assert again.image(digest) == b"image bytes"
    assert [r.id for r in again.runs("ana")] == [run.id]


def test_a_version_1_database_is_upgraded_in_place_with_its_rows(place: Place) -> None:
    db = place.database()
    upgrade(db, to=1)  # the database as the first release of the store left it
    with db.write() as tx:
        tx.run("INSERT INTO images (sha256, name, bytes, thumbnail, created) VALUES (?, ?, ?, ?, ?)",
               ("ab" * 32, "old.png", b"old bytes", b"old thumb", "2026-01-01T00:00:00Z"))
        tx.run("INSERT INTO runs (title, owner, created, status, size, fingerprint, items, variants) "
               "VALUES ('old run', 'ana', '2026-01-01T00:00:00Z', 'stopped', 1, 'f1', ?, ?)",
               ('[{"image": "' + "ab" * 32 + '", "name": "old.png", "question": "Q?", "expected": ""}]',
                '[{"label": "", "choices": {"model": "glm-4v", "temperature": 0.1}}]'))
        tx.run("INSERT INTO cells (run_id, row, variant, status, answer, attempts, updated) "
               "VALUES (1, 0, 0, 'done', 'an answer from before', 1, '2026-01-01T00:00:00Z')")
    assert version(db) == 1
    db.close()
    store = place.open()
    assert version(store.db) == LATEST == 5  # type: ignore[attr-defined]
    run = store.run(1)
    assert run is not None and run.title == "old run" and run.status == "stopped"
    assert run.variants[0].choices == Choices(model="glm-4v", temperature=0.1)
    (cell,) = store.cells(1)
    assert (cell.status, cell.answer, cell.attempts) == ("done", "an answer from before", 1)
    assert cell.rating is None
    assert store.image("ab" * 32) == b"old bytes"
    store.rate(cell.id, Rating(1))  # what version 2 added works on the old rows
    assert store.count(1, CellFilter(verdict=1)) == 1
    assert [(r.title, r.size, r.done, r.rated) for r in store.runs("ana")] == [("old run", 1, 1, 1)]


def test_a_database_newer_than_the_app_is_refused_with_a_sentence(place: Place) -> None:
    store = place.open()
    with store.db.write() as tx:  # type: ignore[attr-defined]
        tx.run("UPDATE schema_version SET version = ?", (LATEST + 1,))
    with pytest.raises(StoreError, match=f"schema version {LATEST + 1}, newer than this app"):
        place.open()


CHILD = """
import sys
from pathlib import Path
from ui.records import AnswerRecord
from ui.choices import Choices
from ui.store import open_store
store = open_store(Path(sys.argv[1]), sys.argv[2] or None)
for cell in store.todo(int(sys.argv[3])):
    store.save_answer(cell.id, f"answer {cell.id}", "", AnswerRecord("m", Choices(model="m")))
    print(cell.id, flush=True)
sys.stdin.read()  # all saved: wait to be killed
"""


def test_a_process_killed_mid_run_keeps_every_answer_it_saved(place: Place) -> None:
    store = place.open()
    run = store.create_run("t", "cli", items(300), VARIANTS[:1])
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(place.data_dir), place.url or "", str(run.id)],
                             cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    saved = [int(child.stdout.readline()) for _ in range(20)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    again = place.open()
    done = {c.id: c for c in again.cells(run.id, CellFilter(status="done"), limit=1000)}
    assert set(saved) <= set(done)
    assert all(done[i].answer == f"answer {i}" for i in saved)
    assert len(done) >= 20 and again.count(run.id) == 300


def test_open_store_makes_its_folder_and_file_on_first_use(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "data"
    open_store(folder, "").close()
    assert (folder / SQLITE_FILE).is_file()


def test_open_store_says_what_is_wrong_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as wrong:
        open_store(tmp_path, "mysql://tester:hunter2@db.example/runs")
    assert "hunter2" not in str(wrong.value) and "postgresql://" in str(wrong.value)
    assert "mysql://tester:***@db.example/runs" in str(wrong.value)
    with pytest.raises(StoreError) as down:  # nothing listens on port 9 of this machine
        open_store(tmp_path, "postgresql://tester:hunter2@127.0.0.1:9/runs?password=hunter2")
    assert "hunter2" not in str(down.value) and "tester:***@127.0.0.1:9" in str(down.value)
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    with pytest.raises(StoreError, match="GLM_DATA_DIR"):
        open_store(blocked / "data", None)


def test_settings_name_the_data_folder_and_keep_the_database_url_out_of_sight(tmp_path: Path) -> None:
    settings = Settings.from_env({"GLM_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://u:hunter2@h/d"})
    assert settings.data_dir == tmp_path and settings.database_url == "postgresql://u:hunter2@h/d"
    assert "hunter2" not in repr(settings)
    import ui.settings

    assert Settings.from_env({}).data_dir == ui.settings.default_data_dir()  # (conftest's, in tests)
    assert default_data_dir(tmp_path) == tmp_path  # a Space's persistent storage, when writable
    assert default_data_dir(tmp_path / "missing") == Path.cwd() / "data"


def test_a_connection_the_server_dropped_is_replaced_unnoticed(postgres_url: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL restart (or an idle timeout) closes the pooled connections: the next call
    opens a fresh one instead of failing."""
    import psycopg

    from ui.store import db

    monkeypatch.setattr(db, "STALE_AFTER", 0.0)  # check every connection idle for any time at all
    _empty_postgres(postgres_url)
    store = open_store(Path("unused"), postgres_url)
    try:
        run = store.create_run("t", "ana", items(2), VARIANTS[:1])
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            dropped = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                                    "application_name = 'glm-vision-chat' AND datname = current_database()"
                                    ).fetchall()
        assert dropped and all(ok for (ok,) in dropped)
        assert store.count(run.id) == 2
        store.save_answer(store.todo(run.id)[0].id, "after the restart", "", record())
        assert store.count(run.id, CellFilter(status="done")) == 1
    finally:
        store.close()


def test_an_answer_with_characters_a_database_refuses_is_still_kept(store: Store) -> None:
    """A hostile or broken answer (NUL, a lone surrogate from a JSON escape) must not cost the cell:
    PostgreSQL refuses NUL in text, neither database takes a lone surrogate as UTF-8."""
    run = store.create_run("t\x00itle", "ana", [Item("ab" * 32, "bad\x00name.png", "Q\ud800?")], VARIANTS[:1])
    (cell,) = store.todo(run.id)
    store.save_answer(cell.id, "two\x00cats \ud83d", "think\x00ing", record(error="er\x00ror"))
    store.rate(cell.id, Rating(-1, ("other",), note="no\x00te \udfff", who="a\x00na"))
    (kept,) = store.cells(run.id)
    assert kept.status == "done"
    assert (kept.answer, kept.thinking) == ("two\ufffdcats \ufffd", "think\ufffding")
    assert kept.record is not None and kept.record.error == "er\x00ror"  # JSON text escapes it: kept as is
    assert kept.rating is not None and kept.rating.note == "no\ufffdte \ufffd"
    again = store.run(run.id)
    assert again is not None and again.title == "t\ufffditle" and again.items[0].question == "Q\ufffd?"


def test_processes_starting_together_on_a_new_database_set_it_up_once(place: Place) -> None:
    """Replicas behind a load balancer start at the same moment: one creates the tables, the
    others find them, nobody fails."""
    start = threading.Barrier(6)
    opened: list[Store] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            start.wait()
            opened.append(open_store(place.data_dir, place.url))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    place.opened.extend(opened)
    assert errors == [] and len(opened) == 6
    assert {version(s.db) for s in opened} == {LATEST}  # type: ignore[attr-defined]
    with opened[0].db.read() as tx:  # type: ignore[attr-defined]
        assert tx.one("SELECT COUNT(*) FROM schema_version")[0] == 1


def test_votes_are_kept_with_what_they_were_about_and_read_by_time_and_kind(store: Store) -> None:
    from ui.testing.votes import Vote

    def vote(outcome: str, at: str, blind: bool = True, **more) -> Vote:
        return Vote("glm-4.5v", "GLM-4V-Plus", outcome, Choices(model="glm-4.5v", temperature=0.2),
                    Choices(model="GLM-4V-Plus"), "How many cups? 几个杯子？",
                    (("table.jpg", "ab" * 32),), "Three.", "Two.", blind, ("wrong_count",),
                    "the left one", "browser:x", "", at, **more)

    first = store.add_vote(vote("a", "2026-11-20T10:00:00Z"))
    store.add_vote(vote("tie", "2026-11-25T10:00:00Z", blind=False))
    store.add_vote(vote("both_bad", "2026-11-26T10:00:00Z", test_set="run 3"))
    every = store.votes()
    assert [v.outcome for v in every] == ["a", "tie", "both_bad"] and every[0].id == first
    got = every[0]
    assert (got.choices_a.temperature, got.images, got.answer_b, got.reasons, got.blind) == (
        0.2, (("table.jpg", "ab" * 32),), "Two.", ("wrong_count",), True)
    assert got.question == "How many cups? 几个杯子？"
    assert [v.outcome for v in store.votes(blind_only=True)] == ["a", "both_bad"]
    assert [v.outcome for v in store.votes(since="2026-11-24", until="2026-11-26")] == ["tie"]
    assert [v.outcome for v in store.votes(test_set="run 3")] == ["both_bad"]
    with pytest.raises(ValueError):
        store.add_vote(vote("a is better", "2026-11-27T00:00:00Z"))


def test_the_leaderboard_reads_only_what_it_counts_of_the_votes_one_browser_or_all(store: Store) -> None:
    from ui.testing.votes import Outcome, Vote

    def vote(owner: str, at: str, blind: bool = True) -> Vote:
        return Vote("glm-4.5v", "GLM-4V", "b", Choices(model="glm-4.5v"), Choices(model="GLM-4V"),
                    "q?", (), "long answer " * 100, "", blind, ("misread_text", "refused"), "",
                    owner, "", at, "receipts")

    store.add_vote(vote("browser:x", "2026-11-20T10:00:00Z"))
    store.add_vote(vote("user:alice", "2026-11-25T10:00:00Z", blind=False))
    store.add_vote(vote("browser:y", "2026-11-26T10:00:00Z"))
    assert store.outcomes(owner="browser:x") == [
        Outcome("glm-4.5v", "GLM-4V", "b", ("misread_text", "refused"), "browser:x", "receipts", True,
                "2026-11-20T10:00:00Z")]
    assert [o.owner for o in store.outcomes()] == ["browser:x", "user:alice", "browser:y"]
    assert [o.owner for o in store.outcomes(blind_only=True)] == ["browser:x", "browser:y"]
    assert [o.owner for o in store.outcomes(since="2026-11-21", until="2026-11-26")] == ["user:alice"]


@pytest.mark.parametrize(("url", "shown", "password"), [
    ("postgresql://glm:hunter2@db:5432/runs", "postgresql://glm:***@db:5432/runs", "hunter2"),
    ("postgresql://glm:hunt%40er2@db/runs?sslmode=require", "postgresql://glm:***@db/runs?sslmode=require",
     "hunt@er2"),
    ("postgresql://db/runs?user=glm&password=hunter2", "postgresql://db/runs?user=glm&password=***",
     "hunter2"),
    ("postgresql://glm:hunter2@[::1/runs", "postgresql://***", "hunter2"),
    ("postgresql://glm@db/runs", "postgresql://glm@db/runs", None),
])
def test_a_database_url_is_shown_without_its_password(url: str, shown: str, password: str | None) -> None:
    assert mask(url) == shown
    if password:  # a driver message echoing the URL or the password says neither
        said = reason(ValueError(f"invalid dsn {url}: password '{password}' refused"), url)
        assert password not in said and "er2" not in said, said


def test_a_database_out_of_reach_is_one_sentence_and_the_next_call_recovers(
        place: Place, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL drops the connection mid-use, or another process holds SQLite's write lock too
    long: the page gets StoreUnavailable (a sentence in both languages, nothing of the driver),
    and once the database is back the same store works again."""
    import sqlite3

    import psycopg

    from ui import i18n
    from ui.errors import ChatError, StoreUnavailable
    from ui.store import db

    monkeypatch.setattr(db, "BUSY_TIMEOUT", 0.05)  # SQLite: how long a writer waits for the lock
    store = place.open()
    run = store.create_run("t", "ana", items(1), VARIANTS[:1])
    (cell,) = store.todo(run.id)
    if place.url is None:
        holder = sqlite3.connect(place.data_dir / SQLITE_FILE, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
    else:
        with psycopg.connect(place.url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "application_name = 'glm-vision-chat' AND datname = current_database()")
    with pytest.raises(StoreUnavailable) as out:
        store.save_answer(cell.id, "an answer", "", record())
    assert isinstance(out.value, ChatError) and out.value.key == "store_unavailable"
    assert {"en", "zh"} <= {lang for lang, table in i18n.MESSAGES.items() if "store_unavailable" in table}
    if place.url is None:
        holder.execute("ROLLBACK")
        holder.close()
    store.save_answer(cell.id, "an answer", "", record())
    assert store.cells(run.id)[0].answer == "an answer"


def test_a_run_read_again_is_not_parsed_again_and_still_shows_its_status(place: Place) -> None:
    store = place.open()
    run = store.create_run("Large", "ana", items(300), VARIANTS)
    first = store.run(run.id)
    store.set_status(run.id, "running")
    again = store.run(run.id)
    assert first is not None and again is not None
    assert again.status == "running" and again == replace(run, status="running")
    # each page of the grid reads its run: a 5,000-cell run's items were parsed on every click
    assert again.items is first.items and again.variants is first.variants
    other = place.open()  # another server sharing the database sees the same run
    assert other.run(run.id) == again


def test_a_restart_stops_only_the_runs_left_running_in_one_statement(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.store.db import Tx
    from ui.testing.manager import Runs

    runs = {status: store.create_run(status, "ana", items(30), VARIANTS)
            for status in ("ready", "running", "stopped", "done")}
    for status, run in runs.items():
        store.set_status(run.id, status)  # type: ignore[arg-type]
    other = store.create_run("also running", "bo", items(2), VARIANTS[:1])
    store.set_status(other.id, "running")
    statements: list[str] = []
    real = Tx.run
    monkeypatch.setattr(Tx, "run", lambda tx, sql, params=(): statements.append(sql) or real(tx, sql, params))

    assert Runs(None, store, str).recover() == 2  # type: ignore[arg-type]

    # one statement, and not over the cells: a server with many finished runs starts as fast
    assert len(statements) == 1 and "cells" not in statements[0]
    monkeypatch.undo()
    got = {info.title: info.status for info in store.runs()}
    assert got == {"ready": "ready", "running": "stopped", "stopped": "stopped", "done": "done",
                   "also running": "stopped"}
    assert Runs(None, store, str).recover() == 0  # type: ignore[arg-type]


def test_a_runs_changes_mark_every_answer_failure_and_rating_and_nothing_else(store: Store) -> None:
    run = store.create_run("Large", "ana", items(4), VARIANTS[:1])
    other = store.create_run("Other", "ana", items(2), VARIANTS[:1])
    seen = [store.changes(run.id)]

    def changed() -> bool:
        seen.append(store.changes(run.id))
        return seen[-1] != seen[-2]

    first, second, *_ = store.todo(run.id)
    store.save_answer(first.id, "a cup", "", record())
    assert changed()
    store.save_failure(second.id, "timeout_first", {}, None)
    assert changed()
    store.save_failure(second.id, "dropped", {}, None)  # failed again, for another reason
    assert changed()
    store.rate(first.id, Rating(1, (), "", "ana", "2026-11-27T10:00:00Z"))
    assert changed()
    store.rate(first.id, Rating(-1, ("wrong_count",), "", "ana", "2026-11-27T10:00:00Z"))
    assert changed()
    store.rate(first.id, None)
    assert changed()
    [elsewhere] = store.todo(other.id)[:1]
    store.save_answer(elsewhere.id, "not this run", "", record())
    store.set_status(run.id, "stopped")
    list(store.each_cell(run.id))
    assert not changed()


# --- leases: one process at a time asks a run (ui/testing/lease.py) ---------------------------------

T0 = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


class Clock:
    """A process's clock, moved by the test."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_a_live_lease_is_not_claimed_by_another_process_and_one_that_ran_out_is(place: Place) -> None:
    from ui.testing.lease import Lease

    app, batch = place.open(), place.open()  # two processes on one database, each its own holder
    run = app.create_run("shared", "ana", items(3), VARIANTS[:1])
    clock = Clock()
    mine = Lease(app, run.id, "app-host:101:aa", clock=clock)
    theirs = Lease(batch, run.id, "batch-host:202:bb", clock=clock)

    assert mine.claim()
    assert not theirs.claim()  # held: the second process does not ask the run's cells
    assert theirs.elsewhere() and not mine.elsewhere()
    assert batch.run(run.id).status == "running"  # type: ignore[union-attr]
    assert mine.claim()  # its own lease: claimed again (renewed), not refused
    clock.advance(45)
    assert mine.renew() and not theirs.renew()
    clock.advance(59)  # within the renewed lease (45 + 60 s)
    assert not theirs.claim()
    clock.advance(2)  # its holder was killed and renewed it no more: it ran out
    assert not theirs.elsewhere()
    assert theirs.claim()
    assert app.run_lease(run.id) == ("batch-host:202:bb", iso(clock.now + timedelta(seconds=60)))
    assert not mine.renew()  # the first holder, back from a stall, finds it lost ...
    assert not mine.release("stopped")  # ... and writes no status over the new holder's run
    assert app.run(run.id).status == "running"  # type: ignore[union-attr]
    assert theirs.release("done")
    assert app.run(run.id).status == "done" and app.run_lease(run.id) is None  # type: ignore[union-attr]
    assert mine.claim()  # a run nobody holds is claimed (Resume, retry failed)


def test_a_restart_stops_only_runs_whose_lease_ran_out_in_one_statement(
        place: Place, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.store.db import Tx
    from ui.testing.lease import Lease
    from ui.testing.manager import Runs

    store, replica = place.open(), place.open()
    clock = Clock()
    live = store.create_run("asked by a replica", "ana", items(4), VARIANTS[:1])
    killed = store.create_run("left by a killed server", "ana", items(4), VARIANTS[:1])
    assert Lease(replica, live.id, "replica-host:7:cc", clock=clock).claim()
    assert Lease(store, killed.id, "old-host:8:dd", clock=Clock(T0 - timedelta(seconds=61))).claim()
    statements: list[str] = []
    real = Tx.run
    monkeypatch.setattr(Tx, "run", lambda tx, sql, params=(): statements.append(sql) or real(tx, sql, params))

    assert Runs(None, store, str, holder="new-host:9:ee", clock=clock).recover() == 1  # type: ignore[arg-type]

    assert len(statements) == 1 and "cells" not in statements[0]
    monkeypatch.undo()
    assert {i.title: i.status for i in store.runs()} == {"asked by a replica": "running",
                                                        "left by a killed server": "stopped"}
    assert store.run_lease(killed.id) is None
    clock.advance(61)  # the replica was killed too: at the next start-up its run is stopped
    assert Runs(None, store, str, holder="new-host:9:ee", clock=clock).recover() == 1  # type: ignore[arg-type]
    assert store.run(live.id).status == "stopped"  # type: ignore[union-attr]


def test_a_holder_of_this_machine_that_was_killed_loses_its_lease_before_it_runs_out(place: Place) -> None:
    from ui.testing.lease import Lease, gone

    store = place.open()
    run = store.create_run("killed batch", "cli", items(2), VARIANTS[:1])
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = f"{socket.gethostname()}:{child.pid}:ff"
        assert Lease(store, run.id, holder).claim()
        assert not gone(holder) and not Lease(store, run.id, "resumer:1:aa").claim()
    finally:
        child.kill()
        child.wait()
    assert gone(holder)  # killed with SIGKILL: it could not give its lease up
    resumed = Lease(store, run.id, f"{socket.gethostname()}:{os.getpid()}:aa")
    assert not resumed.elsewhere() and resumed.claim()
    assert store.run_lease(run.id)[0] == resumed.holder  # type: ignore[index]


def test_a_version_4_database_with_a_running_run_is_upgraded_in_place_and_leases_it(place: Place) -> None:
    from ui.testing.lease import Lease
    from ui.testing.manager import Runs

    db = place.database()
    upgrade(db, to=4)  # the database as the release before leases left it
    with db.write() as tx:
        for title, status in (("was running", "running"), ("finished", "done")):
            tx.run("INSERT INTO runs (title, owner, created, status, size, fingerprint, items, variants) "
                   "VALUES (?, 'ana', '2026-01-01T00:00:00Z', ?, 0, 'f1', '[]', '[]')", (title, status))
    db.close()
    store = place.open()
    assert version(store.db) == LATEST == 5  # type: ignore[attr-defined]
    assert store.run_lease(1) == ("", "")  # running, held by nobody: a server before leases left it
    assert Runs(None, store, str).recover() == 1  # type: ignore[arg-type]
    assert [(i.title, i.status) for i in store.runs()] == [("finished", "done"), ("was running", "stopped")]
    lease = Lease(store, 1, "host:1:aa")
    assert lease.claim() and store.run(1).status == "running" and lease.release("stopped")  # type: ignore[union-attr]
