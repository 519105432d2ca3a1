"""The Chat's rating panel handlers (ui/page/rating.py) against a real SQLite store: a rating is
kept with what it was about, changed, taken back; a forged like event or save (a wrong index, an
unknown reason, a huge note) gets one sentence and stores nothing odd; "Add to a test set"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import gradio as gr
import pytest

from tests.conftest import TEST_KEY, make_image
from ui.choices import Choices
from ui.conversation import for_retry, user_message
from ui.page.rating import Ratings
from ui.page.testrun import shared_store
from ui.records import AnswerRecord, provenance_message
from ui.settings import Settings
from ui.turns import last_turn, turn_at

DEFAULTS = Choices()


def answered(question: str, answer: str, files: list[str], model: str = "glm-4.5v",
             at: str = "2026-11-27T10:00:00Z") -> list[dict]:
    record = AnswerRecord(model, Choices(model=model, temperature=0.3), at=at)
    return [user_message(question, files), provenance_message(record, DEFAULTS, "en"),
            {"role": "assistant", "content": answer}]


@pytest.fixture
def ratings(tmp_path: Path) -> Ratings:
    settings = Settings.from_env({"OPENAI_API_KEY": TEST_KEY, "GLM_MODELS": "glm-4.5v",
                                  "GLM_DATA_DIR": str(tmp_path / "data")})
    return Ratings(settings)


@pytest.fixture
def history(tmp_path: Path) -> list[dict]:
    image = make_image(tmp_path / "cups.png")
    return [*answered("How many cups?", "Three cups.", [str(image)]),
            *answered("And plates?", "Two plates.", [], at="2026-11-27T10:01:00Z")]


def like(ratings: Ratings, history, index, liked, state=None, reasons=None, note=""):
    data = gr.LikeData(None, {"index": index, "value": ["x"], "liked": liked})
    return asyncio.run(ratings.like(history, "b1", state, reasons or [], note, data, gr.Request()))


def stored(ratings: Ratings):
    store = ratings.store
    assert store is not None
    return store.chat_ratings()


def test_a_thumbs_down_is_kept_with_its_answer_then_changed_and_taken_back(ratings, history):
    state, *_, said = like(ratings, history, 1, False)
    assert said == "Kept: 👎 on this answer. Pick what was wrong and add a note if you like."
    (kept,) = stored(ratings)
    assert (kept.model, kept.choices.temperature, kept.question, kept.answer, kept.verdict) == (
        "glm-4.5v", 0.3, "How many cups?", "Three cups.", -1)
    assert kept.images[0][0] == "cups.png" and len(kept.images[0][1]) == 64
    assert kept.owner == "browser:b1" and state == {"key": kept.answer_key, "verdict": -1}
    said = asyncio.run(ratings.save(history, "b1", state, ["wrong_count"], " one cup ", gr.Request()))
    assert said == "Kept: 👎 with 1 reason and your note."
    assert [(r.reasons, r.note) for r in stored(ratings)] == [(("wrong_count",), "one cup")]
    like(ratings, history, 2, True, state, ["wrong_count"], "one cup")  # the same answer, now 👍
    assert [(r.verdict, r.reasons, r.note) for r in stored(ratings)] == [(1, (), "one cup")]
    *_, said = like(ratings, history, 2, "")  # the thumb clicked again: taken back
    assert said == "Your rating of this answer was removed." and stored(ratings) == []


@pytest.mark.parametrize("index", [99, -1, 0, 3, "1", [1, 0], True, None])
def test_a_like_event_naming_no_answer_is_refused_and_nothing_is_kept(ratings, history, index):
    with pytest.raises(gr.Error) as refused:
        like(ratings, history, index, False)
    assert refused.value.message == "There is no answer there to rate: rate an answer a model wrote."
    assert stored(ratings) == []


def test_a_like_with_a_feedback_the_page_never_offers_is_refused(ratings, history):
    with pytest.raises(gr.Error, match="no answer there to rate"):
        like(ratings, history, 1, "<img src=x onerror=alert(1)>")
    assert stored(ratings) == []


UNKNOWN = "That is not one of the reasons the page offers: pick from its list."
TOO_LONG = "The note is longer than 2000 characters: shorten it and save again."


@pytest.mark.parametrize(("reasons", "note", "sentence"), [
    (["wrong_count", "not_a_reason"], "", UNKNOWN), ("wrong_count", "", UNKNOWN), ([{"a": 1}], "", UNKNOWN),
    (["wrong_count"], "x" * 2001, TOO_LONG), (["wrong_count"], 12, TOO_LONG),
])
def test_a_forged_save_is_one_sentence_and_the_kept_rating_stays_as_it_was(ratings, history, reasons,
                                                                           note, sentence):
    state, *_ = like(ratings, history, 1, False)
    with pytest.raises(gr.Error) as refused:
        asyncio.run(ratings.save(history, "b1", state, reasons, note, gr.Request()))
    assert refused.value.message == sentence
    assert [(r.verdict, r.reasons, r.note) for r in stored(ratings)] == [(-1, (), "")]


def test_saving_for_an_answer_no_longer_in_the_chat_or_not_rated_is_refused(ratings, history):
    state, *_ = like(ratings, history, 1, False)
    with pytest.raises(gr.Error, match="no longer in the chat"):
        asyncio.run(ratings.save(history[3:], "b1", state, [], "", gr.Request()))
    with pytest.raises(gr.Error, match="Rate the answer first"):
        asyncio.run(ratings.save(history, "b1", {**state, "verdict": 5}, [], "", gr.Request()))


def test_without_a_store_the_thumb_still_shows_and_the_panel_says_it_was_not_kept(tmp_path, history):
    settings = Settings.from_env({"OPENAI_API_KEY": TEST_KEY, "GLM_MODELS": "glm-4.5v",
                                  "DATABASE_URL": "mysql://nowhere/db"})
    no_store = Ratings(settings)
    assert shared_store(settings) is None
    *_, said = like(no_store, history, 1, False)
    assert said.startswith("Your 👎 shows here but could not be kept")
    with pytest.raises(gr.Error, match="Test sets cannot be kept"):
        asyncio.run(no_store.add(history, "b1", _state(history), "Cups", False, gr.Request()))


def _state(history):
    turn = turn_at(history, 1)
    assert turn is not None
    return {"key": turn.key, "verdict": 0}


def test_add_to_a_test_set_makes_a_row_per_image_once(ratings, history):
    store = ratings.store
    assert store is not None
    state = _state(history)
    _, said = asyncio.run(ratings.add(history, "b1", state, " Cups ", True, gr.Request()))
    assert said.startswith("Added 1 row to the test set “Cups” (now 1 row)")
    (saved,) = store.test_sets("browser:b1")
    (row,) = store.test_set_items(saved.id)
    assert (row.name, row.question, row.expected) == ("cups.png", "How many cups?", "Three cups.")
    assert store.image(row.image) is not None and store.thumbnail(row.image)
    _, said = asyncio.run(ratings.add(history, "b1", state, "Cups", True, gr.Request()))
    assert said == "This turn is already in the test set “Cups” (1 row)."
    assert store.test_sets("browser:b2") == []  # another browser does not see it
    with pytest.raises(gr.Error, match="This turn has no image"):
        asyncio.run(ratings.add(history, "b1", {"key": last_turn(history).key}, "Cups", False,  # type: ignore[union-attr]
                                gr.Request()))
    with pytest.raises(gr.Error, match="1 to 100 characters"):
        asyncio.run(ratings.add(history, "b1", state, "n" * 101, False, gr.Request()))
    assert [s.size for s in store.test_sets("browser:b1")] == [1]


def test_a_retried_turn_is_rated_as_its_newest_answer(history):
    first = history[:3]
    again = [*for_retry(first), *answered("", "Four cups.", [], model="GLM-4V-Plus")[1:]]
    turn = turn_at(again, 1)
    assert turn is not None
    assert (turn.record.model, turn.answer, turn.question) == ("GLM-4V-Plus", "Four cups.", "How many cups?")
    assert turn.key != turn_at(first, 1).key  # type: ignore[union-attr]


def test_the_button_under_the_input_opens_the_panel_for_the_last_turn(ratings, history):
    with pytest.raises(gr.Error) as refused:
        ratings.open_last([], "b1", gr.Request())
    assert refused.value.message.startswith("Nothing to add yet")
    state, box, heading, why, names, expected, *_ = ratings.open_last(history, "b1", gr.Request())
    assert box.constructor_args["visible"] is True and expected.constructor_args["value"] is False
    assert state == {"key": last_turn(history).key, "verdict": 0}  # type: ignore[union-attr]
    assert heading == "The answer of **glm-4.5v** to “And plates?”"
    assert why.constructor_args["visible"] is False  # nothing rated: no reasons to give
    assert names.constructor_args["value"] == "From the chat"


def test_a_set_name_with_markup_is_said_as_text(ratings, history):
    _, said = asyncio.run(ratings.add(history, "b1", _state(history), "<img src=http://x/y.png>", False,
                                      gr.Request()))
    assert "<img" not in said and "img src=http://x/y.png" in said
    assert [s.name for s in ratings.store.test_sets("browser:b1")] == ["<img src=http://x/y.png>"]  # type: ignore[union-attr]
