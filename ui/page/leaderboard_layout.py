"""The Leaderboard page: models ranked from the Compare page's votes."""

from __future__ import annotations

import gradio as gr

from ui.page.nav import nav_links
from ui.settings import Settings


def leaderboard_page(page_blocks: gr.Blocks, settings: Settings, i18n: gr.I18n) -> None:
    """Build the Leaderboard page inside `with demo.route(...) as page_blocks`."""
    with gr.Row(elem_id="leaderboard-heading-row"):
        gr.Markdown(i18n("leaderboard_heading"), elem_id="leaderboard-heading")
        nav_links(i18n, "leaderboard")
