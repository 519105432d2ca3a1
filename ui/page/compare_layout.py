"""The Compare page: one question, two (or more) models side by side, and a vote."""

from __future__ import annotations

import gradio as gr

from ui.answer import Answerer
from ui.page.nav import nav_links
from ui.paths import Roots
from ui.settings import Settings


def compare_page(page_blocks: gr.Blocks, settings: Settings, answerer: Answerer, i18n: gr.I18n,
                 roots: Roots) -> None:
    """Build the Compare page inside `with demo.route(...) as page_blocks`."""
    with gr.Row(elem_id="compare-heading-row"):
        gr.Markdown(i18n("compare_heading"), elem_id="compare-heading")
        nav_links(i18n, "compare")
