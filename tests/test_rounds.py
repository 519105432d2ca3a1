"""A Compare round without the page: names hidden until the vote, and the votes a verdict makes."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from ui.choices import Choices
from ui.records import AnswerRecord, provenance_message, record_of
from ui.rounds import Round


def _round(models, *, blind=False, temperatures=None) -> Round:
    r = Round(models=list(models), blind=blind)
    r.choices = [Choices(m, t) for m, t in zip(models, temperatures or [0.7] * len(models), strict=True)]
    r.histories = [[{"role": "user", "content": [{"path": "/up/glm-4v.png"}, "Count them"]},
                    provenance_message(AnswerRecord(m, Choices(m), 10, 5), Choices(), "en"),
                    {"role": "assistant", "content": f"I am {m.lower()}, there are 3."}]
                   for m in models]
    return r


def test_a_blind_round_shows_labels_where_the_names_were_and_leaves_the_history_as_it_is():
    r = _round(["GLM-4V-Plus", "GLM-4V"], blind=True)
    before = copy.deepcopy(r.histories)
    shown = r.shown(0)
    text = json.dumps(shown)
    assert "glm-4v" not in text.replace("/up/glm-4v.png", "").lower()
    assert "Model A" in text and "I am Model A, there are 3." in text
    assert shown[0]["content"][0] == {"path": "/up/glm-4v.png"}  # the person's file is untouched
    assert record_of(shown[1]) is None  # the record (which names the model) stays on the server
    assert r.histories == before
    assert r.hide("GLM-4V accepts at most 5 images") == "Model B accepts at most 5 images"
    r.revealed = True
    assert r.shown(0) is r.histories[0] and "GLM-4V-Plus" in json.dumps(r.shown(0))


def test_two_panes_make_one_vote_in_pane_order():
    r = _round(["m1", "m2"], blind=True)
    for verdict, outcome in [("a", "a"), ("b", "b"), ("tie", "tie"), ("bad", "both_bad")]:
        [vote] = r.votes(verdict, question="q", images=[("x.png", "ab")], answers=["1", "2"])
        assert (vote.model_a, vote.model_b, vote.outcome, vote.blind) == ("m1", "m2", outcome, True)
        assert (vote.answer_a, vote.answer_b, vote.images) == ("1", "2", (("x.png", "ab"),))
    r.revealed = True
    assert r.votes("a", question="q", images=[], answers=["1", "2"])[0].blind is False
    with pytest.raises(ValueError):
        r.votes("c", question="q", images=[], answers=["1", "2"])


def test_with_more_panes_the_best_beats_each_other_and_ties_tie_every_pair():
    r = _round(["m1", "m2", "m3"])
    assert [v.as_triple() for v in r.votes("b", question="q", images=[], answers=["", "", ""])] == \
        [("m1", "m2", "b"), ("m2", "m3", "a")]
    assert [v.as_triple() for v in r.votes("tie", question="q", images=[], answers=["", "", ""])] == \
        [("m1", "m2", "tie"), ("m1", "m3", "tie"), ("m2", "m3", "tie")]


def test_one_model_at_two_temperatures_is_two_entries_and_the_same_choices_make_no_vote():
    r = _round(["m1", "m1"], temperatures=[0.2, 0.9])
    [vote] = r.votes("a", question="q", images=[], answers=["", ""])
    assert (vote.model_a, vote.model_b) == ("m1 @ 0.2", "m1 @ 0.9")
    same = _round(["m1", "m1"])
    assert same.votes("a", question="q", images=[], answers=["", ""]) == []


def test_a_blind_pair_is_two_different_models_or_none():
    assert Round.blind_pair(["only"]) is None
    assert Round.blind_pair(["x", "x"]) is None
    for seed in range(20):
        pair = Round.blind_pair(["a", "b", "c"], random.Random(seed))
        assert pair is not None and len(set(pair.models)) == 2 and pair.hidden


def test_one_vote_per_question():
    r = _round(["m1", "m2"])
    assert r.can_vote()
    r.voted = r.questions()
    assert not r.can_vote()


def test_the_stand_in_name_is_in_the_page_language():
    r = _round(["GLM-4V-Plus", "GLM-4V"], blind=True)
    assert "我是模型 B" not in json.dumps(r.shown(1, lang="zh"), ensure_ascii=False)
    assert "模型 B" in json.dumps(r.shown(1, lang="zh"), ensure_ascii=False)
    assert r.hide("GLM-4V 每次请求最多接受 5 张图片", "zh") == "模型 B 每次请求最多接受 5 张图片"


def compare_page(models: str) -> Any:
    """The Compare page's handlers for these GLM_MODELS (no endpoint is asked)."""
    import gradio as gr

    from ui.page.chat import Chat
    from ui.page.compare import Compare
    from ui.settings import Settings

    settings = Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k",
                                  "GLM_MODELS": models})
    return Compare(settings, Chat(settings), gr.I18n())


def test_a_blind_pair_is_drawn_from_the_models_that_take_the_attached_images():
    """glm-4v-flash takes image links only and glm-4v one image: a blind round asked with an
    uploaded photo never draws the first (its error "Model A only accepts image links…" left the
    person nothing to pick), with two photos neither; too few left is one sentence."""
    import gradio as gr

    from ui.rounds import Setup

    compare = compare_page("glm-4v-flash,glm-4v,glm-4.5v,glm-4.6v")
    blind = Setup.of("blind", 2, [], [], 512, "", "balanced", False)
    drawn = {m for _ in range(40) for m in compare.new_round(blind, "en", 0).models}
    assert drawn == {"glm-4v-flash", "glm-4v", "glm-4.5v", "glm-4.6v"}  # no image: any model
    one = {m for _ in range(40) for m in compare.new_round(blind, "en", 1).models}
    assert one == {"glm-4v", "glm-4.5v", "glm-4.6v"}
    assert set(compare.new_round(blind, "en", 2).models) == {"glm-4.5v", "glm-4.6v"}
    with pytest.raises(gr.Error, match="Fewer than two of the models in GLM_MODELS take 51 uploaded images"):
        compare.new_round(blind, "en", 51)


def test_a_blind_follow_up_its_model_cannot_take_says_to_draw_a_new_pair(tmp_path):
    """A blind round of glm-4v-flash (image links only) asked a follow-up with a photo: "pick
    another model" cannot be done in a blind round; the sentence says to start a new one, and
    names no model."""
    import asyncio

    import gradio as gr

    from tests.conftest import make_image

    compare = compare_page("glm-4v-flash,glm-4.5v")
    round_ = Round(models=["glm-4v-flash", "glm-4.5v"], blind=True)
    photo = make_image(tmp_path / "photo.png")
    controls = [*[None] * 4, *[0.7] * 4, 512, "", "balanced", False, ""]

    async def ask() -> None:
        async for _ in compare.ask({"text": "And this one?", "files": [str(photo)]}, round_, "blind", 2,
                                   None, *controls):
            pass

    with pytest.raises(gr.Error) as refused:
        asyncio.run(ask())
    said = str(refused.value)
    assert "Press 🔄 New round and ask again" in said and "Model A only accepts image links" in said
    assert "glm-4v-flash" not in said
