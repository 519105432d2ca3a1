# ruff: noqa: F811  (the fixtures imported from tests/test_store.py are the parameters)
"""The store's ratings of Chat answers and its test sets saved from the Chat (schema version 4),
on a real SQLite file and a real PostgreSQL server (the fixtures of tests/test_store.py)."""

from __future__ import annotations

import pytest

from tests.test_store import Place, place, postgres_url, store  # noqa: F401  (fixtures)
from ui.choices import Choices
from ui.store import Store
from ui.store.schema import LATEST, upgrade, version
from ui.testing.cells import Item
from ui.testing.chatratings import ChatRating


def rating(verdict: int = -1, key: str = "k1", owner: str = "browser:x", **more) -> ChatRating:
    values = dict(model="glm-4.5v", choices=Choices(model="glm-4.5v", temperature=0.2),
                  question="How many cups? 几个杯子？", answer="Three cups.", verdict=verdict,
                  images=(("table.jpg", "ab" * 32),), reasons=("wrong_count",), note="two, not three",
                  owner=owner, who="", at="2026-11-27T10:00:00Z", answer_key=key)
    values.update(more)
    return ChatRating(**values)  # type: ignore[arg-type]


def test_a_chat_rating_is_kept_with_what_it_was_about_changed_and_taken_back(store: Store) -> None:
    first = store.add_chat_rating(rating())
    (kept,) = store.chat_ratings()
    assert kept.id == first
    assert (kept.model, kept.choices.temperature, kept.question, kept.images, kept.answer) == (
        "glm-4.5v", 0.2, "How many cups? 几个杯子？", (("table.jpg", "ab" * 32),), "Three cups.")
    assert (kept.verdict, kept.reasons, kept.note, kept.owner, kept.answer_key) == (
        -1, ("wrong_count",), "two, not three", "browser:x", "k1")
    # the same answer rated again: one rating, the new one
    store.add_chat_rating(rating(1, reasons=(), note="", at="2026-11-27T10:05:00Z"))
    (changed,) = store.chat_ratings()
    assert (changed.verdict, changed.reasons, changed.note, changed.at) == (1, (), "", "2026-11-27T10:05:00Z")
    # another browser's rating of the same answer is its own
    store.add_chat_rating(rating(owner="browser:y", at="2026-11-27T11:00:00Z"))
    assert [r.owner for r in store.chat_ratings()] == ["browser:x", "browser:y"]
    assert [r.owner for r in store.chat_ratings(owner="browser:y")] == ["browser:y"]
    assert [r.owner for r in store.chat_ratings(since="2026-11-27T10:30:00Z")] == ["browser:y"]
    assert [r.owner for r in store.chat_ratings(until="2026-11-27T10:30:00Z")] == ["browser:x"]
    assert store.remove_chat_rating("browser:x", "k1") is True
    assert store.remove_chat_rating("browser:x", "k1") is False
    assert [r.owner for r in store.chat_ratings()] == ["browser:y"]


@pytest.mark.parametrize("odd", [dict(verdict=0), dict(reasons=("not_a_reason",)), dict(note="x" * 2001),
                                 dict(answer_key=""), dict(model="")])
def test_a_chat_rating_the_page_never_sends_is_refused(store: Store, odd: dict) -> None:
    with pytest.raises(ValueError):
        store.add_chat_rating(rating(**odd))
    assert store.chat_ratings() == []


def test_a_test_set_gets_rows_once_each_and_lists_by_owner(store: Store) -> None:
    digest = store.put_image(b"image bytes", "receipt.jpg", b"thumb")
    saved = store.create_test_set("Receipts", "browser:x")
    assert (saved.name, saved.owner, saved.size) == ("Receipts", "browser:x", 0)
    assert store.create_test_set(" Receipts ", "browser:x").id == saved.id  # the same set
    other = store.create_test_set("Receipts", "browser:y")  # another browser's, of the same name
    assert other.id != saved.id
    row = Item(digest, "receipt.jpg", "What is the total?")
    assert store.add_test_rows(saved.id, [row]) == 1
    assert store.add_test_rows(saved.id, [row]) == 0  # added twice: still one row
    assert store.add_test_rows(saved.id, [Item(digest, "receipt.jpg", "What is the total?", "$12.50")],
                               who="ana") == 0  # the expected answer given later is kept
    assert store.add_test_rows(saved.id, [Item(digest, "receipt.jpg", "Which shop? " + "x" * 5000)]) == 1
    items = store.test_set_items(saved.id)
    assert [(i.image, i.name, i.expected) for i in items] == [(digest, "receipt.jpg", "$12.50"),
                                                             (digest, "receipt.jpg", "")]
    assert len(items[1].question) == 5012
    assert [(s.name, s.size) for s in store.test_sets("browser:x")] == [("Receipts", 2)]
    assert [s.owner for s in store.test_sets()] == ["browser:y", "browser:x"]  # newest first
    assert store.test_set(other.id).size == 0  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        store.create_test_set("   ", "browser:x")
    with pytest.raises(ValueError):
        store.create_test_set("n" * 101, "browser:x")
    with pytest.raises(KeyError):
        store.add_test_rows(10_000, [row])


def test_a_version_3_database_is_upgraded_to_keep_chat_ratings_and_test_sets(place: Place) -> None:
    db = place.database()
    upgrade(db, to=3)
    assert version(db) == 3
    db.close()
    store = place.open()
    assert version(store.db) == LATEST == 5  # type: ignore[attr-defined]
    store.add_chat_rating(rating())
    saved = store.create_test_set("From the chat", "browser:x")
    assert [s.id for s in store.test_sets("browser:x")] == [saved.id]
    assert len(store.chat_ratings()) == 1
