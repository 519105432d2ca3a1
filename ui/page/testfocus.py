"""The Test page's answer in focus: picked in the grid or moved to with n / p, rated good or bad
with reasons and a note (handlers; the layout is ui/page/testrun_layout.py)."""

from __future__ import annotations

import html
from dataclasses import replace
from typing import Any

import gradio as gr

from ui.i18n import say
from ui.markup import render_boxes
from ui.page.testgrid import IMAGE_ROUTE, Results, View
from ui.page.visitors import refuse, request_language
from ui.records import now_iso
from ui.sanitize import sanitize
from ui.testing import view
from ui.testing.cells import REASONS, Cell, Rating, Run


class Focus(Results):
    """The grid's results, and one answer of them in focus."""


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
        self.forget_summary(run.id)
        return self.step(state, 1, request, summary=True)  # on to the next cell, as a rater expects

    def _focus(self, run: Run | None, cell: Cell | None, lang: str) -> tuple[Any, ...]:
        """The cell in focus: its image, its question and answer, its figures, its rating."""
        if run is None or cell is None:
            return ("", say(lang, "test_pick_cell"), "", [], "")
        item, variant = run.items[cell.row], run.variants[cell.variant]
        answer, boxes = render_boxes(cell.answer) if "<|" in cell.answer else (cell.answer, [])
        drawn = "?boxes=" + ";".join(f"{b.x1:g},{b.y1:g},{b.x2:g},{b.y2:g}" for b in boxes) if boxes else ""
        image = (f'<img class="test-focus-image" src="{IMAGE_ROUTE}{item.image}{drawn}" '
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
            parts.append(sanitize(answer))
        rating = cell.rating
        return (image, "\n\n".join(parts), view.stats_line(lang, cell.record),
                list(rating.reasons) if rating else [], rating.note if rating else "")
