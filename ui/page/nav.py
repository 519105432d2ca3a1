"""The links between the four pages, in the page's language (Gradio's own navbar is hidden: it
says "Home" in every language and takes 50 px above the chat; see scripts.py)."""

from __future__ import annotations

import gradio as gr

# (page, route link, label key); the route links are relative: every page is one level deep.
PAGES = (("chat", "./", "nav_chat"), ("compare", "compare", "nav_compare"),
         ("test", "test", "nav_test"), ("leaderboard", "leaderboard", "nav_leaderboard"))


def nav_links(i18n: gr.I18n, here: str) -> None:
    """One small link button per other page (elem_id nav-to-<page>), in the current row."""
    for page, link, key in PAGES:
        if page != here:
            gr.Button(i18n(key), link=link, size="sm", elem_id=f"nav-to-{page}",
                      elem_classes="nav-link")
