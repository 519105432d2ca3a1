"""The Leaderboard page in headless Chromium: a scripted set of votes in the app's own store, a
team member signed in, the expected order, the matrix, the filters changing what is counted, and
the votes CSV holding what the page counted."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from tests.conftest import TEST_KEY, AppProcess, start_app, stop_app
from ui.choices import Choices
from ui.store import open_store
from ui.testing.votes import Vote

EVIL = '<img src=x id="pwned" onerror="document.title=1">'
BLIND = [  # (model A, model B, A's wins, B's wins, test set), by alice and bob in turn
    ("glm-4.5v", "GLM-4V-Plus", 8, 2, "receipts"),
    ("GLM-4V-Plus", "GLM-4V", 8, 2, ""),
    ("glm-4.5v", "GLM-4V", 9, 1, ""),
    (EVIL, "GLM-4V", 1, 9, ""),
    (EVIL, "glm-4.5v", 0, 5, ""),
]
BLIND_ORDER = ["glm-4.5v", "GLM-4V-Plus", "GLM-4V", EVIL]


def scripted_votes() -> list[Vote]:
    votes, n = [], 0

    def vote(a: str, b: str, outcome: str, owner: str, blind: bool, test_set: str = "") -> Vote:
        nonlocal n
        n += 1
        return Vote(a, b, outcome, Choices(model=a), Choices(model=b), f"Question {n}?",
                    ((f"photo{n}.jpg", f"{n:064x}"),), "answer A", "answer B", blind,
                    ("misread_text",) if outcome != "tie" else (), "", owner,
                    owner.removeprefix("user:"), f"2026-11-{1 + n % 27:02d}T10:00:00Z", test_set)

    for a, b, wins_a, wins_b, test_set in BLIND:
        for i, outcome in enumerate(["a"] * wins_a + ["b"] * wins_b):
            votes.append(vote(a, b, outcome, ("user:alice", "user:bob")[i % 2], True, test_set))
    # After the names were shown GLM-4V won everything: counted only when "blind only" is off.
    votes += [vote("GLM-4V", other, "a", "user:alice", False) for other in ("glm-4.5v", "GLM-4V-Plus")
              for _ in range(60)]
    # A browser's votes from before sign-in was turned on: not the team's, never counted here.
    votes += [vote("GLM-4V-Plus", "glm-4.5v", "a", "browser:someone", True) for _ in range(100)]
    return votes


@pytest.fixture(scope="module")
def board_app(module_fake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    """The app with sign-in (a team), its SQLite store holding the scripted votes."""
    data = tmp_path_factory.mktemp("board-data")
    store = open_store(data)
    try:
        for vote in scripted_votes():
            store.add_vote(vote)
    finally:
        store.close()
    running = start_app({"OPENAI_BASE_URL": module_fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                         "GLM_MODELS": "GLM-4V-Plus,GLM-4V,glm-4.5v", "GLM_DATA_DIR": str(data),
                         "GLM_USERS": "alice:alice-pw,bob:bob-pw"}, tmp_path_factory.mktemp("board"))
    try:
        yield running
    finally:
        stop_app(running)


def ranked(page) -> list[str]:
    return page.locator("#board-ranking-table tbody td.model").all_inner_texts()


def test_the_team_s_votes_rank_the_models_and_the_filters_and_download_follow(board_app: AppProcess,
                                                                              browser):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-US")
    page = context.new_page()
    try:
        signed_in = context.request.post(board_app.url + "login",
                                         form={"username": "bob", "password": "bob-pw"})
        assert signed_in.ok, signed_in.text()
        page.goto(board_app.url.rstrip("/") + "/leaderboard")
        summary = page.locator("#board-summary")
        expect(summary).to_contain_text("45 blind votes counted, 4 models", timeout=30_000)
        assert ranked(page) == BLIND_ORDER
        assert page.locator("#pwned").count() == 0  # a model name is text, never markup

        matrix = page.locator("#board-matrix-table")
        row = matrix.locator("tbody tr", has_text="GLM-4V-Plus").first
        expect(row).to_contain_text("20 % (10)")  # against glm-4.5v: 2 of 10
        expect(row).to_contain_text("80 % (10)")  # against GLM-4V: 8 of 10
        expect(row).to_contain_text("·")  # never met the fourth model
        expect(page.locator("#board-reasons-table")).to_contain_text("Misread text")

        page.locator("#board-blind input").uncheck()  # the votes after the names were shown too
        expect(summary).to_contain_text("165 votes counted", timeout=10_000)
        assert ranked(page)[0] == "GLM-4V"
        page.locator("#board-blind input").check()
        expect(summary).to_contain_text("45 blind votes counted", timeout=10_000)

        page.locator("#board-test-set input").click()
        page.get_by_role("option", name="receipts").click()
        expect(summary).to_contain_text("10 blind votes counted, 2 models", timeout=10_000)
        assert ranked(page) == ["glm-4.5v", "GLM-4V-Plus"]

        page.locator("#board-votes-csv").click()
        link = page.locator("#board-downloads a[href*='.csv']").first
        expect(link).to_be_visible(timeout=30_000)
        href = link.get_attribute("href") or ""
        data = context.request.get(href if href.startswith("http") else
                                   board_app.url.rstrip("/") + href).body()
        assert data.startswith(b"\xef\xbb\xbf")  # opens in Excel as UTF-8
        header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        got = [dict(zip(header, r, strict=True)) for r in rows]
        assert len(got) == 10 and {g["Test set"] for g in got} == {"receipts"}
        assert sorted(g["Better model"] for g in got) == ["GLM-4V-Plus"] * 2 + ["glm-4.5v"] * 8
        assert {g["Who"] for g in got} == {"alice", "bob"} and all(g["Images"] for g in got)
        assert TEST_KEY.encode() not in data
    finally:
        context.close()

