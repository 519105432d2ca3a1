"""The chat's event handlers: one answer streamed, turns added, retried, exported, asked by API.

Every handler gets the session's conversation as an argument and returns the new one: nothing
per-user is kept here. Errors become one sentence in the visitor's language (gr.Error or a notice).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import gradio as gr

from ui.answer import HISTORY_POLICIES
from ui.choices import Choices
from ui.conversation import (
    Answer,
    up_to_last_question,
    user_message,
)
from ui.endpoint import Started
from ui.errors import ChatError
from ui.export import ExportError, from_file, to_json, to_markdown
from ui.i18n import say
from ui.imaging.uploads import prepare_uploads
from ui.page.ask_api import AskApi
from ui.page.served import new_folder, upload_folder
from ui.page.visitors import attached, number_in, refuse, request_language, session_of, visitor_of
from ui.settings import Settings
from ui.snippets import to_curl, to_python


class Chat(AskApi):
    """The page's handlers: the Answerer's loop shown in the chat, the input box, export, import,
    copy as code and /ask. All conversation state arrives with each call (per session)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, upload_folder())

    # ---- a question: shown at once, then answered ------------------------------------------

    async def submit(self, value: dict[str, Any] | None, history: list[dict[str, Any]] | None,
                     model: str, temperature: float, max_tokens: float, system_prompt: str,
                     top_p: float, quality: str, history_images: str, thinking: bool, api_key: str,
                     request: gr.Request):
        """Enter pressed: show the question and images at once, or refuse with one sentence
        (the input keeps the text and images); then stream the answer. One event, one trip."""
        lang = request_language(request)
        value = value or {}
        files = attached(value)
        text = (value.get("text") or "").strip()
        if not text and not files:
            raise refuse(say(lang, "empty"))
        self.check_sizes(files, lang)
        new_history = [*(history or []), user_message(text, files)]
        with contextlib.ExitStack() as held:
            try:
                self.check_request(text, model, system_prompt, api_key)
                held.enter_context(self.slot(visitor_of(request)))
                choices = Choices.of(model, temperature, max_tokens, system_prompt, top_p, quality,
                                     history_images, thinking)
                built = await self.prepare_messages(new_history, choices)
            except ChatError as e:
                raise refuse(self.sentence(e, lang, model)) from None
            started = self.start(built, choices, api_key)
            try:  # the request is on its way while the page shows the question
                yield new_history, "", gr.MultimodalTextbox(value=None, interactive=False,
                                                            submit_btn=False, stop_btn=True)
                async with contextlib.aclosing(self.run(new_history, built, choices, lang, started,
                                                        session_of(request))) as steps:
                    async for step in steps:
                        # The input stays empty and locked. Not gr.skip(): Gradio takes that for
                        # a property update and rebuilds the textbox and its config (~1.5 ms).
                        yield step.history, step.stats, None
            finally:
                if isinstance(started, Started):
                    await started.aclose()

    async def prewarm(self, value: dict[str, Any] | None, quality: str) -> None:
        """Prepare the attached files at a newly picked quality; errors wait until Enter is pressed."""
        await asyncio.gather(*map(asyncio.wrap_future, prepare_uploads(attached(value or {}), quality)))

    # ---- streaming the answer ----------------------------------------------------------------

    async def respond(self, history: list[dict[str, Any]], model: str, temperature: float,
                      max_tokens: float, system_prompt: str, top_p: float, quality: str,
                      history_images: str, thinking: bool, api_key: str, request: gr.Request):
        """Answer the last question of the history again (Retry)."""
        lang = request_language(request)
        with contextlib.ExitStack() as held:
            try:
                self.check_request("", model, system_prompt, api_key)
                held.enter_context(self.slot(visitor_of(request)))
                choices = Choices.of(model, temperature, max_tokens, system_prompt, top_p, quality,
                                     history_images, thinking)
                built = await self.prepare_messages(history, choices)
            except ChatError as e:
                answer = Answer.start(history)
                answer.notice(self.sentence(e, lang, model))
                yield answer.history, ""
                return
            started = self.start(built, choices, api_key)
            try:
                async with contextlib.aclosing(self.run(history, built, choices, lang, started,
                                                        session_of(request))) as steps:
                    async for step in steps:
                        yield step.history, step.stats
            finally:
                if isinstance(started, Started):
                    await started.aclose()

    def stop(self, request: gr.Request) -> None:
        """Stop pressed: end this session's answer; what arrived so far stays."""
        self.stop_session(session_of(request))

    # ---- export, import, copy as code -------------------------------------------------------

    def export_markdown(self, history: list[dict[str, Any]], request: gr.Request) -> str:
        """The conversation as Markdown, to read, as a file the page downloads."""
        return self._export(history, request, "md", lambda: to_markdown(history))

    def export_json(self, history: list[dict[str, Any]], model: str, temperature: float,
                    max_tokens: float, system_prompt: str, top_p: float, quality: str,
                    history_images: str, thinking: bool, request: gr.Request) -> str:
        """The conversation as JSON (images embedded, settings beside), to import later."""
        values = (model, temperature, max_tokens, system_prompt, top_p, quality, history_images,
                  thinking)
        return self._export(history, request, "json", lambda: to_json(
            history, dict(zip(Choices.names(), values, strict=True))))

    def _export(self, history: list[dict[str, Any]], request: gr.Request, suffix: str,
                write: Callable[[], str]) -> str:
        if not history:
            raise refuse(say(request_language(request), "nothing_to_export"))
        try:
            text = write()
        except ExportError as e:
            raise refuse(say(request_language(request), e.key, e.params)) from None
        path = new_folder("exports") / f"conversation-{time.strftime('%Y%m%d-%H%M')}.{suffix}"
        path.write_text(text, "utf-8")
        return str(path)

    def import_(self, file: Any, request: gr.Request):
        """Continue a conversation exported as JSON: its messages, images and settings."""
        path = file if isinstance(file, str) else getattr(file, "name", None) or file["path"]
        try:
            history, saved = from_file(path, upload_folder())
        except ExportError as e:
            lang = request_language(request)
            raise refuse(say(lang, e.key, e.params)) from None
        return [history, *(self.checked_setting(name, saved.get(name)) for name in Choices.names())]

    def checked_setting(self, name: str, value: Any) -> Any:
        """A setting from an imported file, if it is one the page can show; else unchanged."""
        s = self.settings
        checks = {"model": lambda v: isinstance(v, str) and (v in s.models or (
                      s.allow_any_model and 0 < len(v) < 200 and v.isprintable())),
                  "temperature": lambda v: number_in(v, 0, 2),
                  "max_tokens": lambda v: number_in(v, 1, s.max_tokens_limit) and isinstance(v, int),
                  "system_prompt": lambda v: isinstance(v, str) and len(v) <= s.max_question_chars,
                  "top_p": lambda v: number_in(v, 0.01, 1),
                  "quality": lambda v: v in ("fast", "balanced", "max"),
                  "history_images": lambda v: v in HISTORY_POLICIES,
                  "thinking": lambda v: isinstance(v, bool)}
        return value if checks[name](value) else gr.skip()

    def as_code(self, history: list[dict[str, Any]], model: str, temperature: float,
                max_tokens: float, system_prompt: str, top_p: float, quality: str,
                history_images: str, thinking: bool, request: gr.Request):
        """The last question as a runnable Python snippet and curl command (key left out)."""
        lang = request_language(request)
        choices = Choices.of(model, temperature, max_tokens, system_prompt, top_p, quality,
                             history_images, thinking)
        try:
            built = self.build(up_to_last_question(history), choices)
        except ChatError as e:
            raise refuse(self.sentence(e, lang, model)) from None
        call = self.chat_request(built, choices)
        return gr.Code(to_python(call), visible=True), gr.Code(to_curl(call), visible=True)




