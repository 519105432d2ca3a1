"""The Test page's handlers: a test set from dropped files, a run started, watched, stopped and
resumed, and its results downloaded; the grid is ui/page/testgrid.py, the answer in focus and its
rating ui/page/testfocus.py, the layout ui/page/testrun_layout.py. The logic lives in ui/testing/
(no gradio there)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gradio as gr

from ui.choices import Choices
from ui.i18n import say
from ui.imaging.prepared import QUALITY
from ui.imaging.thumbs import estimated_tokens
from ui.page.browser_id import owner_of
from ui.page.served import new_folder
from ui.page.testfocus import Focus
from ui.page.testgrid import View
from ui.page.visitors import number_in, refuse, request_language
from ui.sanitize import sanitize
from ui.settings import Settings
from ui.store import StoreError, open_store
from ui.store.api import Store
from ui.testing import testset, view
from ui.testing.cells import Variant
from ui.testing.exports import export
from ui.testing.manager import Runs, new_run

log = logging.getLogger("glmchat")
PAGE_ROWS = 20  # rows of the grid the page gets at a time
THUMB_ROUTE = "/test-thumb/"  # ui/page/middleware.py TestImages serves them by digest
IMAGE_ROUTE = "/test-image/"


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


class TestPage(Focus):
    """Everything the Test page does: set up, run, watch, rate, take home."""

    __test__ = False  # a page, not a pytest test class

    def __init__(self, settings: Settings, store: Store, runs: Runs, data_dir: Path) -> None:
        super().__init__(settings, store, runs)
        self.data_dir = data_dir

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
            asked = Counter(item.image for item in found.items)  # image → its questions
            try:
                tokens = sum(estimated_tokens(found.images[d], quality) * n for d, n in asked.items())
            finally:
                found.images.close()
            models_n = max(len(models or []), 1)
            lines.insert(0, view.plan(lang, len(asked), max(asked.values()), models_n,
                                      len(found.items) * models_n, tokens, self._at_once()))
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
        limits = {"temperature": (temperature, 0.0, 2.0),
                  "max_tokens": (max_tokens, 1, self.settings.max_tokens_limit)}
        for name, (value, lo, hi) in limits.items():  # a forged call: NaN, text, out of range
            if not number_in(value, lo, hi):
                raise refuse(say(lang, "api_bad_number", {"name": name, "lo": lo, "hi": hi}))
        if quality not in QUALITY or not isinstance(title or "", str) or not isinstance(questions or "", str):
            raise refuse(say(lang, "batch_nothing_to_ask"))
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

    async def resume(self, state: View, browser: str, request: gr.Request,
                     retry_failed: bool = False) -> Any:
        # async: the run is a task of the server's event loop (Runs.start), which a handler that
        # Gradio runs in a worker thread does not have ("no running event loop": Resume did nothing)
        if state.run_id is None or not self._mine(state.run_id, browser, request):
            return gr.Timer()
        # not started when another live process asks it (no cell is asked twice): the timer then
        # shows its progress from the store, with the sentence that says so (render)
        self.runs.start(state.run_id, retry_failed=retry_failed)
        return gr.Timer(active=self.watching(state.run_id))

    async def retry_failed(self, state: View, browser: str, request: gr.Request) -> Any:
        return await self.resume(state, browser, request, retry_failed=True)

    def tick(self, state: View, browser: str, request: gr.Request) -> tuple[Any, ...]:
        """The timer while a run goes: progress, grid and summary; the timer stops with the run,
        and the list of runs then shows its final counts."""
        going = self.watching(state.run_id)
        runs = gr.skip() if going else self.run_choices(owner_of(request, browser), state.run_id)
        return (gr.Timer(active=going), runs, *self.render(state, request_language(request)))

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
        out = new_folder("exports") / f"{_safe(run.title)}.{kind}"

        await asyncio.to_thread(export, out, run, self.store, lang)
        return gr.File(value=str(out), visible=True)


def _safe(title: str) -> str:
    kept = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in title).strip()
    return kept[:60] or "test-run"
