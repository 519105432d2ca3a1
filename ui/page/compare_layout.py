"""The Compare page: one question, two (up to four) models answering side by side, and a vote.
Handlers: ui/page/compare.py; the round it holds: ui/rounds.py."""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from ui.page.browser_id import NEW_BROWSER_JS, browser_state
from ui.page.chat import Chat
from ui.page.compare import VOTE_KEYS, Compare
from ui.page.edge import processed_here
from ui.page.nav import nav_links
from ui.paths import Roots
from ui.rounds import LETTERS, MOST_PANES, VERDICTS
from ui.settings import Settings
from ui.testing.cells import REASONS


def compare_page(page_blocks: gr.Blocks, settings: Settings, chat: Chat, i18n: gr.I18n,
                 roots: Roots) -> None:
    """Build the Compare page inside `with demo.route(...) as page_blocks`."""
    page = Compare(settings, chat, i18n)
    models = list(settings.models)
    # Blind by default when there are two models to pick from. Until a person asks for named
    # panes, the pickers hold no model names: nothing in the page tells a blind round's models.
    blind = len(models) >= 2
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    state = gr.State(None)
    browser = browser_state()
    with gr.Row(elem_id="compare-heading-row", elem_classes="page-heading"):
        gr.Markdown(i18n("compare_heading"), elem_id="compare-heading")
        nav_links(i18n, "compare")
    with gr.Row(elem_id="compare-setup"):
        mode = gr.Radio([(i18n("compare_mode_blind"), "blind"), (i18n("compare_mode_named"), "named")],
                        value="blind" if blind else "named", label=i18n("compare_mode"),
                        info=i18n("compare_mode_info"),
                        elem_id="compare-mode", scale=3)
        panes = gr.Radio([2, 3, 4], value=2, label=i18n("compare_panes"), elem_id="compare-panes",
                         visible=not blind, scale=1)
        new_round = gr.Button(i18n("compare_new_round"), size="sm", elem_id="compare-new-round",
                              scale=0)
    chatbots, stats, headers, pickers, temps, columns, retries = [], [], [], [], [], [], []
    with gr.Row(equal_height=False, elem_id="compare-panes-row"):
        for i in range(MOST_PANES):
            with gr.Column(visible=i < 2, elem_id=f"compare-pane-{i}", min_width=260) as column:
                headers.append(gr.Markdown(f"**{LETTERS[i]}**", elem_id=f"compare-head-{i}",
                                           elem_classes="compare-head"))
                with gr.Row():
                    pickers.append(gr.Dropdown(
                        [] if blind else models, value=None if blind else models[i % len(models)],
                        label=i18n("model"), visible=not blind, elem_id=f"compare-model-{i}",
                        allow_custom_value=settings.allow_any_model or settings.byok))
                    temps.append(gr.Slider(0, 1, value=settings.temperature, step=0.05,
                                           label=i18n("temperature"), visible=not blind,
                                           elem_id=f"compare-temperature-{i}"))
                chatbots.append(gr.Chatbot(
                    label=LETTERS[i], show_label=False, elem_id=f"compare-chat-{i}", height="52vh",
                    buttons=["copy"], layout="bubble", feedback_options=None,
                    latex_delimiters=[{"left": "$$", "right": "$$", "display": True},
                                      {"left": "\\[", "right": "\\]", "display": True},
                                      {"left": "\\(", "right": "\\)", "display": False}]))
                stats.append(gr.Markdown(elem_classes="stats", elem_id=f"compare-stats-{i}"))
                retries.append(gr.Button(i18n("compare_retry"), size="sm",
                                         elem_id=f"compare-retry-{i}"))
            columns.append(column)
    compare_input = gr.MultimodalTextbox(
        file_types=["image"], file_count="multiple", sources=["upload"],
        placeholder=i18n("compare_placeholder"),  # type: ignore[arg-type]
        label=i18n("input_label"), show_label=False, max_plain_text_length=1_000_000, elem_id="compare-input")
    with gr.Group(visible=False, elem_id="compare-vote") as vote_box:
        gr.Markdown(i18n("compare_vote_heading"), elem_id="compare-vote-heading")
        with gr.Row():
            verdicts = [gr.Button(i18n(key), elem_id=f"compare-vote-{verdict}",
                                  visible=i < 2 or i >= MOST_PANES)
                        for i, (verdict, key) in enumerate(zip(VERDICTS, VOTE_KEYS[True], strict=True))]
        reasons = gr.CheckboxGroup([(i18n(f"reason_{r}"), r) for r in REASONS],
                                   label=i18n("compare_reasons"), elem_id="compare-reasons")
        note = gr.Textbox(label=i18n("test_note"), elem_id="compare-note", lines=1, max_length=2000)
    result = gr.Markdown(elem_id="compare-result")
    with gr.Accordion(i18n("compare_shared"), open=False):
        with gr.Row():
            max_tokens = gr.Slider(16, settings.max_tokens_limit, value=settings.max_tokens,
                                   step=16, label=i18n("max_tokens"))
            quality = gr.Radio([(i18n("quality_fast"), "fast"), (i18n("quality_balanced"), "balanced"),
                                (i18n("quality_max"), "max")], value=settings.image_quality,
                               label=i18n("quality"))
            thinking = gr.Checkbox(True, label=i18n("thinking"))
        system_prompt = gr.Textbox(settings.system_prompt, label=i18n("system_prompt"), lines=2)
        api_key = gr.Textbox(label=i18n("api_key"), info=i18n("api_key_info"), type="password",
                             visible=settings.byok, elem_id="compare-api-key")

    page_blocks.load(None, browser, browser, js=NEW_BROWSER_JS, **private)
    # Setup.of reads these after the round, mode and pane count; api_key and the request last.
    controls = [*pickers, *temps, max_tokens, system_prompt, quality, thinking, api_key]
    asking = [compare_input, state, mode, panes, *controls]
    answer_to = [*chatbots, *stats, compare_input, vote_box, result, state]
    # Only the input box may name files (checked there); the rest arrive as the browser sent
    # them, which for these controls is what they hold (gr.Request goes in before the controls).
    # Outputs postprocessed in the event loop, as the chat's are (ui/page/edge.py processed_here):
    # in a worker thread each pane's first words reached the page ~0.1 s later than the chat's
    # (bench/compare.py).
    fast: dict[str, Any] = {**private, "show_progress": "minimal", "preprocess": False,
                            "postprocess": False}
    compare_input.submit(processed_here(page.ask, [compare_input], answer_to, roots), asking,
                         answer_to, api_name="compare_ask", show_progress_on=compare_input, **fast)
    compare_input.stop(page.stop, None, None, queue=False, **private)
    for i, button in enumerate(retries):
        button.click(processed_here(page.retry_pane(i), [], answer_to, roots), [state, api_key],
                     answer_to, api_name=f"compare_retry_{i}", **fast)

    restart = [state, *chatbots, *stats, *headers, *pickers, *temps, *columns, panes, vote_box,
               result, *verdicts]
    mode.change(page.start_over, [mode, panes], restart, queue=False, **private)
    gr.on([panes.change, new_round.click], functools.partial(page.start_over, keep_pickers=True),
          [mode, panes], restart, queue=False, **private)
    # The chats' own clear button starts a new round: a pane alone cannot forget its history.
    for chatbot in chatbots:
        chatbot.clear(functools.partial(page.start_over, keep_pickers=True), [mode, panes], restart,
                      queue=False, **private)
    voted = [*chatbots, *headers, vote_box, reasons, note, result, state]
    for verdict, button in zip(VERDICTS, verdicts, strict=True):
        button.click(page.vote_for(verdict), [state, reasons, note, browser],
                     voted, api_name=f"compare_vote_{verdict}", **private)
