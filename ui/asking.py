"""What goes out for an answer, before any of it comes back. No gradio.

`Asker` holds what one app needs to ask the endpoint: the choices as a request carries them
(`_sent`: the model named, numbers clamped to what it accepts), the messages built from the
history (in a worker thread unless every image is already prepared), the request, the client with
the server's or the visitor's key, what the server refuses to send whatever a page or script asks,
one visitor's share of the answers streaming at once, and the one sentence a person reads for an
error. ui/answer.py's `Answerer` adds the loop that folds what comes back into an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from ui import heap
from ui.choices import Choices
from ui.endpoint import ChatRequest, Endpoint, Started, stream_chat
from ui.errors import ChatError, InputError
from ui.i18n import say
from ui.imaging.payload import ImageError, NotPrepared, cache_size, prepare
from ui.messages import Built, Preparer, build_messages, parts_of
from ui.paths import ASSETS, Roots
from ui.profiles import ModelProfile, parse_overrides, profile_for
from ui.settings import Settings

log = logging.getLogger("glmchat")

INLINE_IMAGES = 4  # at most this many prepared images are encoded in the event loop
HISTORY_POLICIES = {"all": None, "last": 1, "none": 0}


class Asker:
    """Everything one app needs to ask: the endpoint, model profiles, which files requests may
    name, who is asking right now (the per-visitor share). No conversation state."""

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

    def takes(self, model: str, files: int) -> bool:
        """Whether `model` can be asked a question with this many uploaded images (a blind pair
        is drawn from the models that can: some take image links only, or one image)."""
        profile = self.profile(model)
        limit = self.settings.max_images or profile.max_images
        return not files or (profile.base64 and (limit is None or files <= limit))

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


def _idle_report() -> None:
    images, size = cache_size()
    log.info("idle: freed memory handed back; the prepared-image cache holds %d images, %.0f MB",
             images, size / 1e6)



async def _watched(events: AsyncIterator[Any], watch: Callable[[Any], None]) -> AsyncIterator[Any]:
    async with contextlib.aclosing(events):  # type: ignore[type-var]
        async for event in events:
            watch(event)
            yield event



def file_name(path: object) -> str:
    return Path(str(path)).name if path else "?"
