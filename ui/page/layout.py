"""The page: components and how their events are wired. Handlers live in ui/page/chat.py."""

from __future__ import annotations

import inspect
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from ui.choices import Choices
from ui.conversation import for_retry, pop_last_turn
from ui.i18n import LABELS, say
from ui.page import keeping, rating_panel
from ui.page.chat import Chat
from ui.page.compare_layout import compare_page
from ui.page.edge import checked, processed_here
from ui.page.headers import SecurityHeaders
from ui.page.kept_js import SEND_JS, TAB_SETTINGS_JS
from ui.page.leaderboard_layout import leaderboard_page
from ui.page.markdown_js import LinearMarkdown
from ui.page.middleware import AskDefaults, PrepareOnUpload, TestImages
from ui.page.nav import nav_links
from ui.page.rating import Ratings
from ui.page.scripts import (
    CSS,
    KEY_KEEP_JS,
    KEY_RESTORE_JS,
    REFOCUS_JS,
    REMEMBER_JS,
    SETTINGS_JS,
    page_js,
)
from ui.page.testrun import shared_store
from ui.page.testrun_layout import test_page
from ui.page.tools import Tools
from ui.page.visitors import refuse, request_language
from ui.paths import ASSETS, FileRefused
from ui.settings import Settings


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
        with gr.Row(elem_id="heading-row", elem_classes="page-heading"):
            gr.Markdown(i18n("heading"), elem_id="heading")
            nav_links(i18n, "chat")
        if not settings.has_key and not settings.byok:
            gr.Markdown(i18n("no_key_banner"), elem_classes="notice", elem_id="no-key")
        settings_button = gr.Button(i18n("settings"), size="sm", elem_id="settings-button")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(
                    label=i18n("chat"), elem_id="chat", height="64vh", buttons=["copy", "copy_all"],
                    # No single-$ delimiter: prices on receipts ("$5 and $10") are not maths.
                    latex_delimiters=[{"left": "$$", "right": "$$", "display": True},
                                      {"left": "\\[", "right": "\\]", "display": True},
                                      {"left": "\\(", "right": "\\)", "display": False}],
                    examples=_examples(), feedback_options=("Like", "Dislike"), layout="bubble",
                )
                undo_clear = keeping.place_undo(i18n)
                rate_panel = rating_panel.place(i18n)  # shown for a rated answer
                chat_input = gr.MultimodalTextbox(
                    file_types=["image"], file_count="multiple", sources=["upload"],
                    placeholder=i18n("placeholder"),  # type: ignore[arg-type]
                    label=i18n("input_label"), show_label=False, autofocus=True,  # for screen readers
                    max_plain_text_length=1_000_000, elem_id="chat-input",
                )
                with gr.Row(equal_height=True, elem_id="under-input"):  # stats, and the tools
                    stats = gr.Markdown(elem_classes="stats", elem_id="stats")
                    tools = Tools.build(i18n)
                    rate_open = rating_panel.button(i18n)
                tools.build_outputs()
                kept = keeping.place(i18n, undo_clear)
            with gr.Column(scale=1, min_width=280, elem_id="settings"):
                # Typed model names only where they may be used (ui/page/chat.py _check_request).
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
        # A fixed secret (it is public in /config either way: obfuscation, not protection):
        # Gradio's default is new at each start, and a restart forgot every remembered key.
        key_store = gr.BrowserState("", storage_key="glm-vision-chat-key", secret="glm-vision-chat-key")
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
        # SEND_JS keeps the question in the browser as it leaves (ui/page/keeping.py).
        answering = chat_input.submit(submit, asking, answer_to, js=SEND_JS, **fast)
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
        ).success(submit, asking, answer_to, js=SEND_JS, **fast)
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

        imported = tools.wire(chat, chatbot, remembered, roots, quiet)
        settings_button.click(None, None, None, js=SETTINGS_JS, **private)  # phones: see scripts.CSS

        def undo(history: list[dict[str, Any]]):
            rest, text, files = pop_last_turn(history)
            return rest, {"text": text, "files": files}, ""

        undone = chatbot.undo(checked(undo, [chatbot], roots), chatbot, [chatbot, chat_input, stats],
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

        # Settings survive reloads and server restarts in the visitor's browser, never on the server.
        prefs = gr.BrowserState({}, storage_key="glm-vision-chat-settings",
                                secret="glm-vision-chat-settings")

        def restore(saved: dict[str, Any] | None, request: gr.Request):
            saved = saved if isinstance(saved, dict) else {}
            values = []
            for i, name in enumerate(Choices.names()):
                key = name if name in saved else str(i)  # by name, or by position (older versions)
                values.append(chat.checked_setting(name, saved[key]) if key in saved else gr.skip())
            return [*values, gr.Chatbot(examples=_examples(request_language(request)))]

        demo.load(restore, prefs, [*remembered, chatbot], js=TAB_SETTINGS_JS, queue=False, **private)
        # The conversation too, per tab (ui/page/keeping.py): saved when a question is sent (SEND_JS)
        # and when its answer ends, or the question is refused.
        keeping.wire(demo, kept, chatbot, stats, roots,
                     ended=[answering, example_answer, retried, undone],
                     sent=[answering, example_answer], imported=imported)
        # 👍 / 👎 under each answer, its reasons, and "Add to a test set" (ui/page/rating.py)
        rating_panel.wire(demo, rate_panel, rate_open, chatbot, roots, Ratings(settings))
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
    with demo.route("Compare", "/compare") as compare_blocks:
        compare_page(compare_blocks, settings, chat, i18n, roots)
    with demo.route("Test", "/test") as test_blocks:
        test_page(test_blocks, settings, chat, i18n, roots)
    with demo.route("Leaderboard", "/leaderboard") as leaderboard_blocks:
        leaderboard_page(leaderboard_blocks, settings, i18n)
    demo.queue(default_concurrency_limit=settings.concurrency)
    return demo


# /ask's arguments after the first, as its signature gives them (images default to none).
ASK_DEFAULTS = [None, *(p.default for p in list(inspect.signature(Chat.ask).parameters.values())[2:-1])]


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for demo.launch() that belong to the app, not to the caller."""
    return {"server_name": settings.host, "server_port": settings.port, "css": CSS,
            "js": page_js(settings.max_upload_mb),
            "i18n": gr.I18n(**LABELS), "max_file_size": f"{settings.max_upload_mb}mb",
            "show_error": False, "allowed_paths": [str(ASSETS)],
            "auth": [(name, str(password)) for name, password in settings.users] or None,
            "app_kwargs": {"middleware": [Middleware(SecurityHeaders),
                                          Middleware(TestImages, store=lambda: shared_store(settings)),
                                          Middleware(PrepareOnUpload, quality=settings.image_quality),
                                          Middleware(AskDefaults, defaults=ASK_DEFAULTS),
                                          Middleware(LinearMarkdown)]}}

