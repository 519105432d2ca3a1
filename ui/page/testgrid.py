"""The Test page's results: which runs a viewer may open, the grid paged and filtered, the
progress and the summary (handlers; the layout is ui/page/testrun_layout.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

import gradio as gr

from ui.i18n import say
from ui.page.browser_id import owner_of
from ui.page.visitors import request_language
from ui.settings import Settings
from ui.store.api import CellFilter, Store
from ui.testing import view
from ui.testing.board import sees
from ui.testing.cells import REASONS, Cell, Run
from ui.testing.manager import Runs
from ui.testing.runner import Progress
from ui.testing.stats import summarize

PAGE_ROWS = 20  # rows of the grid the page gets at a time
THUMB_ROUTE = "/test-thumb/"  # ui/page/middleware.py TestImages serves them by digest
IMAGE_ROUTE = "/test-image/"
SUMMARIES_KEPT = 32  # runs × languages whose summary is kept until a cell of the run changes


@dataclass(frozen=True)
class View:
    """What one browser tab is looking at: a run, a filter, a page of the grid, a cell in focus."""

    run_id: int | None = None
    where: CellFilter = field(default_factory=CellFilter)
    offset: int = 0  # first cell of the page, in the filtered order
    focus: int | None = None  # index of the cell in focus within the page


CLI = "cli"  # runs of `glm-vision-chat batch`: the operator's, on every viewer's Test page


def _shared(run_owner: str, viewer: str) -> bool:
    """Whether a run started by `run_owner` is `viewer`'s to see and rate: their own, the
    operator's command-line runs, and with sign-in every team member's."""
    return sees(run_owner, viewer)  # the Leaderboard's votes and ratings follow the same rule


class Results:
    """What a viewer sees of the runs they may open."""

    def __init__(self, settings: Settings, store: Store, runs: Runs) -> None:
        self.settings, self.store, self.runs = settings, store, runs
        # (run, language) → (Store.changes when it was made, the summary)
        self._summaries: dict[tuple[int, str], tuple[tuple[Any, ...], str]] = {}
        self._summaries_lock = threading.Lock()

    def _mine(self, run_id: int, browser: str, request: gr.Request) -> bool:
        """Whether this viewer may see and rate the run (ratings say who, with sign-in)."""
        run = self.store.run(run_id)
        if run is None:
            return False
        return _shared(run.owner, owner_of(request, browser))

    # --- the grid -------------------------------------------------------------------------------

    def run_choices(self, owner: str, selected: int | None = None) -> Any:
        """The runs this viewer may open: a signed-in team's all (each with who started it),
        else this browser's own."""
        team = owner.startswith("user:")
        if team:
            infos = [i for i in self.store.runs(None) if _shared(i.owner, owner)]
        else:
            infos = sorted(self.store.runs(owner) + self.store.runs(CLI), key=lambda i: -i.id)
        by = (lambda i: f" · {i.owner.removeprefix('user:')}") if team else (lambda i: "")
        choices = [(f"{i.title} · {i.done + i.failed}/{i.size}{by(i)}", i.id) for i in infos]
        return gr.Dropdown(choices=choices) if selected is None else \
            gr.Dropdown(choices=choices, value=selected)

    def variant_choices(self, state: View, request: gr.Request) -> Any:
        """The model filter's choices: every variant of the run in view."""
        run = self.store.run(state.run_id) if state.run_id is not None else None
        everything = (say(request_language(request), "test_all_models"), "all")
        variants = [(v.name, str(i)) for i, v in enumerate(run.variants)] if run else []
        choices = [everything, *variants]
        return gr.Dropdown(choices=choices, value="all")

    def my_runs(self, browser: str, request: gr.Request) -> Any:
        return self.run_choices(owner_of(request, browser))

    def open_run(self, run_id: int | None, browser: str, request: gr.Request) -> tuple[Any, ...]:
        lang = request_language(request)
        if run_id is None or not self._mine(int(run_id), browser, request):
            state = View()
            return (state, gr.Timer(active=False), *self.render(state, lang))
        state = View(int(run_id))
        # the grid at once; the summary reads every cell, so run_summary fills it in next
        shown = list(self.render(state, lang, summary=False))
        shown[3] = ""  # not the summary of the run shown before
        return (state, gr.Timer(active=self.watching(state.run_id)), *shown)

    def watching(self, run_id: int | None) -> bool:
        """Whether the run in view goes on: asked here, or by another live process (its progress
        then comes from the store at each tick)."""
        return run_id is not None and (self.runs.running(run_id) or self.runs.held_elsewhere(run_id))

    def run_summary(self, state: View, request: gr.Request) -> str:
        """The summary of the run in view (after open_run has shown its grid)."""
        run = self.store.run(state.run_id) if state.run_id is not None else None
        return self.summary(run, request_language(request)) if run is not None else ""

    def filter(self, state: View, variant: str, status: str, verdict: str, reason: str,
               request: gr.Request) -> tuple[Any, ...]:
        where = CellFilter(variant=int(variant) if variant not in ("", None, "all") else None,
                           status=status if status in ("pending", "done", "failed") else None,
                           verdict={"good": 1, "bad": -1, "unrated": 0}.get(verdict),
                           reason=reason if reason in REASONS else None)
        state = replace(state, where=where, offset=0, focus=None)
        return (state, *self.render(state, request_language(request), summary=False, progress=False))

    def page(self, state: View, step: int, request: gr.Request) -> tuple[Any, ...]:
        if state.run_id is None:
            return (state, *self.render(state, request_language(request)))
        size = self._page_cells(state)
        total = self._total(state)
        offset = min(max(0, state.offset + step * size), max(0, (total - 1) // size * size))
        state = replace(state, offset=offset, focus=None)
        return (state, *self.render(state, request_language(request), summary=False, progress=False))

    def prev_page(self, state: View, request: gr.Request) -> tuple[Any, ...]:
        return self.page(state, -1, request)

    def next_page(self, state: View, request: gr.Request) -> tuple[Any, ...]:
        return self.page(state, 1, request)

    def _page_cells(self, state: View) -> int:
        run = self.store.run(state.run_id) if state.run_id is not None else None
        per_row = 1 if state.where.variant is not None or run is None else len(run.variants)
        return PAGE_ROWS * per_row

    def _cells(self, state: View) -> tuple[Run | None, list[Cell]]:
        if state.run_id is None:
            return None, []
        run = self.store.run(state.run_id)
        if run is None:
            return None, []
        return run, self.store.cells(run.id, state.where, offset=state.offset,
                                     limit=self._page_cells(state))

    def _total(self, state: View) -> int:
        """Cells the grid of the run in view shows: a count only when filtered."""
        run = self.store.run(state.run_id) if state.run_id is not None else None
        if run is None:
            return 0
        return run.size if state.where == CellFilter() else self.store.count(run.id, state.where)

    def render(self, state: View, lang: str, summary: bool = True,
               progress: bool = True) -> tuple[Any, ...]:
        """progress, grid, page label, summary, focus (image, text, stats, reasons, note).
        summary / progress False: left as they are (paging, filtering and moving the focus change
        neither; the summary reads every cell of the run, the progress counts them)."""
        run, cells = self._cells(state)
        if run is None:
            return ("", gr.Dataframe(value=[], headers=["", ""]), "", "", *self._focus(None, None, lang))
        here = self.runs.running(run.id)
        # a run "running" in the store but not here: another process asks it (its lease is live),
        # or one that was killed left it so (its progress is the store's, stopped: Resume takes it)
        elsewhere = progress and not here and run.status == "running" and self.runs.held_elsewhere(run.id)
        going = self.runs.progress(run.id)[0] if here or run.status != "running" else None
        if going is None and progress:
            done = self.store.count(run.id, CellFilter(status="done"))
            failed = self.store.count(run.id, CellFilter(status="failed"))
            going = Progress(run.size, done, failed, 0, 0, None,
                             finished=not elsewhere and run.status != "ready",
                             stopped=not elsewhere and run.status in ("stopped", "running"))
        columns = len(run.variants) if state.where.variant is None else 1
        grid = gr.Dataframe(value=view.grid_rows(lang, run, cells, THUMB_ROUTE),
                            headers=view.grid_headers(lang, run),
                            column_widths=["120px", "22%", *[f"{60 / columns:.0f}%"] * len(run.variants)])
        total = self._total(state)
        size = self._page_cells(state)
        label = say(lang, "test_page", {"first": state.offset + 1 if total else 0,
                                        "last": min(state.offset + size, total), "total": total})
        focused = cells[state.focus] if state.focus is not None and state.focus < len(cells) else None
        bar = view.progress_html(lang, going, run.status, elsewhere=elsewhere) if progress and going \
            else gr.skip()
        return (bar, grid, label, self.summary(run, lang) if summary else gr.skip(),
                *self._focus(run, focused, lang))

    def _focus(self, run: Run | None, cell: Cell | None, lang: str) -> tuple[Any, ...]:
        """The answer in focus: its image, text, figures, reasons, note (ui/page/testfocus.py)."""
        raise NotImplementedError

    def summary(self, run: Run, lang: str) -> str:
        """The run's summary. It reads every cell (~80 ms for 5,000), so it is kept until a cell of
        the run changes: opening a finished run again, or another tab on it, reads only its counts
        (Store.changes). Reading all the cells also left the next page of the grid ~50 % slower
        (the caches it evicted: the bench's 3c)."""
        key, seen = (run.id, lang), self.store.changes(run.id)  # before the cells: never too new
        with self._summaries_lock:
            kept = self._summaries.get(key)
        if kept is not None and kept[0] == seen:
            return kept[1]
        text = view.summary(lang, summarize(run, self.store.each_cell(run.id)))
        with self._summaries_lock:
            self._summaries.pop(key, None)
            while len(self._summaries) >= SUMMARIES_KEPT:
                self._summaries.pop(next(iter(self._summaries)))
            self._summaries[key] = (seen, text)
        return text

    def forget_summary(self, run_id: int) -> None:
        """A rating of this process changed the run (Store.changes sees ratings by their count,
        verdicts and time to the second; a second rating in the same second may differ only in
        its reasons)."""
        with self._summaries_lock:
            for key in [k for k in self._summaries if k[0] == run_id]:
                del self._summaries[key]
