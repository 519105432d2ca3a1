"""How often a streaming answer updates the screen, and that nothing that arrived is held back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.fake_openai import Reply
from tests.test_chat_flow import settings_for
from ui.conversation import user_message
from ui.pace import YIELD_EVERY, Pace, paced
from ui.page.chat import Chat

HANG_GUARD = 30  # seconds; what is tested happens in well under one


@pytest.mark.parametrize(("gradio_ms", "updates"), [(1, 50), (4, 50), (12, 17), (40, 5)])
def test_updates_thin_out_as_gradio_takes_longer_over_each(gradio_ms, updates):
    """Gradio re-processes the whole conversation for every update. However long the chat (or
    busy the server), streaming one answer keeps Gradio busy ~10 % of the time at most, and the
    first update is never held back."""
    now = [0.0]
    pace, sent = Pace(clock=lambda: now[0]), []
    for _ in range(1000):  # a 2 s answer, one token every 2 ms
        now[0] += 0.002
        if pace.due():
            sent.append(now[0])
            pace.sending()
            now[0] += gradio_ms / 1000  # Gradio postprocesses, diffs and sends it
            pace.sent()
        else:
            assert pace.wait() == pytest.approx(pace.next - now[0])
    assert sent[0] == 0.002
    assert abs(len(sent) - updates * (now[0] / 2)) <= 2  # every 40 ms, or 10 × Gradio's time
    assert (len(sent) - 1) * gradio_ms / 1000 <= 0.11 * now[0]  # Gradio's share, the first aside


def test_one_slow_update_does_not_hold_back_the_next():
    now = [0.0]
    pace, gaps = Pace(clock=lambda: now[0]), []
    for took in (0.001, 0.001, 0.093, 0.001, 0.001):  # the third: a garbage collection, say
        assert pace.due()
        pace.sending()
        now[0] += took
        pace.sent()
        gaps.append(pace.next - pace.started)
        now[0] = max(now[0], pace.next)
    assert gaps == pytest.approx([YIELD_EVERY] * 5)


def test_a_held_update_goes_out_when_due_even_if_the_stream_goes_quiet():
    async def run() -> list[list[str]]:
        shown: list[list[str]] = []
        resume = asyncio.Event()

        async def words() -> AsyncIterator[str]:
            yield "one"
            yield "two"  # right after "one": held back, not due yet
            await resume.wait()  # the endpoint pauses until "two" is on screen
            yield "three"

        pace, text = Pace(), []
        async for word in paced(words(), pace):
            if word is not None:
                text.append(word)
            if pace.due():
                pace.sending()
                shown.append(list(text))
                resume.set() if "two" in text else None
                pace.sent()
        if shown[-1] != text:  # what the stream's end flushes
            shown.append(text)
        return shown

    shown = asyncio.run(asyncio.wait_for(run(), HANG_GUARD))
    assert shown[0] == ["one"]  # the first word at once
    assert ["one", "two"] in shown  # shown during the pause, not after it
    assert shown[-1] == ["one", "two", "three"]


@pytest.mark.parametrize("path", ["page", "api"])
def test_the_last_words_before_the_endpoint_pauses_are_on_screen(fake, path):
    """The endpoint sends half its answer in one burst, then nothing for ten minutes: the page
    and /ask show all of that half during the silence."""
    fake.script(Reply(text="alpha beta gamma delta epsilon zeta eta theta", fault="stall_mid",
                      stall=600))
    chat = Chat(settings_for(fake))

    def updates() -> AsyncIterator[str]:
        if path == "api":
            return chat.ask([], "why?", "glm-4.5v")

        async def texts() -> AsyncIterator[str]:
            async for history, _ in chat.respond([user_message("why?", [])], "glm-4.5v", 0.7, 512,
                                                 "", 1.0, "balanced", "all", False, "", None):
                yield str(history[-1]["content"])
        return texts()

    async def until_delta() -> int:
        stream, count = updates(), 0
        try:
            async for text in stream:
                count += 1
                if "delta" in text:  # the 4th of 8 words: the last before the pause
                    return count
        finally:
            await stream.aclose()
        return 0

    count = asyncio.run(asyncio.wait_for(until_delta(), HANG_GUARD))
    assert 0 < count <= 3  # first word, then the rest of the burst (not one update per word)


def test_after_locking_the_input_an_answer_updates_only_the_chat_and_stats(fake):
    """The first update empties and locks the input; the later ones leave it with a plain empty
    value. A property update there (even gr.skip()) makes Gradio rebuild the textbox and its
    config on every one of the ~25 updates a second (~1.5 ms each)."""
    from tests.conftest import Browser

    fake.script(Reply(tokens=200, tps=1000))
    chat = Chat(settings_for(fake))

    async def run() -> list[tuple]:
        return [update async for update in chat.submit(
            {"text": "hi", "files": []}, [], "glm-4.5v", 0.7, 512, "", 1.0, "balanced", "all", False,
            "", Browser())]

    updates = asyncio.run(run())
    first, *rest = updates
    assert first[2].interactive is False and first[2].value == {"text": "", "files": []}
    assert len(rest) >= 3 and all(update[2] is None for update in rest)
    assert "Echo: hi" in str(rest[-1][0][-1]["content"])
