"""👍 / 👎 on the Chat's answers (Gradio's own like / dislike under each answer) and "Add to a test
set": the handlers of the panel under the chat (ui/page/rating_panel.py) for the rated answer (or,
from the button under the input, the last one): the Test page's reasons, a note, and a named test
set to add the turn to.

The rating is kept the moment the thumb is pressed (clicked again: taken back); the reasons and
note when saved. Everything is read from the chat's own history, found again by the answer's key
(ui/turns.py), never from what the like event says of itself: a forged event gets one sentence.
Without a working store the thumbs still show in the page and the panel says it was not kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from typing import Any

import gradio as gr

from ui.i18n import say
from ui.imaging.thumbs import thumbnail
from ui.page.browser_id import owner_of
from ui.page.savedsets import set_named, visible_sets
from ui.page.testrun import shared_store
from ui.page.visitors import refuse, request_language
from ui.sanitize import sanitize
from ui.settings import Settings
from ui.store.api import Store
from ui.testing.cells import REASONS, Item
from ui.testing.chatratings import MAX_NOTE, MAX_SET_NAME, ChatRating
from ui.turns import Turn, find, last_turn, turn_at

log = logging.getLogger("glmchat")
THUMBS = {1: "👍", -1: "👎"}


class Ratings:
    """The panel's handlers. The store is the Test page's (None: ratings are not kept)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def store(self) -> Store | None:
        return shared_store(self.settings)

    # --- 👍 / 👎 -------------------------------------------------------------------------------

    async def like(self, history: Any, browser: str, state: Any, reasons: Any, note: Any,
                   data: gr.LikeData, request: gr.Request) -> tuple[Any, ...]:
        lang = request_language(request)
        turn = turn_at(history, data.index)
        liked = data.liked
        if turn is None or not (isinstance(liked, bool) or liked in ("", None)):
            raise refuse(say(lang, "rate_no_answer"))
        verdict = 0 if liked in ("", None) else 1 if liked is True else -1
        owner, store = owner_of(request, browser), self.store
        same = isinstance(state, dict) and state.get("key") == turn.key
        kept_reasons = tuple(r for r in (reasons or []) if r in REASONS) if same and verdict < 0 else ()
        kept_note = str(note or "")[:MAX_NOTE] if same and verdict else ""
        if verdict == 0:
            if store is not None:
                await self._write(lang, store.remove_chat_rating, owner, turn.key)
            said = say(lang, "rate_removed")
        elif store is None:
            said = say(lang, "rate_not_kept", {"verdict": THUMBS[verdict]})
        else:
            rating = await self._rating(turn, verdict, kept_reasons, kept_note, owner, request)
            await self._write(lang, store.add_chat_rating, rating)
            said = say(lang, "rate_kept" if verdict < 0 else "rate_kept_good", {"verdict": THUMBS[verdict]})
        return (*self._shown(turn, verdict, lang, browser, request),
                gr.CheckboxGroup(value=list(kept_reasons), visible=verdict < 0), gr.Textbox(value=kept_note),
                said)

    async def save(self, history: Any, browser: str, state: Any, reasons: Any, note: Any,
                   request: gr.Request) -> str:
        """Reasons and note of the rated answer kept; one sentence says so."""
        lang = request_language(request)
        if not isinstance(reasons, list) or not all(isinstance(r, str) and r in REASONS for r in reasons):
            raise refuse(say(lang, "rate_bad_reason"))
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise refuse(say(lang, "rate_note_too_long", {"limit": MAX_NOTE}))
        verdict = state.get("verdict") if isinstance(state, dict) else 0
        if verdict not in (1, -1):
            raise refuse(say(lang, "rate_first"))
        turn = find(history, str(state.get("key")))
        if turn is None:
            raise refuse(say(lang, "rate_turn_gone"))
        store = self.store
        if store is None:
            return say(lang, "rate_not_kept", {"verdict": THUMBS[verdict]})
        chosen = tuple(r for r in REASONS if r in reasons) if verdict < 0 else ()
        rating = await self._rating(turn, verdict, chosen, note.strip(), owner_of(request, browser), request)
        await self._write(lang, store.add_chat_rating, rating)
        return say(lang, "rate_saved_note" if rating.note else "rate_saved",
                   {"verdict": THUMBS[verdict], "count": len(chosen)})

    # --- Add to a test set ---------------------------------------------------------------------

    def open_last(self, history: Any, browser: str, request: gr.Request) -> tuple[Any, ...]:
        """The panel for the last answered turn, without rating it."""
        lang = request_language(request)
        turn = last_turn(history)
        if turn is None:
            raise refuse(say(lang, "set_nothing_yet"))
        return (*self._shown(turn, 0, lang, browser, request), gr.skip(), gr.skip(), "")

    async def add(self, history: Any, browser: str, state: Any, name: Any, expected: Any,
                  request: gr.Request) -> tuple[Any, str]:
        """The turn's images and question (and the answer as the expected one, if ticked) as rows
        of the named test set: one row per image."""
        lang = request_language(request)
        turn = find(history, str(state.get("key"))) if isinstance(state, dict) else None
        if turn is None:
            raise refuse(say(lang, "rate_turn_gone"))
        name = name.strip() if isinstance(name, str) else ""
        if not name or len(name) > MAX_SET_NAME:
            raise refuse(say(lang, "set_bad_name", {"limit": MAX_SET_NAME}))
        if not turn.images:
            raise refuse(say(lang, "set_no_image"))
        if not turn.question.strip():
            raise refuse(say(lang, "set_no_question"))
        store = self.store
        if store is None:
            raise refuse(say(lang, "set_not_kept"))
        answer = turn.answer if expected is True else ""
        owner, who = owner_of(request, browser), getattr(request, "username", None) or ""

        def keep() -> tuple[int, Any]:
            items = []
            for path in turn.images:
                data = _read(path, self.settings.max_upload_mb)
                if data is None:
                    raise LookupError(_name(path))
                digest = store.put_image(data, _name(path), thumbnail(data) or b"")
                items.append(Item(digest, _name(path), turn.question, answer))
            saved = set_named(store, owner, name)
            added = store.add_test_rows(saved.id, items, who)
            return added, store.test_set(saved.id)

        try:
            added, saved = await asyncio.to_thread(keep)
        except LookupError as gone:
            raise refuse(say(lang, "set_image_gone", {"name": str(gone.args[0])})) from None
        except Exception:
            log.exception("a turn could not be added to a test set")
            raise refuse(say(lang, "store_unavailable")) from None
        params = {"name": sanitize(saved.name), "count": added, "size": saved.size}
        return (gr.Dropdown(choices=self._names(store, owner), value=saved.name, allow_custom_value=True),
                say(lang, "set_added" if added else "set_already", params))

    # --- the parts ---------------------------------------------------------------------------

    def _shown(self, turn: Turn, verdict: int, lang: str, browser: str,
               request: gr.Request) -> tuple[Any, ...]:
        """State, panel, heading, reasons and note part, the set's choices, the expected-answer tick."""
        question = " ".join(turn.question.split())
        question = question if len(question) <= 80 else question[:79] + "…"
        params = {"model": sanitize(turn.record.model), "question": sanitize(question),
                  "verdict": THUMBS.get(verdict, "")}
        heading = say(lang, "rate_heading" if verdict else "rate_heading_plain", params)
        store = self.store
        names = self._names(store, owner_of(request, browser)) if store is not None else []
        default = names[0] if names else say(lang, "set_default_name")
        return ({"key": turn.key, "verdict": verdict}, gr.Column(visible=True), heading,
                gr.Column(visible=verdict != 0),
                gr.Dropdown(choices=names, value=default, allow_custom_value=True),
                gr.Checkbox(value=verdict > 0))

    def _names(self, store: Store, owner: str) -> list[str]:
        try:
            return [s.name for s in visible_sets(store, owner)]
        except Exception:
            log.exception("the test sets could not be listed")
            return []

    async def _rating(self, turn: Turn, verdict: int, reasons: tuple[str, ...], note: str,
                      owner: str, request: gr.Request) -> ChatRating:
        limit = self.settings.max_upload_mb
        images = await asyncio.to_thread(lambda: tuple((_name(p), _digest(p, limit)) for p in turn.images))
        record = turn.record
        return ChatRating(record.model, record.choices, turn.question, turn.answer, verdict, images,
                          reasons, note, owner, getattr(request, "username", None) or "", "", turn.key)

    async def _write(self, lang: str, write: Any, *args: Any) -> None:
        try:
            await asyncio.to_thread(write, *args)
        except Exception:
            log.exception("a chat rating could not be kept")
            raise refuse(say(lang, "store_unavailable")) from None


def _name(path: str) -> str:
    return os.path.basename(path) or path


def _read(path: str, limit_mb: int) -> bytes | None:
    """The file as uploaded, or None when it is gone (uploads expire) or larger than any upload."""
    try:
        if os.path.getsize(path) > limit_mb * 1024 * 1024:
            return None
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _digest(path: str, limit_mb: int) -> str:
    data = _read(path, limit_mb)
    return hashlib.sha256(data).hexdigest() if data is not None else ""
