"""The page: components and how their events are wired. Handlers live in ui/handlers.py."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import gradio as gr
from gradio.data_classes import GradioModel, GradioRootModel
from starlette.middleware import Middleware

from ui.choices import Choices
from ui.config import Settings
from ui.conversation import for_retry, pop_last_turn
from ui.handlers import Chat, refuse, request_language
from ui.headers import SecurityHeaders
from ui.i18n import LABELS, say
from ui.images import prepare_uploads
from ui.paths import ASSETS, FileRefused, Roots

UPLOAD = "/gradio_api/upload"  # Gradio's upload route: files in, their stored paths out (JSON)

CSS = """
.stats { color: var(--body-text-color-subdued); font-size: var(--text-sm); min-height: 1.5em; }
.notice { border-left: 3px solid var(--color-accent); padding-left: .75em; }
/* Gradio gives every image in the chat a Share button (it ignores `buttons`), which would upload the
   image to Hugging Face. Its label follows the browser's language, so it is found by its icon too,
   the only one in a message's buttons drawn with svg#icon. */
#chat button[aria-label="Share"], #chat button[title="Share"],
#chat .message-buttons button:has(svg#icon) { display: none !important; }
/* Tables in messages keep their words whole (Gradio broke them anywhere: "qua|rter" on a phone);
   one wider than its bubble scrolls sideways, and on phones cells are padded less, so most fit. */
#chat .message .md:has(> table) { display: block; max-width: 100%; overflow-x: auto; }
#chat .message :is(th, td) { word-break: normal; overflow-wrap: normal; }
@media (max-width: 480px) { #chat .message :is(th, td) { padding: var(--spacing-sm) var(--spacing-md); } }
/* An answer on its way that has not started yet (Stop is shown, the question is the last message):
   three pulsing dots where the answer will appear, in the answer's bubble shape. */
body:has(#chat-input button.stop-button)
  #chat .message-wrap:has(> .message-row.user-row:nth-last-child(2))::after {
  content: "• • •" / ""; display: block; width: fit-content; margin: 20px 20px 10px; padding: 2px 14px;
  border: 1px solid var(--border-color-primary); border-radius: 6px 6px 6px 0;
  background: var(--background-fill-secondary); color: var(--body-text-color-subdued);
  font-size: var(--text-lg); animation: var(--waiting-motion, waiting 1.2s ease-in-out infinite);
}
@keyframes waiting { 50% { opacity: .4; } }
/* Still for visitors who ask for less motion (on #chat: Gradio scopes @media rules to its container) */
@media (prefers-reduced-motion: reduce) { #chat { --waiting-motion: none; } }
"""


def _examples(lang: str = "en") -> Any:
    """One-click examples shown in the empty chat (images made by assets/make_examples.py)."""
    items = [("chart.png", "example_chart"), ("receipt.jpg", "example_receipt"),
             ("diagram.png", "example_diagram"), ("scene.jpg", "example_scene")]
    return [{"text": say(lang, key), "files": [str(ASSETS / name)], "display_text": say(lang, key)}
            for name, key in items if (ASSETS / name).exists()]


def _value_in(component: gr.components.Component, payload: Any) -> Any:
    model = getattr(component, "data_model", None)
    if model is not None and payload is not None:
        payload = model.model_validate(payload)
    return component.preprocess(payload)


def _checked_values(roots: Roots, inputs: Sequence[gr.components.Component],
                    args: Sequence[Any]) -> list[Any]:
    """An event's input payloads, as the browser or a script sent them, checked for files this
    app did not store (ui/paths.py), then preprocessed by the components' own code. The check
    comes first: Gradio's Chatbot preprocessing copies a file named by a "component" item."""
    try:
        roots.check(list(args[:len(inputs)]))
    except FileRefused:
        request = next((a for a in args[len(inputs):] if isinstance(a, gr.Request)), None)
        raise refuse(say(request_language(request), "file_refused")) from None
    return [_value_in(c, v) for c, v in zip(inputs, args, strict=False)]


def checked(fn: Callable[..., Any], inputs: Sequence[gr.components.Component],
            roots: Roots) -> Callable[..., Any]:
    """`fn` for an event with preprocess=False whose inputs may name files: see _checked_values.
    Every event that takes the chat, the input box or an upload goes through this or
    processed_here, so no path a visitor made up is opened, copied or served."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def wrapper_async(*args: Any) -> Any:
            return await fn(*_checked_values(roots, inputs, args), *args[len(inputs):])
        return wrapper_async

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        return fn(*_checked_values(roots, inputs, args), *args[len(inputs):])
    return wrapper


def processed_here(fn: Callable[..., AsyncIterator[Any]], inputs: Sequence[gr.components.Component],
                   outputs: Sequence[gr.components.Component],
                   roots: Roots) -> Callable[..., AsyncIterator[Any]]:
    """`fn` for an event with preprocess=False and postprocess=False: its inputs are checked and
    preprocessed (_checked_values) and its outputs postprocessed here, in the event loop, by the
    components' own code. Gradio would do each in a worker thread, a hop of 0.3-1 ms on two
    cores: 11 before the question could leave for the endpoint, and 3 more on every update of a
    streaming answer."""

    def value_out(component: gr.components.Component, value: Any) -> Any:
        if isinstance(value, gr.components.Component):  # a property update, maybe with a value
            update = {**value.constructor_args, "__type__": "update"}
            if "value" in update:
                update["value"] = value_out(component, update["value"])
            return update
        if isinstance(value, dict) and value.get("__type__") == "update":
            return value
        value = component.postprocess(value)
        return value.model_dump() if isinstance(value, GradioModel | GradioRootModel) else value

    @functools.wraps(fn)
    async def wrapper(*args: Any) -> AsyncIterator[Any]:
        values = _checked_values(roots, inputs, args)
        async for update in fn(*values, *args[len(inputs):]):  # then gr.Request
            yield tuple(value_out(c, v) for c, v in zip(outputs, update, strict=True))

    return wrapper


# The input is disabled while an answer streams, which takes the keyboard focus away from it: give
# it back once the input is enabled again, so the next question can simply be typed. Not when the
# visitor has since clicked into another control, and not on touch screens, where focusing would
# open the on-screen keyboard over the answer.
REFOCUS_JS = """() => {
  if (!matchMedia("(pointer: fine)").matches) return;
  if (document.activeElement && document.activeElement !== document.body) return;
  let frames = 60;
  const refocus = () => {
    const box = document.querySelector("#chat-input textarea");
    if (box && !box.disabled) box.focus({preventScroll: true});
    else if (frames-- > 0) requestAnimationFrame(refocus);
  };
  refocus();
}"""

# The visitor's own key: in BrowserState (stored) when remembered, else in this tab's sessionStorage.
# Stored as {"key": ...}: BrowserState does not write an empty string over a stored one. Keys
# saved by earlier versions are a plain string.
KEY_RESTORE_JS = """(stored) => {
  const tab = sessionStorage.getItem("glm-vision-chat-key-tab");
  if (tab !== null) return [tab, false];
  return [typeof stored === "string" ? stored : (stored && stored.key) || "", true];
}"""
KEY_KEEP_JS = """(key, remember) => {
  if (remember) { sessionStorage.removeItem("glm-vision-chat-key-tab"); return {key}; }
  sessionStorage.setItem("glm-vision-chat-key-tab", key);
  return {key: ""};
}"""

# The settings as the saved dict {"0": model, "1": temperature, ...}; restore() reads it back.
# The choices as the saved dict {"model": ..., "temperature": ...}; restore() reads it back (and
# the {"0": model, "1": temperature, ...} that earlier versions saved).
_NAMES = json.dumps(Choices.names())
REMEMBER_JS = f"(...values) => Object.fromEntries(values.map((v, i) => [{_NAMES}[i], v]))"


def _schema_once(component: gr.components.Component) -> None:
    """Make a component's API schema a constant. gr.UploadButton rebuilds its pydantic JSON schema
    (~1.5 ms) on every call, and Gradio asks three times for each new session: each page load and
    each API call would wait for it (other components cache theirs)."""
    schema = component.api_info()
    setattr(component, "api_info", lambda: schema)  # noqa: B010  (shadows the method)


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
            gr.Markdown(i18n("no_key_banner"), elem_classes="notice", elem_id="no-key")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(
                    label=i18n("chat"), elem_id="chat", height="68vh", buttons=["copy", "copy_all"],
                    # No single-$ delimiter: prices on receipts ("$5 and $10") are not maths.
                    latex_delimiters=[{"left": "$$", "right": "$$", "display": True},
                                      {"left": "\\[", "right": "\\]", "display": True},
                                      {"left": "\\(", "right": "\\)", "display": False}],
                    examples=_examples(), feedback_options=None, layout="bubble",
                )
                chat_input = gr.MultimodalTextbox(
                    file_types=["image"], file_count="multiple", sources=["upload"],
                    placeholder=i18n("placeholder"),  # type: ignore[arg-type]
                    show_label=False, autofocus=True,
                    max_plain_text_length=1_000_000, elem_id="chat-input",
                )
                stats = gr.Markdown(elem_classes="stats", elem_id="stats")
                with gr.Accordion(i18n("tools"), open=False, elem_id="tools"):
                    with gr.Row():
                        export_btn = gr.Button(i18n("export"), size="sm", elem_id="export")
                        import_btn = gr.UploadButton(i18n("import"),  # type: ignore[arg-type]
                                                     file_types=[".json"],
                                                     size="sm", elem_id="import")
                        _schema_once(import_btn)
                        code_btn = gr.Button(i18n("copy_code"), size="sm", elem_id="copy-code")
                    downloads = gr.File(label=i18n("downloads"), file_count="multiple",
                                        interactive=False, visible=False, elem_id="downloads")
                    python_code = gr.Code(language="python", label="Python (openai SDK)",
                                          visible=False, elem_id="python-code")
                    curl_code = gr.Code(language="shell", label="curl", visible=False,
                                        elem_id="curl-code")
            with gr.Column(scale=1, min_width=280):
                # Typed model names only where they may be used (ui/handlers.py _check_request).
                model = gr.Dropdown(list(settings.models), value=settings.default_model,
                                    label=i18n("model"), elem_id="model",
                                    allow_custom_value=settings.allow_any_model or settings.byok)
                temperature = gr.Slider(0, profile.temperature_max, value=settings.temperature,
                                        step=0.05, label=i18n("temperature"),
                                        info=i18n("temperature_info"))
                max_tokens = gr.Slider(16, cap, value=min(settings.max_tokens, cap), step=16,
                                       label=i18n("max_tokens"))
                system_prompt = gr.Textbox(settings.system_prompt, label=i18n("system_prompt"),
                                           placeholder=i18n("system_placeholder"), lines=3)
                api_key = gr.Textbox(label=i18n("api_key"), info=i18n("api_key_info"),
                                     type="password", visible=settings.byok, elem_id="api-key")
                remember_key = gr.Checkbox(True, label=i18n("remember_key"), visible=settings.byok,
                                           elem_id="remember-key")
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

        # Internal events are not API. Instant ones show no progress at all; a streaming answer
        # is its own progress bar (a full overlay on the chat would also swallow clicks on
        # Retry/Undo for a moment after Stop).
        private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
        quiet: dict[str, Any] = {**private, "show_progress": "minimal"}

        # Bring-your-own-key: the visitor's key lives in their browser only. Remembered, it is in
        # localStorage through gr.BrowserState, whose secret every visitor can read in /config:
        # obfuscated, not encrypted (the page says so). Not remembered, it is in sessionStorage:
        # this tab only, gone when the tab closes.
        key_store = gr.BrowserState("", storage_key="glm-vision-chat-key")
        if settings.byok:
            demo.load(None, key_store, [api_key, remember_key], js=KEY_RESTORE_JS, **private)
            gr.on([api_key.change, remember_key.change], None, [api_key, remember_key], key_store,
                  js=KEY_KEEP_JS, trigger_mode="always_last", **private)

        remembered = [model, temperature, max_tokens, system_prompt, top_p, quality,
                      history_images, thinking]
        settings_inputs = [*remembered, api_key]
        unlock = {"fn": lambda: gr.MultimodalTextbox(interactive=True, submit_btn=True,
                                                     stop_btn=False),
                  "outputs": chat_input, "queue": False, **private}

        def unlock_after(event: Any) -> None:
            """When the answer has ended: the input usable again, and focused for the next question."""
            event.then(**unlock).then(None, None, None, js=REFOCUS_JS, **private)

        asking = [chat_input, chatbot, *settings_inputs]
        retrying = [chatbot, *settings_inputs]
        answer_to, answer_again = [chatbot, stats, chat_input], [chatbot, stats]
        roots = chat.roots
        submit = processed_here(chat.submit, asking, answer_to, roots)
        # Progress (the queue position, when the server is busy) shows on the input only: the
        # chat's own progress overlay, updated as Enter is pressed, held the question back ~4 ms.
        fast: dict[str, Any] = {**quiet, "preprocess": False, "postprocess": False,
                                "show_progress_on": chat_input}
        answering = chat_input.submit(submit, asking, answer_to, **fast)
        unlock_after(answering)

        def load_example(selection: gr.SelectData, request: gr.Request) -> dict[str, Any]:
            value = selection.value if isinstance(selection.value, dict) else {}
            files = [f["path"] if isinstance(f, dict) else f for f in value.get("files") or []]
            try:  # the selection comes from the browser: only the examples' own files
                roots.check([{"path": f} for f in files])
            except FileRefused:
                raise refuse(say(request_language(request), "file_refused")) from None
            return {"text": str(value.get("text", "")), "files": files}

        example_answer = chatbot.example_select(
            load_example, None, chat_input, queue=False, **private,
        ).success(submit, asking, answer_to, **fast)
        unlock_after(example_answer)

        def retry_history(history: list[dict[str, Any]], request: gr.Request) -> list[dict[str, Any]]:
            return for_retry(history, request_language(request))

        retried = chatbot.retry(checked(retry_history, [chatbot], roots), chatbot, chatbot,
                                preprocess=False, queue=False, **private).then(
            lambda: gr.MultimodalTextbox(interactive=False, submit_btn=False, stop_btn=True),
            None, chat_input, queue=False, **private,
        ).then(processed_here(chat.respond, retrying, answer_again, roots), retrying, answer_again,
               **fast)
        unlock_after(retried)

        export_btn.click(checked(chat.export, [chatbot], roots), [chatbot, *remembered], downloads,
                         preprocess=False, **quiet)
        import_btn.upload(checked(chat.import_, [import_btn], roots), import_btn,
                          [chatbot, *remembered], preprocess=False, **quiet)
        code_btn.click(checked(chat.as_code, [chatbot], roots), [chatbot, *remembered],
                       [python_code, curl_code], preprocess=False, **quiet)

        def undo(history: list[dict[str, Any]]):
            rest, text, files = pop_last_turn(history)
            return rest, {"text": text, "files": files}, ""

        chatbot.undo(checked(undo, [chatbot], roots), chatbot, [chatbot, chat_input, stats],
                     preprocess=False, queue=False, **private)
        chatbot.clear(None, None, stats, js="() => ''", **private)
        # Stop is a signal to the running answer (it ends cleanly, partial reply kept), not
        # Gradio's cancel, which could paint "Error" over the chat on a busy server.
        chat_input.stop(chat.stop, None, None, queue=False, **private)

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
        prefs = gr.BrowserState({}, storage_key="glm-vision-chat-settings")

        def restore(saved: dict[str, Any] | None, request: gr.Request):
            saved = saved if isinstance(saved, dict) else {}
            values = []
            for i, name in enumerate(Choices.names()):
                key = name if name in saved else str(i)  # by name, or by position (older versions)
                values.append(chat.checked_setting(name, saved[key]) if key in saved else gr.skip())
            return [*values, gr.Chatbot(examples=_examples(request_language(request)))]

        demo.load(restore, prefs, [*remembered, chatbot], queue=False, **private)
        # In the page only: no request per keystroke or slider step.
        gr.on([model.change, temperature.change, max_tokens.change, system_prompt.change,
               top_p.change, quality.change, history_images.change, thinking.change],
              None, remembered, prefs, js=REMEMBER_JS, trigger_mode="always_last", **private)
        # Attached images are prepared as they upload (PrepareOnUpload, default quality). A visitor
        # who picks another quality gets what is attached prepared again right then. Not on the
        # input's change: that fires on every keystroke, one request each.
        quality.change(checked(chat.prewarm, [chat_input], roots), [chat_input, quality], None,
                       preprocess=False, queue=False, trigger_mode="always_last", **private)
        gr.api(chat.ask, api_name="ask", concurrency_limit=settings.concurrency)
    demo.queue(default_concurrency_limit=settings.concurrency)
    return demo


class PrepareOnUpload:
    """ASGI middleware for Gradio's upload route: the body goes in in 1 MB pieces (_in_pieces),
    and each file stored starts being prepared at once."""

    def __init__(self, app: Any, quality: str) -> None:
        self.app, self.quality = app, quality

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(UPLOAD):
            return await self.app(scope, receive, send)
        status, body = 0, bytearray()

        async def send_and_watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    with contextlib.suppress(ValueError):
                        paths = json.loads(body)  # the stored paths, as the client gets them
                        if isinstance(paths, list):
                            prepare_uploads([p for p in paths if isinstance(p, str)], self.quality)
            await send(message)

        await self.app(scope, _in_pieces(receive), send_and_watch)


class AskDefaults:
    """ASGI middleware: a call of /ask with fewer arguments than it has gets the rest from the
    function's own defaults, as gradio_client does. Gradio would refuse it with a traceback in
    the log and `error: null` for the caller; now the caller gets the sentence of what is missing
    (an empty question, say). Only small JSON bodies of the REST route are looked at."""

    LIMIT = 4 << 20  # bytes: a question of GLM_MAX_QUESTION_CHARS fits many times over

    def __init__(self, app: Any, defaults: list[Any]) -> None:
        self.app, self.defaults = app, defaults

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or \
                not scope["path"].endswith("/call/ask"):
            return await self.app(scope, receive, send)
        body, more = bytearray(), True
        while more and len(body) <= self.LIMIT:
            message = await receive()
            if message["type"] != "http.request":
                return
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
        try:
            request = json.loads(body) if not more else None
        except ValueError:
            request = None
        data = request.get("data") if isinstance(request, dict) else None
        if isinstance(request, dict) and isinstance(data, list) and len(data) < len(self.defaults):
            request["data"] = [*data, *self.defaults[len(data):]]
            body = bytearray(json.dumps(request).encode())
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": more}

        await self.app(scope, replay, send)


UPLOAD_PIECE = 1 << 20  # bytes of request body handed to Gradio's upload parser at a time


def _in_pieces(receive: Any) -> Any:
    """`receive` for an upload that hands the body on in pieces of UPLOAD_PIECE bytes, not in
    the server's 64 KB reads. Gradio's upload parser hashes each piece and writes it to disk
    from a worker thread: a 3 MB photo made ~50 thread round trips, now 4 (server CPU per
    upload 16 → 12.5 ms)."""
    held: dict[str, Any] | None = None  # a disconnect that came while a piece was filling

    async def receive_piece() -> dict[str, Any]:
        nonlocal held
        if held is not None:
            message, held = held, None
            return message
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return message
        parts = [message.get("body", b"")]
        size, more = len(parts[0]), True
        while more and size < UPLOAD_PIECE:
            message = await receive()
            if message["type"] != "http.request":
                held = message  # handed on after the data that came before it
                break
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            more = message.get("more_body", False)
        return {"type": "http.request", "body": b"".join(parts), "more_body": more}

    return receive_piece


# Gradio's page refuses a file over max_file_size before uploading it, in English whatever the
# page's language: this puts our sentence (the one Enter would give) in that toast instead.
OVER_LIMIT_JS = """() => {
  const templates = %s;
  const template = (navigator.language || "en").toLowerCase().startsWith("zh") ? templates.zh : templates.en;
  const english = /^File\\(s\\) exceed the maximum allowed size of [^:]*: "(.*)"$/;
  const toastOf = (node) => {  // only toasts are looked into, never the streaming chat
    const element = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    if (!element || !element.closest) return null;
    return element.closest("[data-testid=toast-body]") || element.querySelector("[data-testid=toast-body]");
  };
  new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(node => {
    const toast = toastOf(node);
    const walker = toast && document.createTreeWalker(toast, NodeFilter.SHOW_TEXT);
    for (let text = walker && walker.nextNode(); text; text = walker.nextNode()) {
      const found = text.nodeValue.trim().match(english);
      if (found) text.nodeValue = template.replace("{name}", found[1].split('", "').join(", "));
    }
  }))).observe(document.body, {childList: true, subtree: true});
}"""


# Enter sends at once. Gradio's input submits on the Enter keypress after `await tick()`, which in
# Chromium waits for the next frame (timers set after a key press run after the next paint). Its Send
# button submits without that wait, so a plain Enter in the chat input presses Send instead; a
# keydown whose default is prevented gets no keypress, so Gradio's handler does not send again.
# Shift+Enter (a new line), an Enter that picks an IME candidate, and Enter while Send is absent
# (Stop is shown while answering) or disabled are left to Gradio. A text question reaches the
# endpoint ~5 ms sooner. Once a file has been attached, Gradio waits for that frame anyway when
# it reads the input's value, so questions with images gain nothing.
ENTER_JS = """() => {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    const input = event.target instanceof HTMLTextAreaElement && event.target.closest("#chat-input");
    const send = input && input.querySelector("button.submit-button");
    if (!send || send.disabled) return;
    event.preventDefault();
    send.click();
  }, true);
}"""


# /ask's arguments after the first, as its signature gives them (images default to none).
ASK_DEFAULTS = [None, *(p.default for p in list(inspect.signature(Chat.ask).parameters.values())[2:-1])]


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for demo.launch() that belong to the app, not to the caller."""
    over_limit = {lang: say(lang, "image_upload_too_big", {"name": "{name}", "limit": settings.max_upload_mb})
                  for lang in ("en", "zh")}
    over_limit_js = OVER_LIMIT_JS % json.dumps(over_limit, ensure_ascii=False)
    return {"server_name": settings.host, "server_port": settings.port, "css": CSS,
            "js": f"() => {{ ({over_limit_js})(); ({ENTER_JS})(); }}",
            "i18n": gr.I18n(**LABELS), "max_file_size": f"{settings.max_upload_mb}mb",
            "show_error": False, "allowed_paths": [str(ASSETS)],
            "app_kwargs": {"middleware": [Middleware(SecurityHeaders),
                                          Middleware(PrepareOnUpload, quality=settings.image_quality),
                                          Middleware(AskDefaults, defaults=ASK_DEFAULTS)]}}

