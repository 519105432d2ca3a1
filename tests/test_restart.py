"""What a visitor's browser keeps survives a restart of the server (a Space restarts often)."""

from __future__ import annotations

from tests.conftest import TEST_KEY, start_app, stop_app
from tests.fake_openai import FakeOpenAI


def test_settings_survive_a_server_restart(fake: FakeOpenAI, browser, tmp_path):
    from playwright.sync_api import expect

    env = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY, "GLM_MODELS": "GLM-4V-Plus,GLM-4V"}
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    app = start_app(env, tmp_path / "first")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(app.url)
        temperature = page.get_by_label("number input for Temperature")
        expect(temperature).to_be_visible(timeout=30_000)
        stored = ("() => Object.entries(localStorage)"
                  ".find(([k]) => k.includes('glm-vision-chat-settings'))?.[1] ?? null")
        before = page.evaluate(stored)
        temperature.fill("0.3")
        temperature.press("Enter")
        page.wait_for_function(f"(before) => ({stored})() !== before", arg=before)
        url = app.url
        stop_app(app)
        app = start_app({**env, "GRADIO_SERVER_PORT": url.rstrip("/").rsplit(":", 1)[1]},
                        tmp_path / "second")
        fresh = context.new_page()  # a new tab: its settings come from the browser's storage
        fresh.goto(url)  # the same address: the browser keeps its storage per origin
        expect(fresh.get_by_label("number input for Temperature")).to_have_value("0.3", timeout=30_000)
    finally:
        context.close()
        stop_app(app)
