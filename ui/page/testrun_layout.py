"""The Test page's components and how their events are wired (handlers: ui/page/testrun.py)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.answer import Answerer
from ui.page.browser_id import NEW_BROWSER_JS, browser_state
from ui.page.edge import checked
from ui.page.nav import nav_links
from ui.page.savedsets import SavedSets
from ui.page.testgrid import View
from ui.page.testrun import TestPage, shared_store, store_problem
from ui.paths import Roots
from ui.settings import Settings
from ui.testing.cells import REASONS
from ui.testing.manager import Runs, image_files

# Keys for fast rating while no text box has the focus: g good, b bad, n / → next, p / ← previous,
# 1-9 toggle the reasons. They press the page's own buttons (our elem_ids), nothing of Gradio's.
KEYS_JS = """
() => {
  if (window.__glmTestKeys) return;
  window.__glmTestKeys = true;
  const press = (id) => document.querySelector(`#${id}`)?.click();
  document.addEventListener("keydown", (e) => {
    if (!location.pathname.includes("/test") || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    const key = e.key.toLowerCase();
    const id = {g: "test-good", b: "test-bad", n: "test-next-cell", arrowright: "test-next-cell",
                p: "test-prev-cell", arrowleft: "test-prev-cell"}[key];
    if (id) { press(id); e.preventDefault(); return; }
    if (/^[1-9]$/.test(key)) {
      document.querySelectorAll("#test-reasons input[type=checkbox]")[Number(key) - 1]?.click();
      e.preventDefault();
    }
  });
}
"""

def test_page(page_blocks: gr.Blocks, settings: Settings, answerer: Answerer, i18n: gr.I18n,
              roots: Roots) -> None:
    """Build the Test page inside `with demo.route(...) as page_blocks`."""
    store = shared_store(settings)
    if store is None:  # the chat works on; this page says what the operator must fix
        gr.Markdown(i18n("test_heading"), elem_id="test-heading")
        nav_links(i18n, "test")
        gr.Markdown(f"⚠️ {store_problem(settings)}", elem_classes="notice", elem_id="test-no-store")
        return
    runs = Runs(answerer, store, image_files(store, settings.data_dir / "images"))
    runs.recover()  # only runs whose lease ran out: another server's or a batch's live run goes on
    page = TestPage(settings, store, runs, settings.data_dir)
    sets = SavedSets(store)
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    browser = browser_state()
    state = gr.State(View())
    with gr.Row(elem_id="test-heading-row", elem_classes="page-heading"):
        gr.Markdown(i18n("test_heading"), elem_id="test-heading")
        nav_links(i18n, "test")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            # Any file is taken: what is not an image, an archive or a table gets its own sentence
            # in the plan (ui/testing/testset.py), in the page's language.
            files = gr.File(label=i18n("test_files"), file_count="multiple", elem_id="test-files",
                            height=160)
            folder = gr.UploadButton(i18n("test_folder"), file_count="directory", size="sm",  # type: ignore[arg-type]
                                     elem_id="test-folder")
            questions = gr.Textbox(label=i18n("test_questions"), lines=3, elem_id="test-questions",
                                   placeholder=i18n("test_questions_placeholder"))  # type: ignore[arg-type]
            # sets added from the Chat ("Add to a test set"), chosen: put into the plan
            saved = gr.Dropdown([], value=None, label=i18n("test_saved_sets"),  # type: ignore[arg-type]
                                elem_id="test-saved-sets", interactive=True, visible=False)
        with gr.Column(scale=2):
            models = gr.CheckboxGroup(list(settings.models), value=[settings.default_model],
                                      label=i18n("test_models"), elem_id="test-models")
            temperature = gr.Slider(0, 1, value=settings.temperature, step=0.05,
                                    label=i18n("temperature"))
            max_tokens = gr.Slider(16, settings.max_tokens_limit, value=settings.max_tokens, step=16,
                                   label=i18n("max_tokens"))
            quality = gr.Radio([(i18n("quality_fast"), "fast"), (i18n("quality_balanced"), "balanced"),
                                (i18n("quality_max"), "max")], value=settings.image_quality,
                               label=i18n("quality"))
            title = gr.Textbox(label=i18n("test_title"), elem_id="test-title")
    plan = gr.Markdown(elem_id="test-plan")
    with gr.Row():
        run_btn = gr.Button(i18n("test_run"), variant="primary", elem_id="test-run")
        stop_btn = gr.Button(i18n("test_stop"), elem_id="test-stop")
        resume_btn = gr.Button(i18n("test_resume"), elem_id="test-resume")
        retry_btn = gr.Button(i18n("test_retry_failed"), elem_id="test-retry")
    progress = gr.HTML(elem_id="test-progress")
    run_list = gr.Dropdown([], label=i18n("test_runs"), elem_id="test-runs", interactive=True)
    with gr.Row():
        status = gr.Dropdown([(i18n("test_all"), "all"), (i18n("test_failed"), "failed"),
                              (i18n("test_answered"), "done")], value="all",
                             label=i18n("test_show"), elem_id="test-filter-status")
        verdict = gr.Dropdown([(i18n("test_all"), "all"), (i18n("test_good"), "good"),
                               (i18n("test_bad"), "bad"),
                               (i18n("test_unrated"), "unrated")], value="all",
                              label=i18n("test_rating"), elem_id="test-filter-verdict")
        reason = gr.Dropdown([(i18n("test_all"), "all"), *((i18n(f"reason_{r}"), r) for r in REASONS)],
                             value="all", label=i18n("test_reason"), elem_id="test-filter-reason")
        variant = gr.Dropdown([(i18n("test_all"), "all")], value="all", label=i18n("test_model"),
                              elem_id="test-filter-model")
    # The grid and, beside it, the answer in focus with its image: rating needs both in view.
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            grid = gr.Dataframe(value=[], datatype="markdown", interactive=False, wrap=True,
                                elem_id="test-grid", max_height=720)
            with gr.Row():
                prev_page = gr.Button("◀", size="sm", elem_id="test-prev-page", scale=0)
                page_label = gr.Markdown(elem_id="test-page-label")
                next_page = gr.Button("▶", size="sm", elem_id="test-next-page", scale=0)
        with gr.Column(scale=2, elem_id="test-focus-panel"):
            focus_image = gr.HTML(elem_id="test-focus-image")
            focus_text = gr.Markdown(elem_id="test-focus")
            focus_stats = gr.Markdown(elem_classes="stats", elem_id="test-focus-stats")
            with gr.Row():
                good = gr.Button(i18n("test_rate_good"), elem_id="test-good", size="sm")
                bad = gr.Button(i18n("test_rate_bad"), elem_id="test-bad", size="sm")
                prev_cell = gr.Button("← (p)", elem_id="test-prev-cell", size="sm")
                next_cell = gr.Button("→ (n)", elem_id="test-next-cell", size="sm")
            reasons = gr.CheckboxGroup([(i18n(f"reason_{r}"), r) for r in REASONS],
                                       label=i18n("test_reasons"), elem_id="test-reasons")
            note = gr.Textbox(label=i18n("test_note"), elem_id="test-note", lines=1)
    summary = gr.Markdown(elem_id="test-summary")
    with gr.Row():
        csv_btn = gr.Button(i18n("test_download_csv"), size="sm", elem_id="test-csv")
        jsonl_btn = gr.Button(i18n("test_download_jsonl"), size="sm", elem_id="test-jsonl")
        html_btn = gr.Button(i18n("test_download_html"), size="sm", elem_id="test-html")
    downloads = gr.File(label=i18n("downloads"), visible=False, interactive=False,
                        elem_id="test-downloads")
    timer = gr.Timer(1.0, active=False)

    shown = [progress, grid, page_label, summary, focus_image, focus_text, focus_stats, reasons, note]
    page_blocks.load(None, browser, browser, js=NEW_BROWSER_JS, **private).then(
        page.my_runs, browser, run_list, **private).then(sets.listed, browser, saved, **private)
    page_blocks.load(None, js=KEYS_JS, **private)

    set_up = [files, questions, models, quality]
    gr.on([files.change, questions.blur, models.change, quality.change],
          checked(page.plan, [files], roots), set_up, plan, preprocess=False,
          trigger_mode="always_last", **private)
    saved.input(sets.chosen, [saved, browser], [files, questions, title], **private)
    folder.upload(checked(lambda current, added: [*(current or []), *(added or [])], [files, folder],
                          roots), [files, folder], files, preprocess=False, **private)
    run_btn.click(checked(page.start, [files], roots),
                  [files, questions, models, temperature, max_tokens, quality, title, browser],
                  [state, run_list, timer, *shown], preprocess=False, **private).then(
        page.variant_choices, state, variant, **private)
    stop_btn.click(page.stop, state, None, **private)
    resume_btn.click(page.resume, [state, browser], timer, **private)
    retry_btn.click(page.retry_failed, [state, browser], timer, **private)
    timer.tick(page.tick, [state, browser], [timer, run_list, *shown], **private)
    run_list.input(page.open_run, [run_list, browser], [state, timer, *shown], **private).then(
        page.variant_choices, state, variant, **private).then(
        page.run_summary, state, summary, **private)
    gr.on([status.input, verdict.input, reason.input, variant.input], page.filter,
          [state, variant, status, verdict, reason], [state, *shown], **private)
    prev_page.click(page.prev_page, state, [state, *shown], **private)
    next_page.click(page.next_page, state, [state, *shown], **private)
    grid.select(page.select, state, [state, *shown], **private)
    prev_cell.click(page.prev_cell, state, [state, *shown], **private)
    next_cell.click(page.next_cell, state, [state, *shown], **private)
    good.click(page.good, [state, reasons, note, browser], [state, *shown], **private)
    bad.click(page.bad, [state, reasons, note, browser], [state, *shown], **private)
    csv_btn.click(page.csv, [state, browser], downloads, **private)
    jsonl_btn.click(page.jsonl, [state, browser], downloads, **private)
    html_btn.click(page.html, [state, browser], downloads, **private)
