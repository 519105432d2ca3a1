"""The chat's event handlers: one answer streamed, turns added, retried, exported, asked by API.

Every handler gets the session's conversation as an argument and returns the new one: nothing
per-user is kept here. Errors become one sentence in the visitor's language (gr.Error or a notice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import FileData
from gradio.utils import get_upload_folder

from ui.annotate import draw_boxes
from ui.choices import Choices
from ui.client import (
    ChatRequest,
    Endpoint,
    Finish,
    Started,
    TextDelta,
    stream_chat,
)
from ui.config import Settings
from ui.conversation import (
    Answer,
    boxes_message,
    last_image_path,
    seen_message,
    up_to_last_question,
    user_message,
)
from ui.errors import FINISH_KEYS, ChatError, EndpointError, InputError
from ui.export import ExportError, from_file, to_json, to_markdown
from ui.i18n import language, say
from ui.images import ImageError, NotPrepared, prepare, prepare_uploads
from ui.messages import Built, Preparer, build_messages, parts_of
from ui.pace import Pace, paced
from ui.paths import ASSETS, Roots
from ui.profiles import ModelProfile, parse_overrides, profile_for
from ui.records import AnswerRecord, now_iso, provenance_message
from ui.snippets import to_curl, to_python

log = logging.getLogger("glmchat")

INLINE_IMAGES = 4  # at most this many prepared images are encoded in the event loop
HISTORY_POLICIES = {"all": None, "last": 1, "none": 0}


class Chat:
    """The handlers for one app; all conversation state arrives with each call (per session)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.endpoint = Endpoint(settings)
        self.overrides = parse_overrides(settings.profile_overrides)
        # The only server files a request may name: uploads and the examples (ui/paths.py).
        self.roots = Roots([get_upload_folder(), ASSETS])
        self._busy: dict[str, int] = {}  # answers streaming per visitor (address)
        s = settings
        self.defaults = self._sent(Choices(s.default_model, s.temperature, s.max_tokens,
                                           s.system_prompt, s.top_p, s.image_quality, "all", True))
        # Stop buttons, by browser session: a signal to the running answer, not conversation
        # state. Gradio's own cancel could show "Error" over the chat when the server was busy.
        self._stops: dict[str, asyncio.Event] = {}

    def profile(self, model: str) -> ModelProfile:
        return profile_for(model or self.settings.default_model, self.overrides)

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
                self._check_request(text, model, system_prompt, api_key)
                held.enter_context(self._slot(request))
                built = await self._built(new_history, model, system_prompt, quality,
                                          history_images)
            except (ImageError, ChatError) as e:
                raise refuse(self._sentence(e, lang, model)) from None
            started = self._start(built, model, temperature, max_tokens, top_p, thinking, api_key)
            choices = Choices.of(model, temperature, max_tokens, system_prompt, top_p, quality,
                                 history_images, thinking)
            try:  # the request is on its way while the page shows the question
                if isinstance(started, Started):
                    await started.out()
                yield new_history, "", gr.MultimodalTextbox(value=None, interactive=False,
                                                            submit_btn=False, stop_btn=True)
                async for shown, stats in self._answer(new_history, built, choices, lang, started,
                                                       _session(request)):
                    # The input stays empty and locked. Not gr.skip(): Gradio takes that for a
                    # property update and rebuilds the textbox and its config every time (~1.5 ms).
                    yield shown, stats, None
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
                raise refuse(say(lang, "image_upload_too_big", {"name": _name(f), "limit": limit}))

    # ---- streaming the answer ----------------------------------------------------------------

    async def respond(self, history: list[dict[str, Any]], model: str, temperature: float,
                      max_tokens: float, system_prompt: str, top_p: float, quality: str,
                      history_images: str, thinking: bool, api_key: str, request: gr.Request):
        """Answer the last question of the history again (Retry)."""
        lang = request_language(request)
        with contextlib.ExitStack() as held:
            try:
                self._check_request("", model, system_prompt, api_key)
                held.enter_context(self._slot(request))
                built = await self._built(history, model, system_prompt, quality, history_images)
            except (ImageError, ChatError) as e:
                answer = Answer.start(history)
                self._notice(answer, e, lang, model)
                yield answer.history, ""
                return
            started = self._start(built, model, temperature, max_tokens, top_p, thinking, api_key)
            choices = Choices.of(model, temperature, max_tokens, system_prompt, top_p, quality,
                                 history_images, thinking)
            try:
                async for update in self._answer(history, built, choices, lang, started,
                                                 _session(request)):
                    yield update
            finally:
                if isinstance(started, Started):
                    await started.aclose()

    def _start(self, built: Built, model: str, temperature: float, max_tokens: float,
               top_p: float, thinking: bool, api_key: str) -> Started | ChatError:
        """Send the request now; without a key to send it with, the error to tell later."""
        try:
            client = self._client(api_key)
        except ChatError as error:
            return error
        request_ = self._request(built, model, temperature, max_tokens, top_p, thinking)
        return Started(self._stream(client, request_))

    def _stream(self, client: Any, request_: ChatRequest) -> AsyncIterator[Any]:
        s = self.settings
        return stream_chat(client, request_, retries=s.retries, backoff=s.retry_backoff,
                           log_content=s.log_content)

    def _check_request(self, text: str, model: str, system_prompt: str, api_key: str) -> None:
        """What the server will not send, whatever the page or a script asks: a model outside
        GLM_MODELS with the server's key (unless GLM_ALLOW_ANY_MODEL), an over-long question."""
        limit = self.settings.max_question_chars
        if len(text) > limit:
            raise InputError("question_too_long", count=len(text), limit=limit)
        if len(system_prompt or "") > limit:
            raise InputError("system_too_long", count=len(system_prompt), limit=limit)
        own_key = self.settings.byok and bool((api_key or "").strip())
        if model and model not in self.settings.models and not (
                self.settings.allow_any_model or own_key):
            raise InputError("model_not_allowed", models=", ".join(self.settings.models))

    @contextlib.contextmanager
    def _slot(self, request: gr.Request | None) -> Iterator[None]:
        """One of the visitor's answers at a time: at most `per_visitor` of them stream at once,
        so no one visitor holds the whole of GLM_CONCURRENCY."""
        who = _visitor(request)
        if who is None:
            yield
            return
        if self._busy.get(who, 0) >= self.settings.per_visitor:
            raise InputError("visitor_busy", limit=self.settings.per_visitor)
        self._busy[who] = self._busy.get(who, 0) + 1
        try:
            yield
        finally:
            self._busy[who] -= 1
            if not self._busy[who]:
                del self._busy[who]

    def stop(self, request: gr.Request) -> None:
        """Stop pressed: end this session's answer; what arrived so far stays."""
        if (signal := self._stops.get(_session(request) or "")) is not None:
            signal.set()

    async def _answer(self, history: list[dict[str, Any]], built: Built, choices: Choices,
                      lang: str, events: Started | ChatError, session: str | None,
                      ) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
        """Stream the answer into the conversation; faults end as a notice, never a traceback."""
        stop, deadline = asyncio.Event(), asyncio.Event()
        if session:
            self._stops[session] = stop
        def time_is_up() -> None:
            deadline.set()
            stop.set()

        timer = asyncio.get_running_loop().call_later(self.settings.max_answer_seconds, time_is_up)
        try:
            async for update in self._fold(history, built, choices, lang, events, stop, deadline):
                yield update
        finally:
            timer.cancel()
            if session and self._stops.get(session) is stop:
                del self._stops[session]

    async def _fold(self, history: list[dict[str, Any]], built: Built, choices: Choices, lang: str,
                    events: Started | ChatError, stop: asyncio.Event, deadline: asyncio.Event,
                    ) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
        model = choices.model
        asked_at = now_iso()
        error: str | None = None
        answer = Answer.start(history)
        if built.images or built.omitted:
            answer.history.append(seen_message(built, lang))
        # Which model answers, with which choices: above the answer as it streams, its figures
        # filled in when it ends (only when a request went out).
        noted = len(answer.history) if isinstance(events, Started) else None
        if noted is not None:
            answer.history.append(provenance_message(
                AnswerRecord(self._sent(choices).model, self._sent(choices), at=asked_at),
                self.defaults, lang))
        stats = ""
        try:
            if isinstance(events, ChatError):
                raise events
            pace = Pace()
            async for event in paced(events, pace, stop):
                if event is not None:
                    answer.apply(event)
                if answer.status:
                    yield answer.view(), say(lang, "retrying", _retry_params(answer.status))
                elif pace.due() or isinstance(event, Finish):
                    pace.sending()
                    yield answer.view(), ""
                    pace.sent()
            answer.close()
            if deadline.is_set():
                answer.notice(say(lang, "answer_time_limit",
                                  {"seconds": f"{self.settings.max_answer_seconds:g}"}))
            elif stop.is_set():
                answer.notice(say(lang, "stopped"))
            if answer.boxes:
                yield answer.history, ""
                await self._draw_boxes(answer, built, lang)
            if answer.finish in FINISH_KEYS:
                answer.notice(say(lang, FINISH_KEYS[answer.finish]))
            elif not answer.text and not answer.reasoning:
                answer.notice(say(lang, "no_choices"))
            stats = self._stats(answer, lang)
        except (ChatError, ImageError) as e:
            error = e.key
            self._notice(answer, e, lang, model)
        except Exception:  # a bug of ours: keep the conversation, log the details
            log.exception("unexpected error while answering")
            error = "unknown"
            answer.notice(say(lang, "unknown"))
        if noted is not None:
            answer.history[noted] = provenance_message(
                self._record(answer, choices, asked_at, error), self.defaults, lang)
        yield answer.history, stats

    def _sent(self, choices: Choices) -> Choices:
        """The choices as the request carried them (model named, numbers clamped to the model)."""
        model = choices.model or self.settings.default_model
        profile = self.profile(model)
        thinking = choices.thinking if profile.thinking == "optional" else profile.thinking == "always"
        return choices.with_(
            model=model, temperature=profile.clamp_temperature(float(choices.temperature)),
            max_tokens=profile.clamp_max_tokens(int(choices.max_tokens), self.settings.max_tokens_limit),
            top_p=float(choices.top_p), thinking=thinking)

    def _record(self, answer: Answer, choices: Choices, asked_at: str,
                error: str | None) -> AnswerRecord:
        sent = self._sent(choices)
        ttft, _, total = answer.timings()
        usage = answer.usage
        return AnswerRecord(
            model=sent.model, choices=sent,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            first_token_s=round(ttft, 2) if answer.first_token is not None else None,
            total_s=round(total, 2), finish=answer.finish, error=error, at=asked_at)

    async def _draw_boxes(self, answer: Answer, built: Built, lang: str) -> None:
        """Show the answer's grounding boxes on the image they refer to."""
        path = built.images[-1][0] if built.images else last_image_path(answer.history)
        if path is None:
            return
        try:
            image = built.images[-1][1] if built.images else await asyncio.to_thread(
                prepare, path, self.settings.image_quality)
            drawn = await asyncio.to_thread(draw_boxes, image.data, answer.boxes, _boxes_dir())
        except (ImageError, OSError):
            log.warning("could not draw boxes on an image")
            return
        answer.history.append(boxes_message(str(drawn), len(answer.boxes), lang))

    def _build(self, history: list[dict[str, Any]], model: str, system_prompt: str, quality: str,
               history_images: str, preparer: Preparer | None = None) -> Built:
        return build_messages(history, profile=self.profile(model), system_prompt=system_prompt,
                              quality=quality, history_images=HISTORY_POLICIES.get(history_images),
                              max_images=self.settings.max_images or None, preparer=preparer)

    async def _built(self, history: list[dict[str, Any]], model: str, system_prompt: str,
                     quality: str, history_images: str) -> Built:
        """The messages to send: built right here when every image is already prepared (as on
        attach) and there are few, else in a worker thread. A thread hop costs ~1 ms before
        the request can leave; preparing a photo ~50 ms, which must not block the event loop."""
        images = sum(kind == "file" for m in history for kind, _ in parts_of(m.get("content")))
        if images <= INLINE_IMAGES:  # each still costs a base64 encoding (~0.5 ms for a photo)
            try:
                return self._build(history, model, system_prompt, quality, history_images,
                                   lambda path: prepare(path, quality, cached_only=True))
            except NotPrepared:
                pass
        return await asyncio.to_thread(self._build, history, model, system_prompt, quality,
                                       history_images)

    def _request(self, built: Built, model: str, temperature: float, max_tokens: float,
                 top_p: float, thinking: bool | None) -> ChatRequest:
        profile = self.profile(model)
        temp = profile.clamp_temperature(float(temperature))
        greedy = profile.greedy_at_zero and temp <= 0
        return ChatRequest(
            model=model or self.settings.default_model,
            messages=built.messages,
            max_tokens=profile.clamp_max_tokens(int(max_tokens), self.settings.max_tokens_limit),
            temperature=None if greedy else temp,
            top_p=top_p if top_p and top_p < 1 else None,
            do_sample=False if greedy else None,
            thinking=thinking if profile.thinking == "optional" else None,  # None: not sent
            include_usage=not profile.known,
        )

    def _client(self, api_key: str | None):
        key = (api_key or "").strip() if self.settings.byok else ""
        if not key and not self.settings.has_key:
            raise ChatError("no_key_byok" if self.settings.byok else "no_key")
        return self.endpoint.client(key or None)

    def _sentence(self, error: ChatError | ImageError, lang: str, model: str) -> str:
        """The one sentence a person reads for this error, in their language."""
        params = {"model": model or self.settings.default_model,
                  "base_url": self.settings.endpoint_host,
                  "seconds": int(self.settings.read_timeout), **error.params}
        if isinstance(error, ImageError):
            params["name"] = _name(error.params.get("path") or error.params.get("name"))
        return say(lang, error.key, params)

    def _notice(self, answer: Answer, error: ChatError | ImageError, lang: str, model: str) -> None:
        sentence = self._sentence(error, lang, model)
        if answer.interrupted:
            sentence = f"{say(lang, 'interrupted')}: {sentence}"
        detail = error.params.get("detail") if isinstance(error, EndpointError) else None
        answer.notice(sentence, say(lang, "endpoint_said", {"detail": detail}) if detail else "")

    def _stats(self, answer: Answer, lang: str) -> str:
        ttft, tps, total = answer.timings()
        if answer.usage:
            return say(lang, "stats", {"prompt": answer.usage.prompt_tokens, "ttft": ttft,
                                       "completion": answer.usage.completion_tokens,
                                       "tps": tps, "total": total})
        return say(lang, "stats_no_usage", {"ttft": ttft, "total": total})

    # ---- export, import, copy as code -------------------------------------------------------

    def export(self, history: list[dict[str, Any]], model: str, temperature: float,
               max_tokens: float, system_prompt: str, top_p: float, quality: str,
               history_images: str, thinking: bool, request: gr.Request):
        """Write the conversation as Markdown and as JSON (images embedded) for download."""
        if not history:
            raise refuse(say(request_language(request), "nothing_to_export"))
        folder = Path(get_upload_folder()) / "exports" / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M")
        md, js = folder / f"conversation-{stamp}.md", folder / f"conversation-{stamp}.json"
        try:
            values = (model, temperature, max_tokens, system_prompt, top_p, quality, history_images,
                      thinking)
            js.write_text(to_json(history, dict(zip(Choices.names(), values, strict=True))), "utf-8")
        except ExportError as e:
            raise refuse(say(request_language(request), e.key, e.params)) from None
        md.write_text(to_markdown(history), "utf-8")
        return gr.File(value=[str(md), str(js)], visible=True)

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
                  "temperature": lambda v: _number(v, 0, 2),
                  "max_tokens": lambda v: _number(v, 1, s.max_tokens_limit) and isinstance(v, int),
                  "system_prompt": lambda v: isinstance(v, str) and len(v) <= s.max_question_chars,
                  "top_p": lambda v: _number(v, 0.01, 1),
                  "quality": lambda v: v in ("fast", "balanced", "max"),
                  "history_images": lambda v: v in HISTORY_POLICIES,
                  "thinking": lambda v: isinstance(v, bool)}
        return value if checks[name](value) else gr.skip()

    def as_code(self, history: list[dict[str, Any]], model: str, temperature: float,
                max_tokens: float, system_prompt: str, top_p: float, quality: str,
                history_images: str, thinking: bool, request: gr.Request):
        """The last question as a runnable Python snippet and curl command (key left out)."""
        lang = request_language(request)
        try:
            built = self._build(up_to_last_question(history), model, system_prompt, quality,
                                history_images)
        except (ImageError, ChatError) as e:
            raise refuse(self._sentence(e, lang, model)) from None
        call = self._request(built, model, temperature, max_tokens, top_p, thinking)
        return gr.Code(to_python(call), visible=True), gr.Code(to_curl(call), visible=True)

    # ---- the stateless API for scripts -------------------------------------------------------

    async def ask(self, images: list[FileData] | None = None, question: str = "", model: str = "",
                  temperature: float = 0.7, max_tokens: int = 1024, system_prompt: str = "",
                  api_key: str = "", request: gr.Request | None = None) -> AsyncIterator[str]:
        """Ask one question about the images; streams the answer text as it grows."""
        lang = request_language(request)
        text = sent = ""  # the answer so far / as last sent
        pace = Pace()
        stop = asyncio.Event()
        timer = asyncio.get_running_loop().call_later(self.settings.max_answer_seconds, stop.set)
        try:
            self.roots.check(images)  # first: a forged path gets the same sentence as any other
            files, question, model, temperature, max_tokens, system_prompt, api_key = _api_inputs(
                images, question, model, temperature, max_tokens, system_prompt, api_key,
                self.settings.max_tokens_limit)
            self._check_sizes(files, lang)
            self._check_request(question, model, system_prompt, api_key)
            with self._slot(request):
                history = [user_message(question, files)]
                built = await self._built(history, model, system_prompt,
                                          self.settings.image_quality, "all")
                request_ = self._request(built, model, temperature, max_tokens, 1.0, None)
                async for event in paced(self._stream(self._client(api_key), request_), pace, stop):
                    if isinstance(event, TextDelta):
                        text += event.text
                    elif isinstance(event, Finish) and event.reason in FINISH_KEYS:
                        text += f"\n\n[{say(lang, FINISH_KEYS[event.reason])}]"
                    if text != sent and pace.due():
                        sent = text
                        pace.sending()
                        yield text
                        pace.sent()
            if stop.is_set():
                seconds = f"{self.settings.max_answer_seconds:g}"
                text += f"\n\n[{say(lang, 'answer_time_limit', {'seconds': seconds})}]"
            if not text:
                raise ChatError("no_choices")
            if text != sent:
                yield text
        except (ImageError, ChatError) as e:
            if text != sent:  # what arrived before the fault is not held back
                yield text
            raise refuse(self._sentence(e, lang, model if isinstance(model, str) else "")) from None
        finally:
            timer.cancel()


def _number(value: Any, lo: float, hi: float) -> bool:
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
        if not _number(value, lo, hi):
            raise InputError("api_bad_number", name=name, lo=lo, hi=hi)
    return (files, (question or "").strip(), model or "", float(temperature), int(max_tokens),
            system_prompt or "", api_key or "")


def _attached(value: dict[str, Any]) -> list[str]:
    """The paths of the files in a MultimodalTextbox value (plain paths or file dicts)."""
    return [f if isinstance(f, str) else f.get("path", "") for f in value.get("files") or []]


def _boxes_dir() -> Path:
    """Drawn images go next to the uploads, so Gradio serves them and deletes them on schedule."""
    return Path(get_upload_folder()) / "boxes"


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


def request_language(request: gr.Request | None) -> str:
    headers = getattr(request, "headers", None) or {}
    return language(headers.get("accept-language"))


def _name(path: object) -> str:
    return Path(str(path)).name if path else "?"


def _retry_params(status: str) -> dict[str, str]:
    attempt, _, total = status.partition("/")
    return {"attempt": attempt, "total": total}

