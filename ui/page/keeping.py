"""The conversation kept across reloads, Clear undone, earlier conversations reopened.

The browser keeps each tab's conversation (ui/page/kept_js.py: saved when a question is sent and
when its answer ends, never per streamed update); what it sends back is checked here (ui/kept.py)
before the chat shows it.
Restoring asks no model anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ui.i18n import say
from ui.kept import KeptError, reopened
from ui.page.kept_js import (
    CLEAR_JS,
    LIST_JS,
    LOAD_JS,
    OPEN_JS,
    OPENED_JS,
    SAVE_AS_NEW_JS,
    SAVE_JS,
    UNDO_CLEAR_JS,
)
from ui.page.visitors import refuse, request_language
from ui.paths import FileRefused, Roots

PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}


@dataclass(frozen=True)
class Keeping:
    """The components of this feature: `place_undo()` under the chat, `place()` below the input."""

    undo_clear: gr.Button
    earlier: gr.Dropdown
    notice: gr.Markdown
    carrier: gr.Textbox  # what the browser sends back to be checked (emptied after)


def place_undo(i18n: gr.I18n) -> gr.Button:
    """"Conversation cleared — Undo", right under the chat, shown only after Clear."""
    return gr.Button(i18n("undo_clear"), size="sm", visible=False, elem_id="undo-clear")


def place(i18n: gr.I18n, undo_clear: gr.Button) -> Keeping:
    """Earlier conversations (shown when there are some) and a notice (when there is one)."""
    earlier = gr.Dropdown([], value=None, label=i18n("earlier_chats"),  # type: ignore[arg-type]
                          visible=False, elem_id="earlier")
    notice = gr.Markdown(elem_classes="notice", elem_id="kept-notice", visible=False)
    carrier = gr.Textbox(visible=False)
    return Keeping(undo_clear, earlier, notice, carrier)


def wire(demo: gr.Blocks, keeping: Keeping, chatbot: gr.Chatbot, stats: gr.Markdown,
         roots: Roots, *, ended: Sequence[Any], sent: Sequence[Any], imported: Any) -> None:
    """Save after `ended` events and Clear; restore on load, Undo of Clear and a chosen chat.

    `sent` are the events whose js= kept their question as it left (SEND_JS): when one fails (a
    refused question, which stays in the input box) the chat as it is replaces what was kept, as
    .then() does not run after a failure."""
    k = keeping
    saved_to = [k.notice, k.earlier, k.undo_clear]
    for event in ended:
        event.then(None, chatbot, saved_to, js=SAVE_JS, **PRIVATE)
    for event in sent:
        event.failure(None, chatbot, saved_to, js=SAVE_JS, **PRIVATE)
    imported.success(None, chatbot, saved_to, js=SAVE_AS_NEW_JS, **PRIVATE)
    chatbot.clear(None, None, saved_to, js=CLEAR_JS, **PRIVATE)

    def reopen(text: str, request: gr.Request):
        """The kept conversation, checked, for the chat (the carrier emptied: nothing kept here)."""
        if not text:
            return gr.skip(), gr.skip(), gr.skip()
        lang = request_language(request)
        try:
            history = reopened(text, roots, lang)
        except FileRefused:
            raise refuse(say(lang, "kept_refused")) from None
        except KeptError as e:
            raise refuse(say(lang, e.key)) from None
        return history, "", ""

    def reopen_chosen(_chosen: Any, text: str, request: gr.Request):
        return reopen(text, request)

    def reopen_on_load(text: str, request: gr.Request):
        """On load, not queued (no queue request for a page with nothing kept), so a refusal is
        said in the notice under the chat: a toast only comes through the queue."""
        try:
            return (*reopen(text, request), gr.skip())
        except gr.Error as e:
            return gr.skip(), gr.skip(), "", gr.Markdown(e.message, visible=True)

    shown = [chatbot, stats, k.carrier]
    demo.load(reopen_on_load, k.carrier, [*shown, k.notice], js=LOAD_JS, queue=False, **PRIVATE)
    demo.load(None, None, k.earlier, js=LIST_JS, **PRIVATE)
    # Queued, so a refusal's sentence reaches the page as a toast; made current only on success.
    k.undo_clear.click(reopen, k.carrier, shown, js=UNDO_CLEAR_JS, **PRIVATE).success(
        None, None, [k.earlier, k.undo_clear], js=OPENED_JS, **PRIVATE)
    k.earlier.input(reopen_chosen, [k.earlier, k.carrier], shown, js=OPEN_JS, preprocess=False,
                    **PRIVATE).success(None, None, [k.earlier, k.undo_clear], js=OPENED_JS, **PRIVATE)
    k.earlier.focus(None, None, k.earlier, js=LIST_JS, **PRIVATE)

