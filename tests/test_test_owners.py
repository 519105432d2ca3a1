"""Who sees what on the Test page (issue 16, item 8): without sign-in each browser sees only its
own runs, with sign-in (GLM_USERS) the team sees them all, each rating saying who gave it."""

from __future__ import annotations

import gradio as gr
import pytest

from tests.conftest import TEST_KEY
from ui.answer import Answerer
from ui.choices import Choices
from ui.page.testrun import TestPage, View
from ui.settings import ConfigError, Settings
from ui.store import open_store
from ui.testing.cells import Item, Variant
from ui.testing.manager import Runs, image_files


@pytest.fixture
def page(tmp_path):
    settings = Settings.from_env({"OPENAI_API_KEY": TEST_KEY, "GLM_MODELS": "glm-4.5v",
                                  "GLM_DATA_DIR": str(tmp_path)})
    store = open_store(tmp_path)
    runs = Runs(Answerer(settings, tmp_path / "uploads"), store, image_files(store, tmp_path / "img"))
    yield TestPage(settings, store, runs, tmp_path), store
    store.close()


def a_run(store, owner: str):
    digest = store.put_image(b"\x89PNG fake", "a.png", b"")
    run = store.create_run("mine", owner, [Item(digest, "a.png", "q?")],
                           [Variant(Choices(model="glm-4.5v"))])
    [cell] = store.cells(run.id)
    store.save_answer(cell.id, "an answer", "", _record())
    return run


def _record():
    from ui.records import AnswerRecord

    return AnswerRecord("glm-4.5v", Choices(model="glm-4.5v"))


def listed(dropdown) -> list[int]:
    return [value for _, value in dropdown.constructor_args["choices"]]


def test_without_sign_in_a_browser_sees_and_rates_only_its_own_runs(page):
    test_page, store = page
    anonymous = gr.Request()
    run = a_run(store, "browser:aaaa")
    assert listed(test_page.my_runs("aaaa", anonymous)) == [run.id]
    assert listed(test_page.my_runs("bbbb", anonymous)) == []
    cli = a_run(store, "cli")  # glm-vision-chat batch: the operator's, shown to every viewer
    assert listed(test_page.my_runs("bbbb", anonymous)) == [cli.id]
    state, *_ = test_page.open_run(run.id, "bbbb", anonymous)  # a forged id from another browser
    assert state.run_id is None
    with pytest.raises(gr.Error):
        test_page.good(View(run.id, focus=0), [], "", "bbbb", anonymous)
    assert store.cells(run.id)[0].rating is None
    test_page.good(View(run.id, focus=0), [], "", "aaaa", anonymous)
    assert store.cells(run.id)[0].rating.verdict == 1


def test_with_sign_in_the_team_sees_every_run_and_each_rating_says_who(page):
    test_page, store = page
    run = a_run(store, "user:alice")
    a_run(store, "browser:someone")  # from before sign-in was turned on: not the team's
    bob = gr.Request(username="bob")
    assert listed(test_page.my_runs("", bob)) == [run.id]
    choices = test_page.my_runs("", bob).constructor_args["choices"]
    assert "alice" in choices[0][0]  # each run says who started it
    state, *_ = test_page.open_run(run.id, "", bob)
    assert state.run_id == run.id
    test_page.bad(View(run.id, focus=0), ["wrong_count"], "two, not three", "", bob)
    rating = store.cells(run.id)[0].rating
    assert (rating.verdict, rating.reasons, rating.note, rating.who) == (
        -1, ("wrong_count",), "two, not three", "bob")


def test_glm_users_is_read_as_name_password_pairs():
    settings = Settings.from_env({"GLM_USERS": "alice:s3cret, bob:pa:ss"})
    assert [(n, str(p)) for n, p in settings.users] == [("alice", "s3cret"), ("bob", "pa:ss")]
    assert "s3cret" not in repr(settings)
    with pytest.raises(ConfigError):
        Settings.from_env({"GLM_USERS": "alice"})


@pytest.mark.parametrize("temperature, max_tokens, quality", [
    (float("nan"), 512, "balanced"), (0.5, float("inf"), "balanced"), ("0.5", 512, "balanced"),
    (True, 512, "balanced"), (0.5, 10**9, "balanced"), (0.5, 512, "../../etc"),
])
def test_a_forged_start_with_bad_choices_is_refused_before_anything_is_stored(page, tmp_path,
                                                                              temperature, max_tokens,
                                                                              quality):
    import asyncio

    from tests.conftest import make_image

    test_page, store = page
    image = make_image(tmp_path / "a.png")
    with pytest.raises(gr.Error):
        asyncio.run(test_page.start([str(image)], "q?", ["glm-4.5v"], temperature, max_tokens,
                                    quality, "", "aaaa", gr.Request()))
    assert store.runs() == []
