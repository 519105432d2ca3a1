"""Every answer says which model and choices produced it, keeps saying so through Retry, and
carries it into the Markdown and JSON exports and back in through an import."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tests.test_chat_flow import settings_for
from ui.choices import Choices
from ui.conversation import EARLIER_ICON, for_retry, user_message
from ui.export import to_json, to_markdown
from ui.importing import from_json
from ui.page.chat import Chat
from ui.records import PROVENANCE_ICON, AnswerRecord, provenance_message, record_of

LOOP = asyncio.new_event_loop()  # one loop for the module: the SDK's connection pool lives in it


@pytest.fixture(autouse=True, scope="module")
def _close_loop():
    yield
    LOOP.close()


def respond(chat: Chat, history: list[dict], *, model: str = "glm-4.5v",
            temperature: float = 0.7) -> list[tuple[list[dict], str]]:
    """Every (history, stats) the page would receive for one answer (Enter's or Retry's)."""

    async def run() -> list[tuple[list[dict], str]]:
        return [([dict(m) for m in shown], stats) async for shown, stats in chat.respond(
            history, model, temperature, 512, "", 1.0, "balanced", "all", False, "", None)]

    return LOOP.run_until_complete(run())


def titles(history: list[dict]) -> list[str]:
    return [str((m.get("metadata") or {}).get("title", "")) for m in history]


def test_each_answer_names_its_model_and_the_choices_that_differ(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="First.", tokens=5), Reply(text="Second.", tokens=7))
    chat = Chat(settings_for(fake, GLM_MODELS="glm-4.5v,GLM-4V-Plus,glm-4v-flash"))
    one = respond(chat, [user_message("q1", [])], model="GLM-4V-Plus", temperature=0.7)[-1][0]
    two = respond(chat, [*one, user_message("q2", [])], model="glm-4.5v", temperature=0.2)[-1][0]

    records = [r for m in two if (r := record_of(m)) is not None]
    assert [(r.model, r.choices.temperature) for r in records] == [("GLM-4V-Plus", 0.7),
                                                                   ("glm-4.5v", 0.2)]
    assert [(r.prompt_tokens is not None, r.completion_tokens) for r in records] == [(True, 5),
                                                                                     (True, 7)]
    assert all(r.finish == "stop" and r.first_token_s is not None for r in records)
    notes = [t for t in titles(two) if t.startswith(PROVENANCE_ICON)]
    assert notes[0].startswith(f"{PROVENANCE_ICON} GLM-4V-Plus") and "temperature" not in notes[0]
    # Only what differs from the page's defaults (1024 tokens, top-p 0.6, thinking on):
    assert notes[1] == (f"{PROVENANCE_ICON} glm-4.5v · temperature 0.2 · max 512 tokens · top-p 1"
                        " · thinking off")
    # The notes are shown, never sent: the second request had one earlier answer, no note.
    sent = fake.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert PROVENANCE_ICON not in json.dumps(sent, ensure_ascii=False)


def test_retry_with_another_model_keeps_the_earlier_answer_and_its_model(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="Answer A."), Reply(text="Answer B."))
    chat = Chat(settings_for(fake, GLM_MODELS="glm-4.5v,GLM-4V-Plus"))
    first = respond(chat, [user_message("q", [])], model="GLM-4V-Plus")[-1][0]
    again = respond(chat, for_retry(first), model="glm-4.5v", temperature=0.3)[-1][0]

    earlier = [m for m in again if titles([m])[0].startswith(EARLIER_ICON)]
    assert len(earlier) == 1 and earlier[0]["content"] == "Answer A."
    assert "GLM-4V-Plus" in earlier[0]["metadata"]["title"]
    assert again[-1]["content"] == "Answer B."
    models = [r.model for m in again if (r := record_of(m)) is not None]
    assert models == ["GLM-4V-Plus", "glm-4.5v"]
    # The model answering again saw the question only, not the earlier answer.
    assert [m["role"] for m in fake.requests[-1].json["messages"]] == ["user"]


def test_a_retry_after_an_error_drops_the_failed_attempt(fake: FakeOpenAI) -> None:
    fake.script(Reply(status=500), Reply(text="Now it works."))
    chat = Chat(settings_for(fake))
    failed = respond(chat, [user_message("q", [])])[-1][0]
    assert any(t.startswith("⚠️") for t in titles(failed))
    again = respond(chat, for_retry(failed))[-1][0]
    assert not any(t.startswith(("⚠️", EARLIER_ICON)) for t in titles(again))
    assert [r.error for m in again if (r := record_of(m)) is not None] == [None]


def test_exports_carry_each_answers_record_and_an_import_restores_it(fake: FakeOpenAI,
                                                                      tmp_path: Path) -> None:
    fake.script(Reply(text="One.", tokens=3), Reply(text="Two.", tokens=4))
    chat = Chat(settings_for(fake))
    one = respond(chat, [user_message("q1", [])], model="GLM-4V-Plus", temperature=0.7)[-1][0]
    two = respond(chat, [*one, user_message("q2", [])], model="glm-4.5v", temperature=0.2)[-1][0]

    markdown = to_markdown(two)
    assert markdown.index("GLM-4V-Plus") < markdown.index("One.") < markdown.index("glm-4.5v")
    assert "temperature 0.2" in markdown and "+ 4 tokens" in markdown and "+ 3 tokens" in markdown

    document = json.loads(to_json(two, {"model": "glm-4.5v", "temperature": 0.2}))
    records = [m["record"] for m in document["messages"] if "record" in m]
    assert [(r["model"], r["choices"]["temperature"], r["completion_tokens"]) for r in records] == \
        [("GLM-4V-Plus", 0.7, 3), ("glm-4.5v", 0.2, 4)]

    history, _ = from_json(json.dumps(document), tmp_path)
    restored = [r for m in history if (r := record_of(m)) is not None]
    assert [(r.model, r.choices.temperature) for r in restored] == [("GLM-4V-Plus", 0.7),
                                                                    ("glm-4.5v", 0.2)]


def test_a_record_survives_its_round_trip_and_a_forged_one_is_ignored() -> None:
    record = AnswerRecord("m", Choices(model="m", temperature=0.1), 10, 20, 0.5, 2.0, "stop",
                          None, "2026-01-01T00:00:00Z")
    note = provenance_message(record, Choices(model="m"), "en")
    assert record_of(note) == record
    forged = {**note, "metadata": {**note["metadata"], "id": "answer-record:{not json"}}
    assert record_of(forged) is None
    assert record_of({"role": "assistant", "content": "x"}) is None
