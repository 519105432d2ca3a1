"""Export and import of conversations, and "Copy as code" run against the local fake endpoint."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_KEY, make_image
from ui import importing
from ui.conversation import THINKING_TITLE
from ui.export import to_json, to_markdown
from ui.export_format import ExportError
from ui.importing import from_file, from_json
from ui.messages import build_messages
from ui.profiles import profile_for

GLM45 = profile_for("glm-4.5v")
QUESTION_1 = "What is in this picture?"
QUESTION_2 = '这两张图有什么不同？ It\'s "quoted" $HOME `date` \\n'
SETTINGS = {"model": "glm-4.5v", "temperature": 0.7, "max_tokens": 1024, "top_p": 0.6,
            "system_prompt": "Be brief.", "api_key": TEST_KEY, "hf_token": "hf_abc",
            "extra": {"client_secret": "s3cr3t", "keep": 1}, "note": TEST_KEY}


def conversation(tmp_path: Path) -> list[dict[str, Any]]:
    """Two user turns with images (both Gradio shapes), an answer, a thinking block and a notice."""
    red = make_image(tmp_path / "red.png", color=(255, 0, 0))
    blue = make_image(tmp_path / "blue photo.jpg", size=(80, 60), color=(0, 0, 255))
    green = make_image(tmp_path / "green.webp", size=(20, 10), color=(0, 255, 0))
    return [
        {"role": "user", "content": [{"path": str(red)}, QUESTION_1]},
        {"role": "assistant", "content": "The user asks about a red square.",
         "metadata": {"title": THINKING_TITLE, "status": "done", "duration": 1.5}},
        {"role": "assistant", "content": "A **red** square.", "metadata": None},
        {"role": "user", "metadata": None, "options": None, "content": [
            {"type": "file", "file": {"path": str(blue), "url": None, "mime_type": "image/jpeg"}},
            {"type": "file", "file": {"path": str(green), "url": None, "mime_type": "image/webp"}},
            {"type": "text", "text": QUESTION_2}]},
        {"role": "assistant", "content": [{"type": "text", "text": "One is blue, one green."}]},
        {"role": "assistant", "content": "finish_reason=length",
         "metadata": {"title": "⚠️ The answer was cut off", "status": "pending"}},
    ]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def document(*messages: dict[str, Any], **header: Any) -> str:
    return json.dumps({"format": "glm-vision-chat", "version": 1, "settings": {},
                       "messages": list(messages), **header})


def image_part(name: str, data: bytes, mime: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "name": name, "mime_type": mime,
            "data_url": f"data:{mime};base64,{base64.b64encode(data).decode()}"}


# --- JSON round trip ----------------------------------------------------------------------------


def test_round_trip_keeps_texts_images_metadata_and_settings(tmp_path):
    history = conversation(tmp_path)
    originals = [history[0]["content"][0]["path"], *(p["file"]["path"] for p in history[3]["content"][:2])]
    text = to_json(history, SETTINGS)
    upload = tmp_path / "elsewhere" / "uploads"

    imported, settings = from_json(text, upload)

    assert [m["role"] for m in imported] == [m["role"] for m in history]
    paths = [imported[0]["content"][0]["path"], *(p["path"] for p in imported[3]["content"][:2])]
    assert [Path(p).read_bytes() for p in paths] == [Path(p).read_bytes() for p in originals]
    assert [Path(p).name for p in paths] == ["red.png", "blue photo.jpg", "green.webp"]
    assert all(Path(p).resolve().is_relative_to(upload.resolve()) for p in paths)
    assert imported[0]["content"][1] == QUESTION_1 and imported[3]["content"][2] == QUESTION_2
    assert imported[2] == {"role": "assistant", "content": "A **red** square."}
    assert imported[4]["content"] == "One is blue, one green."
    assert imported[1]["metadata"] == {"title": THINKING_TITLE, "status": "done", "duration": 1.5}
    assert imported[5]["metadata"]["status"] == "done"  # nothing spins forever after import
    assert settings == {"model": "glm-4.5v", "temperature": 0.7, "max_tokens": 1024, "top_p": 0.6,
                        "system_prompt": "Be brief.", "extra": {"keep": 1}}


def test_import_from_a_file_or_bytes(tmp_path, monkeypatch):
    saved = tmp_path / "chat.json"
    saved.write_text(to_json(conversation(tmp_path), {"model": "glm-4.5v"}), encoding="utf-8")
    from_path, settings = from_file(saved, tmp_path / "up")
    from_bytes, _ = from_json(saved.read_bytes(), tmp_path / "up")
    assert settings == {"model": "glm-4.5v"} and len(from_path) == len(from_bytes) == 6
    monkeypatch.setattr(importing, "MAX_TEXT", 100)
    with pytest.raises(ExportError, match="too large to import"):
        from_file(saved, tmp_path / "up")


def test_export_never_contains_the_key_or_other_secrets(tmp_path):
    text = to_json(conversation(tmp_path), SETTINGS)
    for secret in (TEST_KEY, "api_key", "hf_abc", "s3cr3t", "client_secret"):
        assert secret not in text
    assert json.loads(text)["settings"]["max_tokens"] == 1024  # a count, not a token


def test_imported_conversation_continues_with_the_same_images(tmp_path):
    history = conversation(tmp_path)
    imported, _ = from_json(to_json(history, {}), tmp_path / "up")
    follow_up = {"role": "user", "content": ["And now?"]}
    before = build_messages([*history, follow_up], profile=GLM45).messages
    after = build_messages([*imported, follow_up], profile=GLM45).messages
    assert after == before


def test_export_format_is_versioned_with_data_urls(tmp_path):
    doc = json.loads(to_json(conversation(tmp_path), {}))
    assert (doc["format"], doc["version"]) == ("glm-vision-chat", 1)
    image = doc["messages"][0]["content"][0]
    assert image["name"] == "red.png" and image["mime_type"] == "image/png"
    assert image["data_url"].startswith("data:image/png;base64,iVBOR")


def test_a_vanished_upload_is_exported_as_a_note(tmp_path):
    history = conversation(tmp_path)
    os.remove(history[0]["content"][0]["path"])
    imported, _ = from_json(to_json(history, {}), tmp_path / "up")
    assert imported[0]["content"] == ["(image red.png was not included in the export)", QUESTION_1]


def test_same_names_get_unique_files(tmp_path):
    (tmp_path / "a").mkdir()
    a = make_image(tmp_path / "a" / "x.png", color=(1, 2, 3))
    b = make_image(tmp_path / "x.png", color=(9, 9, 9))
    imported, _ = from_json(to_json([{"role": "user", "content": [{"path": str(a)}, {"path": str(b)}]}],
                                    {}), tmp_path / "up")
    paths = [p["path"] for p in imported[0]["content"]]
    assert [Path(p).name for p in paths] == ["x.png", "x-2.png"]
    assert [Path(p).read_bytes() for p in paths] == [a.read_bytes(), b.read_bytes()]


def test_extension_follows_the_bytes_not_the_name(tmp_path):
    jpeg = make_image(tmp_path / "shot.png", fmt="JPEG").read_bytes()
    [message], _ = from_json(document({"role": "user", "content": [image_part("shot.png", jpeg)]}),
                             tmp_path / "up")
    assert Path(message["content"][0]["path"]).name == "shot.jpg"


# --- import refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "key", "words"), [
    ("{not json", "import_not_json", "not valid JSON"),
    (json.dumps({"format": "chatgpt", "version": 1, "messages": []}), "import_wrong_format", "by this app"),
    (json.dumps([1, 2]), "import_wrong_format", "by this app"),
    (document(version=2), "import_newer_version", "newer version"),
    (document(version="1"), "import_bad_version", "version"),
    (document({"role": "system", "content": []}), "import_bad_message", "role"),
    (document({"role": "user", "content": [{"type": "audio"}]}), "import_bad_message", "part"),
    (document({"role": "user", "content": [{"type": "image", "name": "a.png",
                                            "data_url": "https://example.com/a.png"}]}),
     "import_bad_image_data", "base64 data URL"),
])
def test_import_refuses_what_is_not_an_export(tmp_path, text, key, words):
    upload = tmp_path / "up"
    with pytest.raises(ExportError, match=words) as caught:
        from_json(text, upload)
    assert caught.value.key == key
    assert not upload.exists() or not files_under(upload)


def test_import_refuses_a_non_image_named_png(tmp_path):
    upload = tmp_path / "up"
    payload = image_part("cat.png", b"#!/bin/sh\nrm -rf /\n")
    ok = image_part("ok.png", make_image(tmp_path / "ok.png").read_bytes())
    with pytest.raises(ExportError, match="not a readable image") as caught:
        from_json(document({"role": "user", "content": [ok]},
                           {"role": "user", "content": [payload]}), upload)
    assert caught.value.key == "import_not_image"
    assert not files_under(upload)  # the good image written before it is gone too


@pytest.mark.parametrize("name", ["../../etc/x.png", "/etc/x.png", "..", "C:\\x.png", "a/b.png",
                                  "..\\..\\x.png", "x\0.png", ""])
def test_import_refuses_path_like_names(tmp_path, name):
    upload = tmp_path / "deep" / "up"
    before = files_under(tmp_path)
    data = make_image(tmp_path / "x.png").read_bytes()
    with pytest.raises(ExportError, match="unsafe name") as caught:
        from_json(document({"role": "user", "content": [image_part(name, data)]}), upload)
    assert caught.value.key == "import_bad_name"
    assert files_under(tmp_path) == before | {tmp_path / "x.png"}


def test_import_caps_size_and_message_count(tmp_path, monkeypatch):
    data = make_image(tmp_path / "x.png", size=(200, 200)).read_bytes()
    monkeypatch.setattr(importing, "MAX_BYTES", len(data) + 10)
    two = document({"role": "user", "content": [image_part("a.png", data), image_part("b.png", data)]})
    with pytest.raises(ExportError, match="too large to import") as caught:
        from_json(two, tmp_path / "up")
    assert caught.value.key == "import_too_large"
    monkeypatch.setattr(importing, "MAX_MESSAGES", 2)
    many = document(*({"role": "user", "content": [{"type": "text", "text": "hi"}]} for _ in range(3)))
    with pytest.raises(ExportError, match="3 messages"):
        from_json(many, tmp_path / "up")


def test_import_never_takes_secrets_or_endpoints_from_the_file(tmp_path):
    text = json.dumps({"format": "glm-vision-chat", "version": 1, "messages": [],
                       "settings": {"model": "glm-4.5v", "api_key": "sk-attacker-000000",
                                    "base_url": "https://evil.example/v1", "temperature": 0.2}})
    assert from_json(text, tmp_path / "up") == ([], {"model": "glm-4.5v", "temperature": 0.2})


# --- Markdown -----------------------------------------------------------------------------------


def test_markdown_has_questions_and_answers_in_order(tmp_path):
    md = to_markdown(conversation(tmp_path))
    order = ["### You", "*[image: red.png, 64×48]*", QUESTION_1, "### Assistant",
             f"> **{THINKING_TITLE} (1.5 s)**", "> The user asks about a red square.",
             "A **red** square.", "### You", "*[image: blue photo.jpg, 80×60]*", QUESTION_2,
             "### Assistant", "One is blue, one green.", "> **⚠️ The answer was cut off**"]
    at = 0
    for piece in order:  # each piece after the one before
        at = md.index(piece, at) + len(piece)
    assert md.count("### You") == 2 and md.count("### Assistant") == 2


def test_markdown_says_a_stop_notice_once(tmp_path):
    """A stopped answer keeps its partial text and one "Stopped" line, not the sentence twice."""
    from ui.conversation import Answer
    from ui.endpoint import TextDelta
    from ui.i18n import say

    answer = Answer.start([{"role": "user", "content": "Describe it."}])
    answer.apply(TextDelta("A red"))
    answer.notice(say("en", "stopped"))
    md = to_markdown(answer.history)
    assert "A red" in md
    assert md.count(say("en", "stopped")) == 1
    assert f"> **⚠️ {say('en', 'stopped')}**" in md
