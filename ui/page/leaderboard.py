"""The Leaderboard page's handlers: the board for the viewer's filters and the downloads (the
layout is ui/page/leaderboard_layout.py; the numbers, tables and files are ui/testing/board*.py,
without gradio).

Who sees what, as on the Test page: with sign-in every signed-in member sees the team's votes and
ratings; without it each browser sees only its own (its random id kept in gr.BrowserState)."""

from __future__ import annotations

import asyncio
from typing import Any

import gradio as gr

from ui.errors import StoreUnavailable
from ui.i18n import say
from ui.page.browser_id import owner_of
from ui.page.served import new_folder
from ui.page.visitors import refuse, request_language
from ui.store.api import Store
from ui.testing import board_html
from ui.testing.board import TEAM, BadDate, Board, build, period, sees
from ui.testing.board_exports import Rated, chat_ratings, export, run_ratings
from ui.testing.votes import Outcome, Vote

ALL = "all"  # the test-set filter's "every set"; a set is "set:<name>" ("set:" = none)


class Filters:
    """The page's filters as the store and the board take them."""

    def __init__(self, blind: Any, since: Any, until: Any, test_set: Any, lang: str) -> None:
        try:
            self.since, self.until = period(since, until)
        except BadDate as bad:
            raise refuse(say(lang, "board_bad_date", {"value": bad.value})) from None
        self.blind = bool(blind) if isinstance(blind, bool) else True
        chosen = test_set if isinstance(test_set, str) else ALL
        self.test_set: str | None = chosen.removeprefix("set:") if chosen.startswith("set:") else None


class LeaderboardPage:
    """What the Leaderboard page does: count the votes a viewer may see, and take them home."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _outcomes(self, viewer: str, filters: Filters) -> list[Outcome]:
        """The viewer's votes within the dates (a browser's own picked out by the database)."""
        return self.store.outcomes(since=filters.since, until=filters.until,
                                   blind_only=filters.blind,
                                   owner=None if viewer.startswith(TEAM) else viewer)

    def board(self, viewer: str, filters: Filters) -> Board:
        return build(self._outcomes(viewer, filters), viewer, filters.test_set)

    async def show(self, blind: bool, since: Any, until: Any, test_set: str, browser: str,
                   request: gr.Request) -> tuple[Any, ...]:
        """Summary line, ranking, matrix, reasons and the test sets to choose from."""
        lang = request_language(request)
        filters = Filters(blind, since, until, test_set, lang)
        viewer = owner_of(request, browser)
        try:
            board = await asyncio.to_thread(self.board, viewer, filters)
            empty = "" if board.votes else await asyncio.to_thread(self._why_empty, viewer, filters, lang)
        except StoreUnavailable:
            raise refuse(say(lang, "store_unavailable")) from None
        head = empty or board_html.summary(board, lang, filters.blind)
        return (head, board_html.ranking(board, lang), board_html.matrix(board, lang),
                board_html.reasons(board, lang), self._sets(board, test_set, lang))

    def _why_empty(self, viewer: str, filters: Filters, lang: str) -> str:
        """No votes at all yet, or none that pass the filters (and which filter to loosen)."""
        total = sum(sees(o.owner, viewer) for o in self._outcomes(viewer, Filters(False, "", "", ALL, lang)))
        if not total:
            return say(lang, "board_empty")
        sentence = say(lang, "board_none_match", {"total": total})
        return f"{sentence} {say(lang, 'board_blind_hint')}" if filters.blind else sentence

    @staticmethod
    def _sets(board: Board, chosen: str, lang: str) -> Any:
        choices = [(say(lang, "board_all_sets"), ALL),
                   *((name or say(lang, "board_no_test_set"), f"set:{name}") for name in board.test_sets)]
        if board.test_sets == ("",):  # only votes of the Compare page: nothing to choose
            choices = choices[:1]
        values = {value for _, value in choices}
        return gr.Dropdown(choices=choices, value=chosen if chosen in values else ALL)

    # --- downloads --------------------------------------------------------------------------------

    def votes(self, viewer: str, filters: Filters) -> list[Vote]:
        """The votes the board counts, whole (answers, choices, images), for the downloads."""
        votes = self.store.votes(since=filters.since, until=filters.until, blind_only=filters.blind,
                                 test_set=filters.test_set)
        return [v for v in votes if sees(v.owner, viewer) and v.model_a != v.model_b]

    def ratings(self, viewer: str) -> list[Rated]:
        """Every rated answer the viewer may see: the Test page's cells, then the Chat's 👍 / 👎."""
        return [*run_ratings(self.store, viewer), *chat_ratings(self.store, viewer)]

    async def download(self, kind: str, suffix: str, blind: bool, since: Any, until: Any,
                       test_set: str, browser: str, request: gr.Request) -> Any:
        lang = request_language(request)
        viewer = owner_of(request, browser)
        out = new_folder("exports") / f"{kind}.{suffix}"
        try:
            if kind == "votes":
                rows: list[Vote] | list[Rated] = await asyncio.to_thread(
                    self.votes, viewer, Filters(blind, since, until, test_set, lang))
            else:
                rows = await asyncio.to_thread(self.ratings, viewer)
            await asyncio.to_thread(export, out, kind, rows, lang)
        except StoreUnavailable:
            raise refuse(say(lang, "store_unavailable")) from None
        return gr.File(value=str(out), visible=True)
