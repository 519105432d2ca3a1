"""The chat's event handlers: one answer streamed, turns added, retried, exported, asked by API.

Every handler gets the session's conversation as an argument and returns the new one: nothing
per-user is kept here. Errors become one sentence in the visitor's language (gr.Error or a notice).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import FileData
from gradio.utils import get_upload_folder

from ui.answer import HISTORY_POLICIES, Answerer, Step, file_name
from ui.choices import Choices
from ui.conversation import (
    Answer,
    up_to_last_question,
    user_message,
)
from ui.endpoint import Started
from ui.errors import FINISH_KEYS, ChatError, InputError
from ui.export import ExportError, from_file, to_json, to_markdown
from ui.i18n import language, say
from ui.imaging.uploads import prepare_uploads
from ui.pace import Resends
from ui.settings import Settings
from ui.snippets import to_curl, to_python


class Chat(Answerer):
    """The page's handlers: the Answerer's loop shown in the chat, the input box, export, import,
    copy as code and /ask. All conversation state arrives with each call (per session)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, Path(get_upload_folder()))

    # ---- a question: shown at once, then answered ------------------------------------------

    async def submit(self, value: dict[str, Any] | None, history: list[dict[str, Any]] | None,
                     model: str, temperature: float, max_tokens: float, system_prompt: str,
                     top_p: float, quality: str, history_images: str, thinking: bool, api_key: str,
                     request: gr.Request):
        """Enter pressed: show the question and images at once, or refuse with one sentence
        (the input keeps the text and images); then stream the answer. One event, one trip."""
        lang = request_language(request)
        value = value or {}
        files = _attached(value)
        text = (value.get("text") or "").strip()
        if not text and not files:
            raise refuse(say(lang, "empty"))
        self._check_sizes(files, lang)
        new_history = [*(history or []), user_message(text, files)]
        with contextlib.ExitStack() as held:
            try:
                self.check_request(text, model, system_prompt, api_key)
                held.enter_context(self.slot(_visitor(request)))
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
                                                        _session(request))) as steps:
                    async for step in steps:
                        # The input stays empty and locked. Not gr.skip(): Gradio takes that for
                        # a property update and rebuilds the textbox and its config (~1.5 ms).
                        yield step.history, step.stats, None
            finally:
                if isinstance(started, Started):
                    await started.aclose()

    async def prewarm(self, value: dict[str, Any] | None, quality: str) -> None:
        """Prepare the attached files at a newly picked quality; errors wait until Enter is pressed."""
        await asyncio.gather(*map(asyncio.wrap_future, prepare_uploads(_attached(value or {}), quality)))

    def _check_sizes(self, files: Sequence[str], lang: str) -> None:
        limit = self.settings.max_upload_mb
        for f in files:
            try:
                too_big = os.path.getsize(f) > limit * 1024 * 1024
            except OSError:
                too_big = False
            if too_big:
                raise refuse(say(lang, "image_upload_too_big", {"name": file_name(f), "limit": limit}))

    # ---- streaming the answer ----------------------------------------------------------------

    async def respond(self, history: list[dict[str, Any]], model: str, temperature: float,
                      max_tokens: float, system_prompt: str, top_p: float, quality: str,
                      history_images: str, thinking: bool, api_key: str, request: gr.Request):
        """Answer the last question of the history again (Retry)."""
        lang = request_language(request)
        with contextlib.ExitStack() as held:
            try:
                self.check_request("", model, system_prompt, api_key)
                held.enter_context(self.slot(_visitor(request)))
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
                                                        _session(request))) as steps:
                    async for step in steps:
                        yield step.history, step.stats
            finally:
                if isinstance(started, Started):
                    await started.aclose()

    def stop(self, request: gr.Request) -> None:
        """Stop pressed: end this session's answer; what arrived so far stays."""
        self.stop_session(_session(request))

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
        folder = Path(get_upload_folder()) / "exports" / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"conversation-{time.strftime('%Y%m%d-%H%M')}.{suffix}"
        path.write_text(text, "utf-8")
        return str(path)

    def import_(self, file: Any, request: gr.Request):
        """Continue a conversation exported as JSON: its messages, images and settings."""
        path = file if isinstance(file, str) else getattr(file, "name", None) or file["path"]
        try:
            history, saved = from_file(path, Path(get_upload_folder()))
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

    # ---- the stateless API for scripts -------------------------------------------------------

    async def ask(self, images: list[FileData] | None = None, question: str = "", model: str = "",
                  temperature: float = 0.7, max_tokens: int = 1024, system_prompt: str = "",
                  api_key: str = "", request: gr.Request | None = None) -> AsyncIterator[str]:
        """Ask one question about the images; streams the answer text as it grows."""
        lang = request_language(request)
        text = ""  # the answer as last sent
        resends = Resends() if _whole_updates(request) else None
        try:
            self.roots.check(images)  # first: a forged path gets the same sentence as any other
            files, question, model, temperature, max_tokens, system_prompt, api_key = _api_inputs(
                images, question, model, temperature, max_tokens, system_prompt, api_key,
                self.settings.max_tokens_limit)
            self._check_sizes(files, lang)
            self.check_request(question, model, system_prompt, api_key)
            with self.slot(_visitor(request)):
                history = [user_message(question, files)]
                choices = Choices(model, temperature, max_tokens, system_prompt, 1.0,
                                  self.settings.image_quality, "all", None)
                built = await self.prepare_messages(history, choices)
                started = self.start(built, choices, api_key)
                try:
                    async with contextlib.aclosing(self.run(history, built, choices, lang, started,
                                                            boxes=False)) as steps:
                        async for step in steps:
                            shown = step.answer.raw  # as the model wrote it, markers and all
                            if step.final and step.error is None:
                                shown += self._closing_notes(step, lang)
                            if shown != text and (step.final or resends is None
                                                  or resends.due(shown)):
                                if resends is not None:
                                    resends.sending()
                                text = shown
                                yield text
                            if step.error is not None:
                                raise step.error
                finally:
                    if isinstance(started, Started):
                        await started.aclose()
            if not text:
                raise ChatError("no_choices")
        except ChatError as e:
            raise refuse(self.sentence(e, lang, model if isinstance(model, str) else "")) from None

    def _closing_notes(self, step: Step, lang: str) -> str:
        """What a script reads after a complete answer: why it ended early, if it did."""
        notes = [say(lang, FINISH_KEYS[step.answer.finish])] if step.answer.finish in FINISH_KEYS else []
        if step.timed_out:
            notes.append(say(lang, "answer_time_limit",
                             {"seconds": f"{self.settings.max_answer_seconds:g}"}))
        return "".join(f"\n\n[{note}]" for note in notes)


def number_in(value: Any, lo: float, hi: float) -> bool:
    """A real number (not a bool, not NaN or infinite) within [lo, hi]."""
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and lo <= value <= hi)


def _api_inputs(images: Any, question: Any, model: Any, temperature: Any, max_tokens: Any,
                system_prompt: Any, api_key: Any, max_tokens_limit: int,
                ) -> tuple[list[str], str, str, float, int, str, str]:
    """The /ask arguments checked as the page's controls would: wrong types, NaN and out-of-range
    numbers are refused with one sentence naming the argument, before anything is sent."""
    if images is None:
        images = []
    if not isinstance(images, list | tuple) or len(images) > 1000:
        raise InputError("api_bad_images")
    files = []
    for image in images:
        path = image.get("path") if isinstance(image, dict) else getattr(image, "path", None)
        if not isinstance(path, str) or not path:
            raise InputError("api_bad_images")
        files.append(path)
    texts = {"question": question, "model": model, "system_prompt": system_prompt,
             "api_key": api_key}
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise InputError("api_not_text", name=name)
    numbers = {"temperature": (temperature, 0.0, 2.0), "max_tokens": (max_tokens, 1, max_tokens_limit)}
    for name, (value, lo, hi) in numbers.items():
        if not number_in(value, lo, hi):
            raise InputError("api_bad_number", name=name, lo=lo, hi=hi)
    return (files, (question or "").strip(), model or "", float(temperature), int(max_tokens),
            system_prompt or "", api_key or "")


def _attached(value: dict[str, Any]) -> list[str]:
    """The paths of the files in a MultimodalTextbox value (plain paths or file dicts)."""
    return [f if isinstance(f, str) else f.get("path", "") for f in value.get("files") or []]


def refuse(message: str) -> gr.Error:
    """One sentence for the visitor; an expected refusal, so no traceback in the server log."""
    return gr.Error(message, title="", print_exception=False)


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None)


def _visitor(request: gr.Request | None) -> str | None:
    """Who is asking, for the per-visitor limit: the client's address. On a Hugging Face Space
    every request comes through its proxy, which puts the visitor's own address first in
    X-Forwarded-For; elsewhere that header could be forged, so it is not read."""
    if os.environ.get("SPACE_ID"):
        forwarded = (getattr(request, "headers", None) or {}).get("x-forwarded-for", "")
        if forwarded.split(",")[0].strip():
            return forwarded.split(",")[0].strip()
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or None


def _whole_updates(request: gr.Request | None) -> bool:
    """Whether the caller gets the whole answer again with each update: through Gradio's REST
    route (/call/ask) it does; through its queue (gradio_client, the JavaScript client) it gets
    only what was added, so there every step can go out."""
    path = getattr(getattr(request, "url", None), "path", None)
    return not (isinstance(path, str) and path.endswith("/queue/join"))


def request_language(request: gr.Request | None) -> str:
    headers = getattr(request, "headers", None) or {}
    return language(headers.get("accept-language"))
