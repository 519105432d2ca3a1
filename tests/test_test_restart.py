"""The Test page across a crash: the server killed with SIGKILL mid-run and started again, the
tester (no sign-in: known by their browser) finds the run in the list and presses Resume; every
finished answer is kept and none is asked again."""

from __future__ import annotations

import hashlib
import os
import re
import signal
from collections import Counter

from tests.conftest import TEST_KEY, make_image, start_app, stop_app
from tests.fake_openai import FakeOpenAI, Reply
from ui.store import open_store


def test_a_run_killed_with_the_server_is_listed_after_a_restart_and_resumes(fake: FakeOpenAI, browser,
                                                                            tmp_path):
    from playwright.sync_api import expect

    fake.default = Reply(tokens=90, tps=30)  # 3 s an answer, 4 at once: the kill lands mid-run
    images = [make_image(tmp_path / f"cup{i}.png", (60 + i, 40), (40 * i, 90, 160)) for i in range(8)]
    data = tmp_path / "data"
    env = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY, "GLM_MODELS": "glm-4.5v",
           "GLM_DATA_DIR": str(data)}
    (tmp_path / "first").mkdir()
    app = start_app(env, tmp_path / "first")
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        page.goto(app.url + "test")
        expect(page.locator("#test-questions textarea")).to_be_visible(timeout=30_000)
        page.locator("#test-files input[type=file]").set_input_files([str(p) for p in images])
        page.locator("#test-questions textarea").fill("What is it?")
        page.locator("#test-questions textarea").blur()
        expect(page.locator("#test-plan")).to_contain_text("= 8 requests", timeout=30_000)
        page.locator("#test-run").click()
        expect(page.locator("#test-progress")).to_contain_text(re.compile(r"\b[1-7] answered"),
                                                               timeout=60_000)
        os.kill(app.process.pid, signal.SIGKILL)
        app.process.wait(timeout=30)
        store = open_store(data)
        [run] = store.runs()
        kept = {c.id: c.answer for c in store.each_cell(run.id) if c.status == "done"}
        store.close()
        assert 1 <= len(kept) < 8

        (tmp_path / "second").mkdir()  # the same address: the browser's own storage is per origin
        url = app.url
        app = start_app({**env, "GRADIO_SERVER_PORT": url.rstrip("/").rsplit(":", 1)[1]},
                        tmp_path / "second")
        page.goto(url + "test")
        expect(page.locator("#test-questions textarea")).to_be_visible(timeout=30_000)
        page.locator("#test-runs input").click()
        page.get_by_role("option").first.click()  # its run is still this browser's
        progress = page.locator("#test-progress")
        expect(progress).to_contain_text("press Resume", timeout=30_000)
        page.locator("#test-resume").click()
        expect(progress).to_contain_text("Finished", timeout=90_000)
        expect(progress).to_contain_text("8 answered · 0 failed · 0 to go")
    finally:
        page.close()
        stop_app(app)

    store = open_store(data)
    after = {c.id: c for c in store.each_cell(run.id)}
    assert len(store.runs()) == 1
    store.close()
    assert all(after[i].status == "done" and after[i].answer == a for i, a in kept.items())
    sent = Counter(hashlib.sha256(r.images()[0].encode()).hexdigest() for r in fake.requests
                   if r.path.endswith("/chat/completions"))
    assert len(sent) == 8  # every image asked; those answered before the kill were not asked again
    assert sum(n > 1 for n in sent.values()) <= 8 - len(kept)
    assert sum(sent.values()) <= 8 + (8 - len(kept))
