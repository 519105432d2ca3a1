"""Gradio history → OpenAI messages: images, history, system prompt, limits; input never mutated."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import decode_image, make_image
from ui.errors import InputError
from ui.messages import OMITTED_IMAGE, build_messages, split_links
from ui.profiles import profile_for

GLM45 = profile_for("glm-4.5v")  # data URLs, 50 images
PLUS = profile_for("GLM-4V-Plus")  # bare base64, 5 images


def user(text: str = "", *files: str) -> dict:
    return {"role": "user", "content": [*({"path": f} for f in files), *([text] if text else [])]}


def ui_user(text: str, *files: str) -> dict:
    """The normalised shape Gradio hands to functions from the browser."""
    content = [{"type": "file", "file": {"path": f, "url": None, "mime_type": "image/png"}}
               for f in files]
    return {"role": "user", "metadata": None, "options": None,
            "content": [*content, {"type": "text", "text": text}]}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": text}], "metadata": None}


def test_two_images_and_question_become_one_user_message(tmp_path):
    red = make_image(tmp_path / "red.png", color=(255, 0, 0))
    blue = make_image(tmp_path / "blue.jpg", color=(0, 0, 255))
    built = build_messages([ui_user("Which is red?", str(red), str(blue))], profile=GLM45)
    [message] = built.messages
    kinds = [p["type"] for p in message["content"]]
    assert kinds == ["image_url", "image_url", "text"]
    first = decode_image(message["content"][0]["image_url"]["url"]).convert("RGB")
    second = decode_image(message["content"][1]["image_url"]["url"]).convert("RGB")
    assert first.getpixel((5, 5))[0] > 200 and second.getpixel((5, 5))[2] > 200
    assert message["content"][2]["text"] == "Which is red?"
    assert built.image_count == 2 and [p for p, _ in built.images] == [str(red), str(blue)]


def test_data_url_prefix_follows_the_model_profile(tmp_path):
    img = str(make_image(tmp_path / "a.png"))
    with_prefix = build_messages([user("q", img)], profile=GLM45).messages[0]["content"][0]
    bare = build_messages([user("q", img)], profile=PLUS).messages[0]["content"][0]
    assert with_prefix["image_url"]["url"].startswith("data:image/")
    assert not bare["image_url"]["url"].startswith("data:")
    assert decode_image(bare["image_url"]["url"]).size == (64, 48)


def test_history_images_are_resent_on_follow_up(tmp_path):
    img = str(make_image(tmp_path / "a.png"))
    history = [user("What is this?", img), assistant("A red square."), ui_user("And its colour?")]
    messages = build_messages(history, profile=GLM45, system_prompt="Be brief.").messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "Be brief."
    assert messages[1]["content"][0]["type"] == "image_url"
    assert messages[2]["content"] == "A red square."
    assert messages[3]["content"] == [{"type": "text", "text": "And its colour?"}]


def test_input_history_is_never_mutated(tmp_path):
    img = str(make_image(tmp_path / "a.png"))
    history = [ui_user("first", img), assistant("answer"),
               {"role": "assistant", "content": "thought", "metadata": {"title": "💭 Thinking"}},
               ui_user("second", img)]
    before = copy.deepcopy(history)
    build_messages(history, profile=GLM45, system_prompt="s", history_images=0)
    assert history == before


def test_ui_only_messages_are_not_sent(tmp_path):
    history = [user("hi"), {"role": "assistant", "content": "secret thoughts",
                            "metadata": {"title": "💭 Thinking"}},
               assistant("hello"), {"role": "assistant", "content": "x",
                                    "metadata": {"title": "⚠️ Interrupted"}}, user("again")]
    messages = build_messages(history, profile=GLM45).messages
    assert "secret thoughts" not in str(messages) and "Interrupted" not in str(messages)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]


def test_consecutive_user_turns_are_merged_so_roles_alternate(tmp_path):
    messages = build_messages([user("one"), user("two")], profile=GLM45).messages
    assert len(messages) == 1
    assert [p["text"] for p in messages[0]["content"]] == ["one", "two"]


def test_pasted_http_link_is_sent_untouched_and_other_schemes_refused():
    link = "https://example.com/cat.jpg?size=large&x=1"
    messages = build_messages([user(f"What animal?\n{link}")], profile=PLUS).messages
    assert messages[0]["content"][0] == {"type": "image_url", "image_url": {"url": link}}
    assert messages[0]["content"][1] == {"type": "text", "text": "What animal?"}
    for bad in ("file:///etc/passwd", "javascript:alert(1)"):
        with pytest.raises(InputError) as info:
            build_messages([user(f"look\n{bad}")], profile=PLUS)
        assert info.value.key == "bad_link"


def test_plain_text_with_colons_is_not_a_link():
    assert split_links("Note: look at the left one\nratio 16:9") == (
        "Note: look at the left one\nratio 16:9", ())


def test_too_many_images_in_one_turn_names_the_limit(tmp_path):
    files = [str(make_image(tmp_path / f"{i}.png")) for i in range(6)]
    with pytest.raises(InputError) as info:
        build_messages([user("q", *files)], profile=PLUS)
    assert info.value.key == "too_many_images"
    assert info.value.params["limit"] == 5 and info.value.params["count"] == 6
    assert info.value.params["model"] == "GLM-4V-Plus"  # as chosen, not as looked up


def test_older_images_give_way_when_history_exceeds_the_limit(tmp_path):
    files = [str(make_image(tmp_path / f"{i}.png", color=(i * 40, 0, 0))) for i in range(6)]
    history = [user("first", *files[:3]), assistant("ok"), user("second", *files[3:])]
    built = build_messages(history, profile=PLUS)
    assert built.image_count == 5 and built.omitted == 1
    first_turn = built.messages[0]["content"]
    assert first_turn[0] == {"type": "text", "text": OMITTED_IMAGE}  # the oldest one


def test_history_policy_none_sends_only_the_new_images(tmp_path):
    a, b = (str(make_image(tmp_path / f"{n}.png")) for n in "ab")
    history = [user("first", a), assistant("ok"), user("second", b)]
    built = build_messages(history, profile=GLM45, history_images=0)
    assert built.image_count == 1 and built.omitted == 1


def test_link_only_model_refuses_uploaded_files(tmp_path):
    img = str(make_image(tmp_path / "a.png"))
    with pytest.raises(InputError) as info:
        build_messages([user("q", img)], profile=profile_for("glm-4v-flash"))
    assert info.value.key == "base64_not_accepted"


def test_empty_turn_is_refused():
    with pytest.raises(InputError) as info:
        build_messages([user("")], profile=GLM45)
    assert info.value.key == "empty"


def test_counts_read_as_words_in_english_and_chinese():
    """"1 image", "2 images" (not "image(s)"); Chinese has no plural to fill in."""
    from ui.i18n import say

    one = say("en", "saw_title", {"count": 1, "size": "352 KB", "tokens": "3,888"})
    two = say("en", "saw_title", {"count": 2, "size": "1 MB", "tokens": "7,776"})
    assert "saw: 1 image, 352 KB" in one and "saw: 2 images, 1 MB" in two
    assert "at most 1 image per request" in say("en", "too_many_images",
                                                  {"model": "GLM-4V", "limit": 1, "count": 2})
    assert say("en", "saw_omitted", {"count": 3}).startswith("3 images from earlier turns")
    assert "2 张图片" in say("zh", "saw_title", {"count": 2, "size": "1 MB", "tokens": "7,776"})
    assert say("en", "boxes_title", {"count": 1}).startswith("1 box from the answer")
    assert say("en", "boxes_title", {"count": 2}).startswith("2 boxes from the answer")
    assert say("zh", "boxes_title", {"count": 2}).startswith("回答中的 2 个框")
