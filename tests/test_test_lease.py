"""The Test page on a run that another process is asking (a `batch` command beside the app, or
another replica on the same database): Resume asks nothing here, the page says so in one
sentence and shows the run's progress from the store; `batch --resume` of such a run exits 2."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta

import gradio as gr

from tests.conftest import TEST_KEY, make_image
from tests.fake_openai import FakeOpenAI, Reply
from tests.test_batch import command, env_for, photos
from ui.answer import Answerer
from ui.choices import Choices
from ui.i18n import say
from ui.page.testgrid import View
from ui.page.testrun import TestPage
from ui.records import AnswerRecord
from ui.settings import Settings
from ui.store import open_store
from ui.testing.cells import Item, Variant
from ui.testing.lease import Lease
from ui.testing.manager import Runs, image_files

T0 = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
SENTENCE = say("en", "test_held_elsewhere")


def test_resume_on_a_run_a_batch_is_asking_asks_nothing_says_so_and_shows_its_progress(fake, tmp_path):
    settings = Settings.from_env({"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": fake.base_url,
                                  "GLM_MODELS": "glm-4.5v", "GLM_DATA_DIR": str(tmp_path)})
    store, batch = open_store(tmp_path), open_store(tmp_path)  # the app's and the batch's
    now = [T0]
    runs = Runs(Answerer(settings, tmp_path / "uploads"), store, image_files(store, tmp_path / "img"),
                holder="app-host:7:aa", clock=lambda: now[0])
    page = TestPage(settings, store, runs, tmp_path)
    try:
        items = []
        for i in range(3):
            data = make_image(tmp_path / f"cup{i}.png", (30 + i, 20), (40 * i, 90, 160)).read_bytes()
            items.append(Item(store.put_image(data, f"cup{i}.png", b""), f"cup{i}.png", "What is it?"))
        run = batch.create_run("batch run", "cli", items, [Variant(Choices(model="glm-4.5v"))])
        held = Lease(batch, run.id, "batch-host:42:bb", clock=lambda: now[0])
        assert held.claim()
        state, request = View(run.id), gr.Request()

        timer = asyncio.run(page.resume(state, "b1", request))
        assert timer.active  # the page watches the run ...
        assert asyncio.run(page.retry_failed(state, "b1", request)).active
        assert fake.requests == [] and not runs.running(run.id)  # ... and asks none of its cells

        active, _, progress, *_ = page.tick(state, "b1", request)
        assert active.active and SENTENCE in progress and "0 answered · 0 failed · 3 to go" in progress
        first = batch.todo(run.id)[0]  # the batch answers a cell: the page shows it at the next tick
        batch.save_answer(first.id, "a cup", "", AnswerRecord("glm-4.5v", Choices(model="glm-4.5v")))
        _, _, progress, *_ = page.tick(state, "b1", request)
        assert SENTENCE in progress and "1 answered · 0 failed · 2 to go" in progress

        now[0] += timedelta(seconds=61)  # the batch was killed: its lease ran out
        active, _, progress, *_ = page.tick(state, "b1", request)
        assert not active.active and SENTENCE not in progress and "press Resume" in progress
        assert fake.requests == []
    finally:
        store.close()
        batch.close()


def test_batch_resume_of_a_run_another_batch_is_asking_exits_2_and_no_cell_is_asked_twice(tmp_path):
    folder = photos(tmp_path / "set", 10)
    data = tmp_path / "data"
    argv = [*command(), "batch", str(folder), "--question", "What is it?", "--model", "glm-4.5v"]
    with FakeOpenAI(default=Reply(tokens=30, tps=60)) as fake:  # each answer takes ~0.5 s
        first = subprocess.Popen([*argv, "--out", str(tmp_path / "first.csv")], env=env_for(fake, data),
                                 cwd=tmp_path, text=True, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
        assert first.stderr is not None
        for line in first.stderr:  # progress lines, one per tenth of the run
            if "1/10" in line or "2/10" in line:
                break
        try:
            second = subprocess.run([*argv, "--resume", "--out", str(tmp_path / "second.csv")],
                                    env=env_for(fake, data), cwd=tmp_path, capture_output=True,
                                    text=True, timeout=120)
        finally:
            rest = first.communicate(timeout=120)[1]
        assert second.returncode == 2, second.stderr
        last = second.stderr.strip().splitlines()[-1]
        assert last.startswith("glm-vision-chat batch: Run ") and "another process" in last
        assert "Traceback" not in second.stderr and not (tmp_path / "second.csv").exists()
        assert first.returncode == 0, rest
        assert len(fake.requests) == 10  # each cell asked once, by the first batch only
    store = open_store(data)
    try:
        [info] = store.runs()
        assert (info.status, info.done) == ("done", 10)
    finally:
        store.close()
