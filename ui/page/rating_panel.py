"""The rating panel under the chat and the "Add to a test set" button under the input: their
components and how their events are wired (handlers: ui/page/rating.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ui.page.browser_id import NEW_BROWSER_JS, browser_state
from ui.page.edge import checked
from ui.page.rating import Ratings
from ui.paths import Roots
from ui.testing.cells import REASONS
from ui.testing.chatratings import MAX_NOTE

PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}


@dataclass(frozen=True)
class Panel:
    """The panel's components (place()) and the button under the input (button())."""

    box: gr.Column
    heading: gr.Markdown
    why: gr.Column  # reasons and note: shown for a rated answer
    reasons: gr.CheckboxGroup
    note: gr.Textbox
    save: gr.Button
    set_name: gr.Dropdown
    expected: gr.Checkbox
    add: gr.Button
    close: gr.Button
    said: gr.Markdown  # the one sentence that says what was kept
    turn: gr.State  # {"key": the answer's key, "verdict": +1, -1 or 0}
    browser: gr.BrowserState  # the same id as the Test page's: its test sets show there


def button(i18n: gr.I18n) -> gr.Button:
    """"Add to a test set" for the last turn, among the tools under the input."""
    return gr.Button(i18n("rate_open"), size="sm", scale=0, min_width=0, elem_classes="tool",
                     elem_id="rate-open")


def place(i18n: gr.I18n) -> Panel:
    """The panel, hidden until an answer is rated or "Add to a test set" is pressed."""
    with gr.Column(visible=False, elem_id="rate-panel", variant="panel") as box:
        with gr.Row(equal_height=True):
            heading = gr.Markdown(elem_id="rate-heading")
            close = gr.Button(i18n("rate_close"), size="sm", scale=0, min_width=0, elem_id="rate-close")
        with gr.Column(visible=False, elem_id="rate-why") as why:
            reasons = gr.CheckboxGroup([(i18n(f"reason_{r}"), r) for r in REASONS],
                                       label=i18n("rate_reasons"), elem_id="rate-reasons")
            with gr.Row(equal_height=False):
                note = gr.Textbox(label=i18n("rate_note"), lines=1, max_length=MAX_NOTE,
                                  elem_id="rate-note", scale=3)
                save = gr.Button(i18n("rate_save"), size="sm", scale=1, elem_id="rate-save")
        with gr.Row(equal_height=False):
            set_name = gr.Dropdown([], label=i18n("rate_set"), allow_custom_value=True, scale=2,
                                   elem_id="rate-set")
            expected = gr.Checkbox(False, label=i18n("rate_expected"), scale=2, elem_id="rate-expected")
            add = gr.Button(i18n("rate_add"), size="sm", scale=1, elem_id="rate-add")
        said = gr.Markdown(elem_id="rate-said")
    return Panel(box, heading, why, reasons, note, save, set_name, expected, add, close, said,
                 gr.State(None), browser_state())


def wire(demo: gr.Blocks, panel: Panel, opener: gr.Button, chatbot: gr.Chatbot, roots: Roots,
         ratings: Ratings) -> None:
    """The thumbs under each answer, the button under the input, and the panel's own buttons."""
    p = panel
    demo.load(None, p.browser, p.browser, js=NEW_BROWSER_JS, **PRIVATE)
    shown = [p.turn, p.box, p.heading, p.why, p.set_name, p.expected, p.reasons, p.note, p.said]
    rated = [chatbot, p.browser, p.turn, p.reasons, p.note]
    chatbot.like(checked(ratings.like, [chatbot], roots), rated, shown, preprocess=False, **PRIVATE)
    opener.click(checked(ratings.open_last, [chatbot], roots), [chatbot, p.browser], shown,
                 preprocess=False, **PRIVATE)
    p.save.click(checked(ratings.save, [chatbot], roots), rated, p.said, preprocess=False, **PRIVATE)
    p.add.click(checked(ratings.add, [chatbot], roots), [chatbot, p.browser, p.turn, p.set_name, p.expected],
                [p.set_name, p.said], preprocess=False, **PRIVATE)
    p.close.click(lambda: gr.Column(visible=False), None, p.box, queue=False, **PRIVATE)
    # Clear and Undo take the rated answer away: the panel goes with it.
    for gone in (chatbot.clear, chatbot.undo):
        gone(lambda: gr.Column(visible=False), None, p.box, queue=False, **PRIVATE)
