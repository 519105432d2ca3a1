"""The Test page's handlers: a test set from dropped files, a run started, watched, stopped and
resumed, its grid paged and filtered, one cell at a time rated, the summary and the downloads.
The layout is ui/page/testrun_layout.py; the logic lives in ui/testing/ (no gradio there)."""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from ui.choices import Choices
from ui.i18n import say
from ui.imaging.thumbs import estimated_tokens
from ui.page.chat import refuse, request_language
from ui.records import now_iso
from ui.sanitize import sanitize
from ui.settings import Settings
from ui.store import StoreError, open_store
from ui.store.api import CellFilter, Store
from ui.testing import testset, view
from ui.testing.cells import REASONS, Cell, Rating, Run, Variant
from ui.testing.exports import export
from ui.testing.manager import Runs, new_run
from ui.testing.stats import summarize

log = logging.getLogger("glmchat")
PAGE_ROWS = 20  # rows of the grid the page gets at a time
THUMB_ROUTE = "/test-thumb/"  # ui/page/middleware.py TestImages serves them by digest
IMAGE_ROUTE = "/test-image/"


@dataclass(frozen=True)
class View:
    """What one browser tab is looking at: a run, a filter, a page of the grid, a cell in focus."""

    run_id: int | None = None
    where: CellFilter = field(default_factory=CellFilter)
    offset: int = 0  # first cell of the page, in the filtered order
    focus: int | None = None  # index of the cell in focus within the page


@functools.cache
def _open(data_dir: Path, url: str) -> Store | StoreError:
    try:
        return open_store(data_dir, url)
    except StoreError as error:
        log.error("the store cannot be opened: %s", error)
        return error


def shared_store(settings: Settings) -> Store | None:
    """This process's store for these settings, opened on first use (None if it cannot be)."""
    store = _open(settings.data_dir, str(settings.database_url))
    return None if isinstance(store, StoreError) else store


def store_problem(settings: Settings) -> str:
    """Why the store cannot be opened ("" if it can): the operator's sentence, no password."""
    store = _open(settings.data_dir, str(settings.database_url))
    return str(store) if isinstance(store, StoreError) else ""


CLI = "cli"  # runs of `glm-vision-chat batch`: the operator's, on every viewer's Test page


def _shared(run_owner: str, viewer: str) -> bool:
    """Whether a run started by `run_owner` is `viewer`'s to see and rate: their own, the
    operator's command-line runs, and with sign-in every team member's."""
    return run_owner in (viewer, CLI) or (viewer.startswith("user:") and run_owner.startswith("user:"))


def owner_of(request: gr.Request | None, browser: str) -> str:
    """Who a run belongs to: the signed-in user, else this browser (a random id it keeps)."""
    user = getattr(request, "username", None)
    return f"user:{user}" if user else f"browser:{browser or 'anonymous'}"


class TestPage:
    def __init__(self, settings: Settings, store: Store, runs: Runs, data_dir: Path) -> None:
        self.settings, self.store, self.runs, self.data_dir = settings, store, runs, data_dir

    # --- before Run ---------------------------------------------------------------------------

    def _found(self, files: list[str] | None, questions: str) -> testset.TestSet:
        return testset.build(files or [], questions or "")

    def plan(self, files: list[str] | None, questions: str, models: list[str], quality: str,
             request: gr.Request) -> str:
        """How many requests, image tokens and minutes this set would take; what was left out."""
        lang = request_language(request)
        if not files:
            return ""
        found = self._found(files, questions)
        lines = [f"- {sanitize(s)}" for s in found.sentences(lang)]
        if found.items:
            digests = {i.image for i in found.items}
            tokens = sum(estimated_tokens(found.images[d], quality) for d in digests)
            per_image = {d: sum(i.image == d for i in found.items) for d in digests}
            cells = len(found.items) * max(len(models), 1)
            head = view.plan(lang, len(digests), max(per_image.values()), max(len(models), 1), cells,
                             sum(estimated_tokens(found.images[d], quality) * per_image[d]
                                 for d in digests) if tokens else 0, self._at_once())
            lines.insert(0, head)
        return "\n".join(lines)

    def _at_once(self) -> int:
        return min(4, self.settings.per_visitor)

    # --- Run, Stop, Resume ------------------------------------------------------------------------

    async def start(self, files: list[str] | None, questions: str, models: list[str],
                    temperature: float, max_tokens: int, quality: str, title: str, browser: str,
                    request: gr.Request) -> tuple[Any, ...]:
        lang = request_language(request)
        models = [m for m in (models or []) if m in self.settings.models]
        if not models:
            raise refuse(say(lang, "test_pick_model"))
        if len(models) > 4:
            raise refuse(say(lang, "batch_too_many_models", {"count": len(models)}))
        if not self.settings.has_key:
            raise refuse(say(lang, "no_key"))
        found = await asyncio.to_thread(self._found, files, questions)
        if not found.items:
            raise refuse(say(lang, "batch_nothing_to_ask"))
        variants = [Variant(Choices(model=m, temperature=float(temperature),
                                    max_tokens=int(max_tokens), quality=quality)) for m in models]
        owner = owner_of(request, browser)
        run = await asyncio.to_thread(new_run, self.store, found, variants, owner,
                                      title or time.strftime("%Y-%m-%d %H:%M"))
        self.runs.start(run.id)
        state = View(run.id)
        return (state, self.run_choices(owner, run.id), gr.Timer(active=True),
                *self.render(state, lang))

    def stop(self, state: View) -> None:
        if state.run_id is not None:
            self.runs.stop(state.run_id)

    def resume(self, state: View, browser: str, request: gr.Request,
               retry_failed: bool = False) -> Any:
        if state.run_id is None or not self._mine(state.run_id, browser, request):
            return gr.Timer()
        self.runs.start(state.run_id, retry_failed=retry_failed)
        return gr.Timer(active=True)

    def retry_failed(self, state: View, browser: str, request: gr.Request) -> Any:
        return self.resume(state, browser, request, retry_failed=True)

    def _mine(self, run_id: int, browser: str, request: gr.Request) -> bool:
        """Whether this viewer may see and rate the run (ratings say who, with sign-in)."""
        run = self.store.run(run_id)
        if run is None:
            return False
        return _shared(run.owner, owner_of(request, browser))

    def tick(self, state: View, browser: str, request: gr.Request) -> tuple[Any, ...]:
        """The timer while a run goes: progress, grid and summary; the timer stops with the run,
        and the list of runs then shows its final counts."""
        going = state.run_id is not None and self.runs.running(state.run_id)
        runs = gr.skip() if going else self.run_choices(owner_of(request, browser), state.run_id)
        return (gr.Timer(active=going), runs, *self.render(state, request_language(request)))

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
        return (state, gr.Timer(active=self.runs.running(state.run_id or 0)), *shown)

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
        going, _ = self.runs.progress(run.id)
        if going is None and progress:
            from ui.testing.runner import Progress

            done = self.store.count(run.id, CellFilter(status="done"))
            failed = self.store.count(run.id, CellFilter(status="failed"))
            going = Progress(run.size, done, failed, 0, 0, None,
                             finished=run.status in ("done", "stopped"), stopped=run.status == "stopped")
        columns = len(run.variants) if state.where.variant is None else 1
        grid = gr.Dataframe(value=view.grid_rows(lang, run, cells, THUMB_ROUTE),
                            headers=view.grid_headers(lang, run),
                            column_widths=["120px", "22%", *[f"{60 / columns:.0f}%"] * len(run.variants)])
        total = self._total(state)
        size = self._page_cells(state)
        label = say(lang, "test_page", {"first": state.offset + 1 if total else 0,
                                        "last": min(state.offset + size, total), "total": total})
        focused = cells[state.focus] if state.focus is not None and state.focus < len(cells) else None
        bar = view.progress_html(lang, going, run.status) if progress and going else gr.skip()
        return (bar, grid, label, self.summary(run, lang) if summary else gr.skip(),
                *self._focus(run, focused, lang))

    def summary(self, run: Run, lang: str) -> str:
        return view.summary(lang, summarize(run, self.store.each_cell(run.id)))

    # --- one cell in focus, rated -----------------------------------------------------------

    def select(self, state: View, evt: gr.SelectData, request: gr.Request) -> tuple[Any, ...]:
        run, cells = self._cells(state)
        row_index, column = (evt.index if isinstance(evt.index, list | tuple) else (evt.index, 0))
        rows = list(dict.fromkeys(c.row for c in cells))
        focus = None
        if run is not None and 0 <= row_index < len(rows):
            variant = max(int(column) - 2, 0)
            matches = [i for i, c in enumerate(cells) if c.row == rows[row_index]]
            focus = next((i for i in matches if cells[i].variant == variant), matches[0])
        state = replace(state, focus=focus)
        return (state, *self.render(state, request_language(request), summary=False, progress=False))

    def step(self, state: View, step: int, request: gr.Request,
             summary: bool = False) -> tuple[Any, ...]:
        """Next or previous cell, across pages (summary: redrawn too, after a rating)."""
        run, cells = self._cells(state)
        if run is None or not cells:
            return (state, *self.render(state, request_language(request), summary, summary))
        focus = (state.focus if state.focus is not None else -1) + step
        if 0 <= focus < len(cells):
            state = replace(state, focus=focus)
        else:
            size = self._page_cells(state)
            total = self._total(state)
            offset = state.offset + (size if step > 0 else -size)
            if 0 <= offset < total:
                state = replace(state, offset=offset, focus=0 if step > 0 else size - 1)
        return (state, *self.render(state, request_language(request), summary, summary))

    def prev_cell(self, state: View, request: gr.Request) -> tuple[Any, ...]:
        return self.step(state, -1, request)

    def next_cell(self, state: View, request: gr.Request) -> tuple[Any, ...]:
        return self.step(state, 1, request)

    def good(self, state: View, reasons: list[str], note: str, browser: str,
             request: gr.Request) -> tuple[Any, ...]:
        return self.rate(state, 1, reasons, note, browser, request)

    def bad(self, state: View, reasons: list[str], note: str, browser: str,
            request: gr.Request) -> tuple[Any, ...]:
        return self.rate(state, -1, reasons, note, browser, request)

    def rate(self, state: View, verdict: int, reasons: list[str], note: str, browser: str,
             request: gr.Request) -> tuple[Any, ...]:
        run, cells = self._cells(state)
        lang = request_language(request)
        if run is None or state.focus is None or state.focus >= len(cells):
            raise refuse(say(lang, "test_pick_cell"))
        if not self._mine(run.id, browser, request):
            raise refuse(say(lang, "file_refused"))
        cell = cells[state.focus]
        if cell.status != "done":
            raise refuse(say(lang, "test_rate_done_only"))
        rating = Rating(verdict, tuple(r for r in reasons or [] if r in REASONS)
                        if verdict < 0 else (), (note or "")[:2000],
                        getattr(request, "username", None) or "", now_iso())
        self.store.rate(cell.id, rating)
        return self.step(state, 1, request, summary=True)  # on to the next cell, as a rater expects

    def _focus(self, run: Run | None, cell: Cell | None, lang: str) -> tuple[Any, ...]:
        """The cell in focus: its image, its question and answer, its figures, its rating."""
        if run is None or cell is None:
            return ("", say(lang, "test_pick_cell"), "", [], "")
        item, variant = run.items[cell.row], run.variants[cell.variant]
        image = (f'<img class="test-focus-image" src="{IMAGE_ROUTE}{item.image}" '
                 f'alt="{html.escape(item.name)}">')
        parts = [f"**{sanitize(variant.name)}** · {sanitize(item.name)}",
                 f"> {sanitize(item.question)}"]
        if item.expected:
            parts.append(say(lang, "test_expected", {"text": sanitize(item.expected)}))
        if cell.status == "failed":
            parts.append("⚠️ " + sanitize(say(lang, cell.error, cell.error_params)))
        elif cell.status == "pending":
            parts.append("⏳")
        else:
            if cell.thinking:
                parts.append(f"<details><summary>{say(lang, 'test_thinking')}</summary>\n\n"
                             f"{sanitize(cell.thinking)}\n\n</details>")
            parts.append(sanitize(cell.answer))
        rating = cell.rating
        return (image, "\n\n".join(parts), view.stats_line(lang, cell.record),
                list(rating.reasons) if rating else [], rating.note if rating else "")

    # --- downloads --------------------------------------------------------------------------

    async def csv(self, state: View, browser: str, request: gr.Request) -> Any:
        return await self.download(state, "csv", browser, request)

    async def jsonl(self, state: View, browser: str, request: gr.Request) -> Any:
        return await self.download(state, "jsonl", browser, request)

    async def html(self, state: View, browser: str, request: gr.Request) -> Any:
        return await self.download(state, "html", browser, request)

    async def download(self, state: View, kind: str, browser: str, request: gr.Request) -> Any:
        lang = request_language(request)
        if state.run_id is None or not self._mine(state.run_id, browser, request):
            raise refuse(say(lang, "test_pick_run"))
        run = self.store.run(state.run_id)
        assert run is not None
        # Gradio's upload folder: served to this visitor, cleared with the other uploads.
        folder = Path(get_upload_folder()) / "exports" / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"{_safe(run.title)}.{kind}"

        await asyncio.to_thread(export, out, run, self.store, lang)
        return gr.File(value=str(out), visible=True)


def _safe(title: str) -> str:
    kept = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in title).strip()
    return kept[:60] or "test-run"
