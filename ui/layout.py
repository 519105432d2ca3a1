"""The page: components, events and per-session state. The only ui module that imports gradio."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import FileData
from gradio.utils import get_upload_folder

from ui.annotate import draw_boxes
from ui.client import ChatRequest, Endpoint, Finish, TextDelta, stream_chat
from ui.config import Settings
from ui.conversation import (
    Answer,
    boxes_message,
    for_retry,
    last_image_path,
    pop_last_turn,
    seen_message,
    user_message,
)
from ui.errors import FINISH_KEYS, ChatError, EndpointError
from ui.i18n import LABELS, language, say
from ui.images import ImageError, prepare
from ui.messages import Built, build_messages
from ui.profiles import ModelProfile, parse_overrides, profile_for

log = logging.getLogger("glmchat")

ASSETS = Path(__file__).resolve().parent.parent / "assets"
YIELD_EVERY = 0.04  # seconds between screen updates while streaming: smooth, and cheap on the server
HISTORY_POLICIES = {"all": None, "last": 1, "none": 0}

CSS = """
.stats { color: var(--body-text-color-subdued); font-size: var(--text-sm); min-height: 1.5em; }
.notice { border-left: 3px solid var(--color-accent); padding-left: .75em; }
#chat button[aria-label="Share"], #chat button[title="Share"] { display: none !important; }
"""


class Chat:
    """The handlers for one app; all conversation state arrives with each call (per session)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.endpoint = Endpoint(settings)
        self.overrides = parse_overrides(settings.profile_overrides)

    def profile(self, model: str) -> ModelProfile:
        return profile_for(model or self.settings.default_model, self.overrides)

    # ---- turning input into a user turn ------------------------------------------------------

    async def check_turn(self, history: list[dict[str, Any]], model: str, quality: str,
                         history_images: str, lang: str) -> Built:
        """Build the request now, so bad input is refused before the turn is shown as sent."""
        try:
            return await asyncio.to_thread(self._build, history, model, "", quality, history_images)
        except (ImageError, ChatError) as e:
            raise gr.Error(self._sentence(e, lang, model), title="") from None

    async def add_turn(self, value: dict[str, Any] | None, history: list[dict[str, Any]] | None,
                       model: str, quality: str, history_images: str, request: gr.Request):
        """Enter pressed: show the question and images at once, or refuse with one sentence."""
        lang = _lang(request)
        value = value or {}
        files = [f if isinstance(f, str) else f.get("path", "") for f in value.get("files") or []]
        text = (value.get("text") or "").strip()
        if not text and not files:
            raise gr.Error(say(lang, "empty"), title="")
        self._check_sizes(files, lang)
        new_history = [*(history or []), user_message(text, files)]
        await self.check_turn(new_history, model, quality, history_images, lang)
        return new_history, gr.MultimodalTextbox(value=None, interactive=False,
                                                 submit_btn=False, stop_btn=True)

    async def prewarm(self, value: dict[str, Any] | None, quality: str) -> None:
        """Fill the image cache for attached files; errors wait until Enter is pressed."""
        for f in (value or {}).get("files") or []:
            path = f if isinstance(f, str) else f.get("path", "")
            with contextlib.suppress(ImageError, OSError):
                await asyncio.to_thread(prepare, path, quality)

    def _check_sizes(self, files: Sequence[str], lang: str) -> None:
        limit = self.settings.max_upload_mb
        for f in files:
            try:
                too_big = os.path.getsize(f) > limit * 1024 * 1024
            except OSError:
                too_big = False
            if too_big:
                raise gr.Error(say(lang, "image_upload_too_big", {"name": _name(f), "limit": limit}),
                               title="")

    # ---- streaming the answer ----------------------------------------------------------------

    async def respond(self, history: list[dict[str, Any]], model: str, temperature: float,
                      max_tokens: float, system_prompt: str, top_p: float, quality: str,
                      history_images: str, thinking: bool, api_key: str, request: gr.Request):
        """Stream the answer into the conversation; faults end as a notice, never a traceback."""
        lang = _lang(request)
        answer = Answer.start(history)
        stats = ""
        try:
            client = self._client(api_key)
            built = await asyncio.to_thread(self._build, history, model, system_prompt, quality,
                                            history_images)
            if built.images or built.omitted:
                answer.history.append(seen_message(built, lang))
            request_ = self._request(built, model, temperature, max_tokens, top_p, thinking)
            last = 0.0
            async for event in stream_chat(client, request_, retries=self.settings.retries,
                                           backoff=self.settings.retry_backoff):
                answer.apply(event)
                now = time.monotonic()
                if answer.status:
                    yield answer.view(), say(lang, "retrying", _retry_params(answer.status))
                elif now - last >= YIELD_EVERY or isinstance(event, Finish):
                    last = now
                    yield answer.view(), ""
            answer.close()
            if answer.boxes:
                yield answer.history, ""
                await self._draw_boxes(answer, built, lang)
            if answer.finish in FINISH_KEYS:
                answer.notice(say(lang, FINISH_KEYS[answer.finish]))
            elif not answer.text and not answer.reasoning:
                answer.notice(say(lang, "no_choices"))
            stats = self._stats(answer, lang)
        except ChatError as e:
            self._notice(answer, e, lang, model)
        except ImageError as e:
            self._notice(answer, e, lang, model)
        except Exception:  # a bug of ours: keep the conversation, log the details
            log.exception("unexpected error while answering")
            answer.notice(say(lang, "unknown"))
        yield answer.history, stats

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
            log.warning("could not draw boxes on %s", _name(path))
            return
        answer.history.append(boxes_message(str(drawn), len(answer.boxes), lang))

    def _build(self, history: list[dict[str, Any]], model: str, system_prompt: str, quality: str,
               history_images: str) -> Built:
        return build_messages(history, profile=self.profile(model), system_prompt=system_prompt,
                              quality=quality, history_images=HISTORY_POLICIES.get(history_images),
                              max_images=self.settings.max_images or None)

    def _request(self, built: Built, model: str, temperature: float, max_tokens: float,
                 top_p: float, thinking: bool) -> ChatRequest:
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
            thinking=thinking if profile.thinking == "optional" else None,
            include_usage=not profile.known,
        )

    def _client(self, api_key: str | None):
        key = (api_key or "").strip() if self.settings.byok else ""
        if not key and not self.settings.has_key:
            raise ChatError("no_key_byok" if self.settings.byok else "no_key")
        return self.endpoint.client(key or None)

    def _sentence(self, error: ChatError | ImageError, lang: str, model: str) -> str:
        """The one sentence a person reads for this error, in their language."""
        params = {"model": model or self.settings.default_model, "base_url": self.settings.base_url,
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

    # ---- the stateless API for scripts -------------------------------------------------------

    async def ask(self, images: list[FileData] | None, question: str, model: str = "",
                  temperature: float = 0.7, max_tokens: int = 1024, system_prompt: str = "",
                  api_key: str = "", request: gr.Request | None = None) -> AsyncIterator[str]:
        """Ask one question about the images; streams the answer text as it grows."""
        lang = _lang(request)
        files = [str(f["path"] if isinstance(f, dict) else f.path) for f in images or []]
        history = [user_message((question or "").strip(), files)]
        try:
            self._check_sizes(files, lang)
            built = await asyncio.to_thread(self._build, history, model, system_prompt,
                                            self.settings.image_quality, "all")
            request_ = self._request(built, model, temperature, max_tokens, 1.0, False)
            text = ""
            async for event in stream_chat(self._client(api_key), request_,
                                           retries=self.settings.retries,
                                           backoff=self.settings.retry_backoff):
                if isinstance(event, TextDelta):
                    text += event.text
                    yield text
                elif isinstance(event, Finish) and event.reason in FINISH_KEYS:
                    text += f"\n\n[{say(lang, FINISH_KEYS[event.reason])}]"
                    yield text
            if not text:
                raise ChatError("no_choices")
        except (ImageError, ChatError) as e:
            raise gr.Error(self._sentence(e, lang, model)) from None


def _boxes_dir() -> Path:
    """Drawn images go next to the uploads, so Gradio serves them and deletes them on schedule."""
    return Path(get_upload_folder()) / "boxes"


def _lang(request: gr.Request | None) -> str:
    headers = getattr(request, "headers", None) or {}
    return language(headers.get("accept-language"))


def _name(path: object) -> str:
    return Path(str(path)).name if path else "?"


def _retry_params(status: str) -> dict[str, str]:
    attempt, _, total = status.partition("/")
    return {"attempt": attempt, "total": total}


def _examples(lang: str = "en") -> Any:
    """One-click examples shown in the empty chat (images made by assets/make_examples.py)."""
    items = [("chart.png", "example_chart"), ("receipt.jpg", "example_receipt"),
             ("diagram.png", "example_diagram"), ("scene.jpg", "example_scene")]
    return [{"text": say(lang, key), "files": [str(ASSETS / name)], "display_text": say(lang, key)}
            for name, key in items if (ASSETS / name).exists()]


def build_demo(settings: Settings) -> gr.Blocks:
    """The whole app as a gr.Blocks; `app.py` launches it."""
    chat = Chat(settings)
    i18n = gr.I18n(**LABELS)
    profile = chat.profile(settings.default_model)
    cap = profile.max_tokens_cap or settings.max_tokens_limit
    with gr.Blocks(title="GLM Vision Chat", fill_height=True,
                   delete_cache=(settings.file_ttl_seconds, settings.file_ttl_seconds)) as demo:
        gr.Markdown(i18n("heading"), elem_id="heading")
        if not settings.has_key and not settings.byok:
            gr.Markdown(f"⚠️ {say('en', 'no_key')}  \n{say('zh', 'no_key')}",
                        elem_classes="notice", elem_id="no-key")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(
                    label=i18n("chat"), elem_id="chat", height="68vh", buttons=["copy", "copy_all"],
                    latex_delimiters=[{"left": "$$", "right": "$$", "display": True},
                                      {"left": "\\[", "right": "\\]", "display": True},
                                      {"left": "\\(", "right": "\\)", "display": False},
                                      {"left": "$", "right": "$", "display": False}],
                    examples=_examples(), feedback_options=None, layout="bubble",
                )
                chat_input = gr.MultimodalTextbox(
                    file_types=["image"], file_count="multiple", sources=["upload"],
                    placeholder=i18n("placeholder"),  # type: ignore[arg-type]
                    show_label=False, autofocus=True,
                    max_plain_text_length=1_000_000, elem_id="chat-input",
                )
                stats = gr.Markdown(elem_classes="stats", elem_id="stats")
            with gr.Column(scale=1, min_width=280):
                model = gr.Dropdown(list(settings.models), value=settings.default_model,
                                    label=i18n("model"), allow_custom_value=True, elem_id="model")
                temperature = gr.Slider(0, profile.temperature_max, value=settings.temperature,
                                        step=0.05, label=i18n("temperature"),
                                        info=i18n("temperature_info"))
                max_tokens = gr.Slider(16, cap, value=min(settings.max_tokens, cap), step=16,
                                       label=i18n("max_tokens"))
                system_prompt = gr.Textbox(settings.system_prompt, label=i18n("system_prompt"),
                                           placeholder=i18n("system_placeholder"), lines=3)
                api_key = gr.Textbox(label=i18n("api_key"), info=i18n("api_key_info"),
                                     type="password", visible=settings.byok)
                with gr.Accordion(i18n("advanced"), open=False):
                    top_p = gr.Slider(0.05, 1.0, value=settings.top_p, step=0.05, label=i18n("top_p"))
                    quality = gr.Radio([(i18n("quality_fast"), "fast"),
                                        (i18n("quality_balanced"), "balanced"),
                                        (i18n("quality_max"), "max")],
                                       value=settings.image_quality, label=i18n("quality"))
                    history_images = gr.Radio([(i18n("history_all"), "all"),
                                               (i18n("history_last"), "last"),
                                               (i18n("history_none"), "none")],
                                              value="all", label=i18n("history_images"))
                    thinking = gr.Checkbox(True, label=i18n("thinking"), elem_id="thinking",
                                           visible=profile.thinking != "none",
                                           interactive=profile.thinking == "optional")

        # Bring-your-own-key: the visitor's key lives in their browser (encrypted localStorage).
        key_store = gr.BrowserState("", storage_key="glm-vision-chat-key")
        if settings.byok:
            demo.load(lambda stored: stored, key_store, api_key, queue=False, api_visibility="private")
            api_key.change(lambda key: key, api_key, key_store, queue=False, api_visibility="private")

        settings_inputs = [model, temperature, max_tokens, system_prompt, top_p, quality,
                           history_images, thinking, api_key]
        private: dict[str, Any] = {"api_visibility": "private"}
        unlock = {"fn": lambda: gr.MultimodalTextbox(interactive=True, submit_btn=True,
                                                     stop_btn=False),
                  "outputs": chat_input, "queue": False, **private}

        submitted = chat_input.submit(chat.add_turn, [chat_input, chatbot, model, quality,
                                                      history_images],
                                      [chatbot, chat_input], **private)
        answering = submitted.success(chat.respond, [chatbot, *settings_inputs],
                                      [chatbot, stats], **private)
        answering.then(**unlock)

        def load_example(selection: gr.SelectData) -> dict[str, Any]:
            return {"text": selection.value.get("text", ""),
                    "files": [f["path"] if isinstance(f, dict) else f
                              for f in selection.value.get("files", [])]}

        example = chatbot.example_select(load_example, None, chat_input, queue=False, **private)
        example_answer = example.success(
            chat.add_turn, [chat_input, chatbot, model, quality, history_images],
            [chatbot, chat_input], **private,
        ).success(chat.respond, [chatbot, *settings_inputs], [chatbot, stats], **private)
        example_answer.then(**unlock)

        retried = chatbot.retry(for_retry, chatbot, chatbot, queue=False, **private).then(
            lambda: gr.MultimodalTextbox(interactive=False, submit_btn=False, stop_btn=True),
            None, chat_input, queue=False, **private,
        ).then(chat.respond, [chatbot, *settings_inputs], [chatbot, stats], **private)
        retried.then(**unlock)

        def undo(history: list[dict[str, Any]]):
            rest, text, files = pop_last_turn(history)
            return rest, {"text": text, "files": files}, ""

        chatbot.undo(undo, chatbot, [chatbot, chat_input, stats], queue=False, **private)
        chatbot.clear(lambda: "", None, stats, queue=False, **private)
        chat_input.stop(None, None, None, cancels=[answering, example_answer, retried], **private)

        def on_model(name: str, current: float):
            """Slider ranges follow the model; a value above the new cap comes down to it."""
            p = chat.profile(name)
            top = p.max_tokens_cap or settings.max_tokens_limit
            switch: dict[str, Any] = {"visible": p.thinking != "none",
                                      "interactive": p.thinking == "optional"}
            if p.thinking == "always":
                switch["value"] = True
            return (gr.Slider(maximum=p.temperature_max),
                    gr.Slider(maximum=top, value=min(int(current), top)),
                    gr.Checkbox(**switch))

        model.change(on_model, [model, max_tokens], [temperature, max_tokens, thinking], queue=False,
                     **private)

        # Settings survive reloads in the visitor's browser, never on the server.
        remembered = [model, temperature, max_tokens, system_prompt, top_p, quality,
                      history_images, thinking]
        prefs = gr.BrowserState({}, storage_key="glm-vision-chat-settings")

        def restore(saved: dict[str, Any] | None, request: gr.Request):
            saved = saved if isinstance(saved, dict) else {}
            values = [saved.get(str(i), gr.skip()) for i in range(len(remembered))]
            return [*values, gr.Chatbot(examples=_examples(_lang(request)))]

        demo.load(restore, prefs, [*remembered, chatbot], queue=False, **private)
        def remember(*values: Any) -> dict[str, Any]:
            return {str(i): v for i, v in enumerate(values)}

        gr.on([model.change, temperature.change, max_tokens.change, system_prompt.change,
               top_p.change, quality.change, history_images.change, thinking.change],
              remember, remembered, prefs, queue=False, show_progress="hidden", **private)
        # Prepare images as soon as they are attached, so Enter does not wait for resizing.
        chat_input.change(chat.prewarm, [chat_input, quality], None, queue=False,
                          show_progress="hidden", trigger_mode="always_last", **private)
        gr.api(chat.ask, api_name="ask", concurrency_limit=settings.concurrency)
    demo.queue(default_concurrency_limit=settings.concurrency)
    return demo


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for demo.launch() that belong to the app, not to the caller."""
    return {"server_name": settings.host, "server_port": settings.port, "css": CSS,
            "i18n": gr.I18n(**LABELS), "max_file_size": f"{settings.max_upload_mb}mb",
            "show_error": False, "allowed_paths": [str(ASSETS)]}

