"""ui/page/sessions.py: a new Gradio session (each REST call of /ask is one) makes only the
component configs it needs, the same ones Gradio would have made; and the app uses it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

gr = pytest.importorskip("gradio")
from gradio import state_holder  # noqa: E402

from tests.conftest import AppProcess  # noqa: E402
from tests.fake_openai import FakeOpenAI  # noqa: E402
from ui.page import sessions  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The whole app's Blocks (chat, Compare, Test, Leaderboard), built in this process."""
    from ui.page.layout import build_demo
    from ui.settings import Settings

    folder = tmp_path_factory.mktemp("demo")
    before, cwd = dict(os.environ), Path.cwd()
    os.environ.update({"OPENAI_API_KEY": "sk-test-sessions", "GRADIO_TEMP_DIR": str(folder / "gradio")})
    os.chdir(folder)  # the Test page's store is made where the app starts
    try:
        yield build_demo(Settings.from_env())
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(before)


def session(demo: Any, init: Any) -> Any:
    state = state_holder.SessionState.__new__(state_holder.SessionState)
    init(state, demo)
    return state


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids of every component config made from now on."""
    made: list[int] = []
    config_for_block = gr.blocks.BlocksConfig.config_for_block

    def counted(_id: int, *args: Any, **kwargs: Any) -> dict:
        made.append(_id)
        return config_for_block(_id, *args, **kwargs)

    monkeypatch.setattr(gr.blocks.BlocksConfig, "config_for_block", staticmethod(counted))
    return made


def test_a_new_session_makes_no_component_config_until_one_is_needed(demo, monkeypatch) -> None:
    made = counting(monkeypatch)
    session(demo, sessions._gradios_init)
    assert len(made) > 100  # Gradio's own: every block of the four pages, for every new session
    made.clear()
    state = session(demo, sessions._deferred_init)
    assert made == []
    chatbot = next(b for b in demo.blocks.values() if isinstance(b, gr.Chatbot))
    state._update_value_in_config(chatbot._id, [{"role": "user", "content": "hi"}])  # an event's output
    assert made == [chatbot._id]


def test_a_deferred_session_holds_the_configs_gradio_would_after_the_same_events(demo) -> None:
    ours, gradios = session(demo, sessions._deferred_init), session(demo, sessions._gradios_init)
    chatbot = next(b for b in demo.blocks.values() if isinstance(b, gr.Chatbot))
    box = next(b for b in demo.blocks.values() if isinstance(b, gr.Textbox))
    for state in (ours, gradios):
        state._update_value_in_config(chatbot._id, [{"role": "assistant", "content": "an answer"}])
        state[box._id] = gr.Textbox(value="typed", render=False)  # a component replaced by an update
    assert list(ours.components) == list(gradios.components)  # what a deep link saves, in order
    assert len(ours.config_values) == len(gradios.config_values)
    assert sorted(vars(ours)) == sorted(vars(gradios))


def test_it_is_applied_only_to_the_gradio_it_was_written_for(monkeypatch) -> None:
    monkeypatch.setattr(state_holder.SessionState, "__init__", sessions._gradios_init)
    # Fails after a Gradio upgrade that changes SessionState.__init__: read the new one, check that
    # _deferred_init still makes what it makes, then update _GRADIOS_INIT.
    assert sessions.defer_session_configs(), "gradio's SessionState changed: see ui/page/sessions.py"
    assert state_holder.SessionState.__init__ is sessions._deferred_init
    monkeypatch.setattr(sessions, "_GRADIOS_INIT", "another gradio")
    monkeypatch.setattr(state_holder.SessionState, "__init__", sessions._gradios_init)
    assert not sessions.defer_session_configs()
    assert state_holder.SessionState.__init__ is sessions._gradios_init


def test_the_page_and_ask_answer_with_deferred_sessions(app: AppProcess, module_fake: FakeOpenAI,
                                                        browser) -> None:
    """The app started as a user starts it: the page and a script through REST both get their
    answer, and the log does not say the deferral was left out."""
    import httpx
    from playwright.sync_api import expect

    from tests.test_app import ask, open_chat

    page = browser.new_page()
    open_chat(page, app.url)
    ask(page, "What is in this picture?")
    expect(page.locator("#chat [data-testid=bot]").last).to_contain_text("Echo:", timeout=30_000)
    page.close()
    with httpx.Client(base_url=app.url, timeout=30) as client:
        event = client.post("gradio_api/call/ask", json={"data": [[], "And now?"]}).json()["event_id"]
        body = client.get(f"gradio_api/call/ask/{event}").text
    assert "event: complete" in body and "Echo:" in body
    assert "SessionState changed" not in app.log()


def test_a_config_being_made_in_one_thread_is_waited_for_not_missing_in_another() -> None:
    """Gradio reads a session's configs from worker threads too: a second reader of a config
    still being made gets it when it is made, not a KeyError."""
    import threading

    making, release = threading.Event(), threading.Event()

    class SlowConfigs:
        def config_for_block(self, key: int, _: Any, block: Any) -> dict[str, Any]:
            making.set()
            release.wait(10)
            return {"id": key, "block": block}

    configs = sessions.DeferredConfigs(SlowConfigs(), {7: "textbox"})
    got: dict[str, Any] = {}

    def read(name: str) -> None:
        try:
            got[name] = configs[7]
        except KeyError as e:
            got[name] = e

    first = threading.Thread(target=read, args=("first",))
    first.start()
    assert making.wait(10)
    second = threading.Thread(target=read, args=("second",))
    second.start()
    release.set()
    first.join(10)
    second.join(10)
    assert got == {"first": {"id": 7, "block": "textbox"}, "second": {"id": 7, "block": "textbox"}}
