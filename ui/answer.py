"""The one answer loop: a question (history + Choices) in, a growing answer out. No gradio.

`Answerer.run` serves Enter, Retry and the /ask API (and next the Compare panes and Test cells):
it builds nothing itself, it takes the messages `built` and the request `start`ed, folds the
endpoint's events into an Answer (ui/conversation.py), and yields a Step whenever the page should
see it. The pages only differ in how they show a Step: the chat renders `answer.view()`, /ask
the answer's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ui import heap
from ui.choices import Choices
from ui.conversation import Answer, boxes_message, last_image_path, seen_message
from ui.endpoint import ChatRequest, Endpoint, Finish, Retrying, Started, stream_chat
from ui.errors import FINISH_KEYS, ChatError, EndpointError, InputError
from ui.i18n import say
from ui.imaging.boxes import draw_boxes
from ui.imaging.payload import ImageError, NotPrepared, cache_size, prepare
from ui.messages import Built, Preparer, build_messages, parts_of
from ui.pace import Pace, paced
from ui.paths import ASSETS, Roots
from ui.profiles import ModelProfile, parse_overrides, profile_for
from ui.records import AnswerRecord, now_iso, provenance_message
from ui.settings import Settings

log = logging.getLogger("glmchat")

INLINE_IMAGES = 4  # at most this many prepared images are encoded in the event loop
HISTORY_POLICIES = {"all": None, "last": 1, "none": 0}


@dataclass(frozen=True)
class Step:
    """One moment of an answer: the Answer so far and the stats line to show with it.

    rendered: answer.history is already up to date (no view() needed); final: the last step;
    error: what ended the answer, if something did (it is also a notice in the history).
    """

    answer: Answer
    stats: str
    rendered: bool = False
    final: bool = False
    error: ChatError | None = None
    timed_out: bool = False

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.answer.history if self.rendered else self.answer.view()


class Answerer:
    """Everything one app needs to answer: the endpoint, model profiles, which files requests may
    name, who is answering right now (Stop, the per-visitor share). No conversation state."""

    def __init__(self, settings: Settings, upload_dir: Path) -> None:
        self.settings = settings
        self.upload_dir = Path(upload_dir)
        self.endpoint = Endpoint(settings)
        self.overrides = parse_overrides(settings.profile_overrides)
        # The only server files a request may name: uploads and the examples (ui/paths.py).
        self.roots = Roots([self.upload_dir, ASSETS])
        self._busy: dict[str, int] = {}  # answers streaming per visitor (address)
        # All answers: memory goes back to the OS when none runs (and the log says what stays).
        self.running = heap.Busy(on_idle=_idle_report)
        # Stop buttons, by browser session: a signal to the running answer, not conversation
        # state. Gradio's own cancel could show "Error" over the chat when the server was busy.
        self._stops: dict[str, asyncio.Event] = {}
        s = settings
        self.defaults = self._sent(Choices(s.default_model, s.temperature, s.max_tokens,
                                           s.system_prompt, s.top_p, s.image_quality, "all", True))

    def profile(self, model: str) -> ModelProfile:
        return profile_for(model or self.settings.default_model, self.overrides)

    def start(self, built: Built, choices: Choices, api_key: str,
              watch: Callable[[Any], None] | None = None, *,
              retry_rate_limits: bool = True) -> Started | ChatError:
        """Send the request now; without a key to send it with, the error to tell later.
        watch: called with each event as it arrives. retry_rate_limits False: a rate limit ends
        the answer at once as the `rate_limited` error (a test run requeues the cell); the chat
        keeps waiting and retrying ("retrying 1/3…")."""
        try:
            client = self.client(api_key)
        except ChatError as error:
            return error
        events = self.stream(client, self.chat_request(built, choices), retry_rate_limits)
        return Started(_watched(events, watch) if watch else events)

    def stream(self, client: Any, request_: ChatRequest,
               retry_rate_limits: bool = True) -> AsyncIterator[Any]:
        s = self.settings
        return stream_chat(client, request_, retries=s.retries, backoff=s.retry_backoff,
                           log_content=s.log_content, retry_rate_limits=retry_rate_limits)

    def check_request(self, text: str, model: str, system_prompt: str, api_key: str) -> None:
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
    def slot(self, who: str | None) -> Iterator[None]:
        """One of the visitor's answers at a time: at most `per_visitor` of them stream at once,
        so no one visitor holds the whole of GLM_CONCURRENCY."""
        if who is not None and self._busy.get(who, 0) >= self.settings.per_visitor:
            raise InputError("visitor_busy", limit=self.settings.per_visitor)
        if who is not None:
            self._busy[who] = self._busy.get(who, 0) + 1
        try:
            with self.running:
                yield
        finally:
            if who is not None:
                self._busy[who] -= 1
                if not self._busy[who]:
                    del self._busy[who]

    async def run(self, history: list[dict[str, Any]], built: Built, choices: Choices, lang: str,
                  events: Started | ChatError, session: str | None = None, *,
                  boxes: bool = True) -> AsyncGenerator[Step, None]:
        """The one answer loop (Enter, Retry, /ask; Compare panes and Test cells next): events in,
        the growing Answer out, at the pace the page can take. Faults end as a notice in the
        answer's history (Step.error says which), never as an exception; the last step is final.
        Close it (contextlib.aclosing) before closing `events`: it is still reading them.
        """
        stop, deadline = asyncio.Event(), asyncio.Event()
        if session:
            self._stops[session] = stop

        def time_is_up() -> None:
            deadline.set()
            stop.set()

        timer = asyncio.get_running_loop().call_later(self.settings.max_answer_seconds, time_is_up)
        try:
            async with contextlib.aclosing(self._fold(history, built, choices, lang, events, stop,
                                                      deadline, boxes)) as steps:
                async for step in steps:
                    yield step
        finally:
            timer.cancel()
            if session and self._stops.get(session) is stop:
                del self._stops[session]

    def stop_session(self, session: str | None) -> None:
        """End this session's answer; what arrived so far stays."""
        if (signal := self._stops.get(session or "")) is not None:
            signal.set()

    async def _fold(self, history: list[dict[str, Any]], built: Built, choices: Choices, lang: str,
                    events: Started | ChatError, stop: asyncio.Event, deadline: asyncio.Event,
                    boxes: bool) -> AsyncGenerator[Step, None]:
        model = choices.model
        asked_at = now_iso()
        answer = Answer.start(history)
        # Which model answers, with which choices: above the answer as it streams, its figures
        # filled in when it ends (only when a request went out).
        noted = len(answer.history) if isinstance(events, Started) else None
        # What the model saw: shown once the endpoint answers at all (an error before that, such
        # as a refused key or an endpoint that is down, means no model saw anything).
        seen = seen_message(built, lang) if built.image_count or built.omitted else None
        if noted is not None:
            sent = self._sent(choices)
            answer.history.append(provenance_message(AnswerRecord(sent.model, sent, at=asked_at),
                                                     self.defaults, lang))
        stats = ""
        error: ChatError | None = None
        try:
            if isinstance(events, ChatError):
                raise events
            pace = Pace()
            async with contextlib.aclosing(paced(events, pace, stop)) as arriving:
                async for event in arriving:
                    if event is not None:
                        if seen is not None and noted is not None and not isinstance(event, Retrying):
                            answer.history.insert(noted, seen)  # above the model's note
                            noted, seen = noted + 1, None
                        answer.apply(event)
                    if answer.status:
                        yield Step(answer, say(lang, "retrying", _retry_params(answer.status)))
                    elif pace.due() or isinstance(event, Finish):
                        pace.sending()
                        yield Step(answer, "")
                        pace.sent()
            answer.close()
            if deadline.is_set():
                answer.notice(say(lang, "answer_time_limit",
                                  {"seconds": f"{self.settings.max_answer_seconds:g}"}))
            elif stop.is_set():
                answer.notice(say(lang, "stopped"))
            if answer.boxes and boxes:
                yield Step(answer, "", rendered=True)
                await self._draw_boxes(answer, built, lang)
            if answer.skipped:
                answer.notice(say(lang, "content_skipped", {"count": answer.skipped}))
            if answer.finish in FINISH_KEYS:
                answer.notice(say(lang, FINISH_KEYS[answer.finish]))
            elif not answer.text and not answer.reasoning:
                answer.notice(say(lang, "no_choices"))
            stats = self._stats(answer, lang)
        except ChatError as e:
            error = e
            self._notice(answer, e, lang, model)
        except Exception:  # a bug of ours: keep the conversation, log the details
            log.exception("unexpected error while answering")
            error = ChatError("unknown")
            answer.notice(say(lang, "unknown"))
        if noted is not None:
            answer.history[noted] = provenance_message(
                self._record(answer, choices, asked_at, error.key if error else None),
                self.defaults, lang)
        yield Step(answer, stats, rendered=True, final=True, error=error, timed_out=deadline.is_set())

    def _sent(self, choices: Choices) -> Choices:
        """The choices as the request carried them (model named, numbers clamped to the model)."""
        model = choices.model or self.settings.default_model
        profile = self.profile(model)
        thinking = choices.thinking if profile.thinking == "optional" else profile.thinking == "always"
        # None: the request leaves thinking to the endpoint's default (the /ask API)
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
            drawn = await asyncio.to_thread(draw_boxes, image.data, answer.boxes,
                                           self.upload_dir / "boxes")
        except (ImageError, OSError):
            log.warning("could not draw boxes on an image")
            return
        answer.history.append(boxes_message(str(drawn), len(answer.boxes), lang))

    def build(self, history: list[dict[str, Any]], choices: Choices,
              preparer: Preparer | None = None) -> Built:
        c = choices
        return build_messages(history, profile=self.profile(c.model), system_prompt=c.system_prompt,
                              quality=c.quality, history_images=HISTORY_POLICIES.get(c.history_images),
                              max_images=self.settings.max_images or None, preparer=preparer)

    async def prepare_messages(self, history: list[dict[str, Any]], choices: Choices) -> Built:
        """The messages to send: built right here when every image is already prepared (as on
        attach) and there are few, else in a worker thread. A thread hop costs ~1 ms before
        the request can leave; preparing a photo ~50 ms, which must not block the event loop."""
        images = sum(kind == "file" for m in history for kind, _ in parts_of(m.get("content")))
        if images <= INLINE_IMAGES:  # each still costs a base64 encoding (~0.5 ms for a photo)
            try:
                return self.build(history, choices,
                                  lambda path: prepare(path, choices.quality, cached_only=True))
            except NotPrepared:
                pass
        return await asyncio.to_thread(self.build, history, choices)

    def chat_request(self, built: Built, choices: Choices) -> ChatRequest:
        """The request for these messages and choices (clamped to what the model accepts)."""
        sent = self._sent(choices)
        profile = self.profile(sent.model)
        greedy = profile.greedy_at_zero and sent.temperature <= 0
        return ChatRequest(
            model=sent.model,
            messages=built.messages,
            max_tokens=sent.max_tokens,
            temperature=None if greedy else sent.temperature,
            top_p=sent.top_p if sent.top_p and sent.top_p < 1 else None,
            do_sample=False if greedy else None,
            thinking=choices.thinking if profile.thinking == "optional" else None,  # None: not sent
            include_usage=not profile.known,
        )

    def client(self, api_key: str | None):
        key = (api_key or "").strip() if self.settings.byok else ""
        if not key and not self.settings.has_key:
            raise ChatError("no_key_byok" if self.settings.byok else "no_key")
        return self.endpoint.client(key or None)

    def sentence(self, error: ChatError | ImageError, lang: str, model: str) -> str:
        """The one sentence a person reads for this error, in their language."""
        params = {"model": model or self.settings.default_model,
                  "base_url": self.settings.endpoint_host,
                  "seconds": int(self.settings.read_timeout), **error.params}
        if isinstance(error, ImageError):
            params["name"] = file_name(error.params.get("path") or error.params.get("name"))
        return say(lang, error.key, params)

    def _notice(self, answer: Answer, error: ChatError | ImageError, lang: str, model: str) -> None:
        sentence = self.sentence(error, lang, model)
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


def _idle_report() -> None:
    images, size = cache_size()
    log.info("idle: freed memory handed back; the prepared-image cache holds %d images, %.0f MB",
             images, size / 1e6)


async def _watched(events: AsyncIterator[Any], watch: Callable[[Any], None]) -> AsyncIterator[Any]:
    async with contextlib.aclosing(events):  # type: ignore[type-var]
        async for event in events:
            watch(event)
            yield event


def _retry_params(status: str) -> dict[str, str]:
    attempt, _, total = status.partition("/")
    return {"attempt": attempt, "total": total}


def file_name(path: object) -> str:
    return Path(str(path)).name if path else "?"
