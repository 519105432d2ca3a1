"""The Test page on a large run: opening it shows the grid without reading every cell (the summary
follows in its own event), and paging, filtering or moving the focus never reads every cell."""

from __future__ import annotations

import gradio as gr
import pytest

from tests.conftest import TEST_KEY
from ui.answer import Answerer
from ui.choices import Choices
from ui.page.testrun import TestPage, View
from ui.records import AnswerRecord
from ui.settings import Settings
from ui.store import open_store
from ui.testing.cells import Item, Variant
from ui.testing.manager import Runs, image_files

SUMMARY = 3  # index of the summary among render()'s outputs


@pytest.fixture
def page(tmp_path):
    settings = Settings.from_env({"OPENAI_API_KEY": TEST_KEY, "GLM_MODELS": "glm-4.5v",
                                  "GLM_DATA_DIR": str(tmp_path)})
    store = open_store(tmp_path)
    runs = Runs(Answerer(settings, tmp_path / "uploads"), store, image_files(store, tmp_path / "img"))
    items = [Item(f"{i // 2:064x}", f"img{i // 2}.png", f"question {i % 2}") for i in range(60)]
    run = store.create_run("sixty", "cli", items, [Variant(Choices(model="glm-4.5v"))])
    for cell in store.todo(run.id):
        store.save_answer(cell.id, f"answer {cell.row}", "", AnswerRecord("glm-4.5v",
                                                                         Choices(model="glm-4.5v")))
    reads = []
    every, count = store.each_cell, store.count
    store.each_cell = lambda run_id: reads.append(run_id) or every(run_id)  # type: ignore[method-assign]
    store.count = lambda run_id, where=None: reads.append(where) or count(run_id, where)  # type: ignore[method-assign]
    yield TestPage(settings, store, runs, tmp_path), run, reads
    store.close()


def test_opening_a_run_shows_its_grid_and_then_its_summary(page):
    test_page, run, reads = page
    request = gr.Request()
    state, _, *shown = test_page.open_run(run.id, "b", request)
    assert state.run_id == run.id and run.id not in reads  # the grid came without reading every cell
    assert "60 answered" in shown[0]  # the progress of a run no server is asking any more
    reads.clear()
    assert shown[SUMMARY] == ""  # not the summary of the run that was shown before
    assert "60" in shown[2]  # "1–20 of 60"
    summary = test_page.run_summary(state, request)
    assert reads == [run.id] and "glm-4.5v" in summary


def test_paging_filtering_and_moving_the_focus_never_read_or_count_every_cell(page):
    test_page, run, reads = page
    request = gr.Request()
    state, *_ = test_page.open_run(run.id, "b", request)
    reads.clear()
    state, *shown = test_page.next_page(state, request)
    assert state.offset == 20 and "21–40 of 60" in shown[2]
    state, *_ = test_page.next_cell(state, request)
    assert state.focus == 0
    assert reads == []  # neither read nor counted: the run's size says how many cells it has
    skip = type(gr.skip())
    assert isinstance(shown[SUMMARY], skip) and isinstance(shown[0], skip)  # they stay as they are
    state, *shown = test_page.filter(state, "all", "done", "all", "", request)
    assert reads and run.id not in reads  # a filter is counted, never read cell by cell
    assert "of 60" in shown[2]
    test_page.good(View(run.id, focus=0), [], "", "b", request)  # a rating changes the summary
    assert run.id in reads


def test_the_summary_is_read_once_until_a_cell_of_the_run_changes(page):
    test_page, run, reads = page
    request = gr.Request()
    state, *_ = test_page.open_run(run.id, "b", request)
    first = test_page.run_summary(state, request)
    reads.clear()
    for _ in range(3):  # opened again, or in another tab: its cells are not read again
        state, *_ = test_page.open_run(run.id, "b", request)
        assert test_page.run_summary(state, request) == first
    assert run.id not in reads

    rated = test_page.good(View(run.id, focus=0), [], "", "b", request)  # a rating: read again
    assert run.id in reads and rated[1 + SUMMARY] != first and "1" in rated[1 + SUMMARY]
    reads.clear()
    assert test_page.run_summary(state, request) == rated[1 + SUMMARY] and run.id not in reads

    other = open_store(test_page.data_dir)  # a cell changed by another process (a batch, a replica)
    [cell] = other.cells(run.id, limit=1)
    other.save_failure(cell.id, "timeout_first", {"seconds": "60"}, None)
    other.close()
    again = test_page.run_summary(state, request)
    assert run.id in reads and again != rated[1 + SUMMARY]
