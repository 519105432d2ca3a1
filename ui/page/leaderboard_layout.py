"""The Leaderboard page: models ranked from the Compare page's votes (handlers:
ui/page/leaderboard.py)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.page.browser_id import NEW_BROWSER_JS, browser_state
from ui.page.leaderboard import ALL, LeaderboardPage
from ui.page.nav import nav_links
from ui.page.testrun import shared_store, store_problem
from ui.settings import Settings
from ui.testing.board_html import CSS


def leaderboard_page(page_blocks: gr.Blocks, settings: Settings, i18n: gr.I18n) -> None:
    """Build the Leaderboard page inside `with demo.route(...) as page_blocks`."""
    with gr.Row(elem_id="leaderboard-heading-row", elem_classes="page-heading"):
        gr.Markdown(i18n("leaderboard_heading"), elem_id="leaderboard-heading")
        nav_links(i18n, "leaderboard")
    store = shared_store(settings)
    if store is None:  # the chat works on; this page says what the operator must fix
        gr.Markdown(f"⚠️ {store_problem(settings)}", elem_classes="notice", elem_id="board-no-store")
        return
    page = LeaderboardPage(store)
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "minimal"}
    # The Test page's browser id (same storage key): one browser is one owner on every page.
    browser = browser_state()
    with gr.Row(equal_height=False, elem_id="board-filters"):
        blind = gr.Checkbox(True, label=i18n("board_blind_only"), info=i18n("board_blind_info"),
                            elem_id="board-blind")
        since = gr.DateTime(include_time=False, type="string", label=i18n("board_from"),
                            elem_id="board-from")
        until = gr.DateTime(include_time=False, type="string", label=i18n("board_to"),
                            elem_id="board-to")
        test_set = gr.Dropdown([(i18n("test_all"), ALL)], value=ALL, label=i18n("board_test_set"),
                               elem_id="board-test-set")
        refresh = gr.Button(i18n("board_refresh"), size="sm", elem_id="board-refresh", scale=0)
    counted = gr.Markdown(elem_id="board-summary")
    gr.Markdown(i18n("board_ranking"), elem_id="board-ranking-heading")
    ranking = gr.HTML(css_template=CSS, js_on_load=None, elem_id="board-ranking")
    with gr.Accordion(i18n("board_matrix"), open=True, elem_id="board-matrix-box"):
        matrix = gr.HTML(css_template=CSS, js_on_load=None, elem_id="board-matrix")
    with gr.Accordion(i18n("board_reasons"), open=True, elem_id="board-reasons-box"):
        reasons = gr.HTML(css_template=CSS, js_on_load=None, elem_id="board-reasons")
    with gr.Row():
        votes_csv = gr.Button(i18n("board_download_votes_csv"), size="sm", elem_id="board-votes-csv")
        votes_jsonl = gr.Button(i18n("board_download_votes_jsonl"), size="sm",
                                elem_id="board-votes-jsonl")
        ratings_csv = gr.Button(i18n("board_download_ratings_csv"), size="sm",
                                elem_id="board-ratings-csv")
        ratings_jsonl = gr.Button(i18n("board_download_ratings_jsonl"), size="sm",
                                  elem_id="board-ratings-jsonl")
    downloads = gr.File(label=i18n("downloads"), visible=False, interactive=False,
                        elem_id="board-downloads")

    filters = [blind, since, until, test_set, browser]
    shown = [counted, ranking, matrix, reasons, test_set]
    page_blocks.load(None, browser, browser, js=NEW_BROWSER_JS, **private).then(
        page.show, filters, shown, **private)
    gr.on([refresh.click, blind.input, since.change, until.change, test_set.input], page.show,
          filters, shown, trigger_mode="always_last", **private)

    def download(kind: str, suffix: str) -> Any:
        async def fn(blind: bool, since: Any, until: Any, test_set: str, browser: str,
                     request: gr.Request) -> Any:
            return await page.download(kind, suffix, blind, since, until, test_set, browser, request)
        return fn

    votes_csv.click(download("votes", "csv"), filters, downloads, **private)
    votes_jsonl.click(download("votes", "jsonl"), filters, downloads, **private)
    ratings_csv.click(download("ratings", "csv"), filters, downloads, **private)
    ratings_jsonl.click(download("ratings", "jsonl"), filters, downloads, **private)
