"""The /ask API for scripts: one question about some images, the answer text streamed as it
grows. Stateless: nothing is kept between calls. Chat (ui/page/chat.py) is one of these."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import gradio as gr
from gradio import FileData

from ui.answer import Answerer, Step, file_name
from ui.choices import Choices
from ui.conversation import user_message
from ui.endpoint import Started
from ui.errors import FINISH_KEYS, ChatError, InputError
from ui.i18n import say
from ui.pace import Resends
from ui.page.visitors import number_in, refuse, request_language, visitor_of


class AskApi(Answerer):
    """The answer loop as the /ask API serves it (and the size check the page shares)."""

    def check_sizes(self, files: Sequence[str], lang: str) -> None:
        limit = self.settings.max_upload_mb
        for f in files:
            try:
                too_big = os.path.getsize(f) > limit * 1024 * 1024
            except OSError:
                too_big = False
            if too_big:
                raise refuse(say(lang, "image_upload_too_big", {"name": file_name(f), "limit": limit}))

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
            self.check_sizes(files, lang)
            self.check_request(question, model, system_prompt, api_key)
            with self.slot(visitor_of(request)):
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


def _whole_updates(request: gr.Request | None) -> bool:
    """Whether the caller gets the whole answer again with each update: through Gradio's REST
    route (/call/ask) it does; through its queue (gradio_client, the JavaScript client) it gets
    only what was added, so there every step can go out."""
    path = getattr(getattr(request, "url", None), "path", None)
    return not (isinstance(path, str) and path.endswith("/queue/join"))
