"""ui/testing/view.py: what the Test page shows, from plain data; hostile names and answers stay text."""

from __future__ import annotations

import re

from ui.choices import Choices
from ui.testing import view
from ui.testing.cells import Cell, Item, Rating, Run, Variant
from ui.testing.runner import Progress

DIGEST = "ab" * 32


def a_run(name: str = "shelf.png", answer: str = "Three.") -> tuple[Run, list[Cell]]:
    run = Run(1, "t", "me", "2026-11-27T00:00:00Z", (Item(DIGEST, name, "How many?", "3"),),
              (Variant(Choices(model="glm-4.5v")), Variant(Choices(model="GLM-4V-Plus"))))
    return run, [Cell(1, 1, 0, 0, "done", answer, rating=Rating(1)),
                 Cell(2, 1, 0, 1, "failed", error="rate_limited")]


def test_the_plan_says_requests_tokens_and_minutes_in_both_languages():
    en = view.plan("en", 30, 2, 2, 120, 45_000, 4)
    assert "30 images × 2 questions × 2 models = 120 requests" in en
    assert "≈90,000 image tokens" in en and "about 3 min at 4 at a time" in en
    assert "30 张图片 × 2 个问题 × 2 个模型 = 120 次请求" in view.plan("zh", 30, 2, 2, 120, 45_000, 4)


def test_progress_says_what_is_done_failed_and_left():
    going = view.progress_html("en", Progress(10, 4, 1, 2, 4, 75.0))
    assert "4 answered · 1 failed · 5 to go · about 1:15 left" in going
    assert 'aria-valuenow="50"' in going
    stopped = view.progress_html("en", Progress(10, 4, 1, 0, 4, None, finished=True, stopped=True))
    assert stopped.count("Stopped") == 1 and "left" not in stopped


def test_a_grid_row_shows_the_image_the_question_and_each_models_answer():
    run, cells = a_run()
    [row] = view.grid_rows("en", run, cells, "/test-thumb/")
    assert row[0].startswith(f"![shelf.png](/test-thumb/{DIGEST})")
    assert "How many?" in row[1] and "Expected" in row[1] and "3" in row[1]
    assert row[2] == "👍 Three." and row[3].startswith("⚠️ ")
    assert view.grid_headers("en", run) == ["Image", "Question", "glm-4.5v", "GLM-4V-Plus"]


def test_hostile_file_names_and_answers_stay_text_in_the_grid():
    name = "x](http://evil.example/a.png) ![y](http://evil.example/b.png) <img src=x onerror=alert(1)>.png"
    answer = '<form action="http://evil.example"><input name=p></form> ![i](http://evil.example/c.png)'
    run, cells = a_run(name, answer)
    [row] = view.grid_rows("en", run, cells, "/test-thumb/")
    text = " ".join(row)
    assert not re.search(r"!\[[^\]]*\]\(https?://", text)  # no remote image
    assert "<img" not in text and "<form" not in text and "<input" not in text
    assert row[0].count("![") == 1  # the thumbnail is the one image of the cell
