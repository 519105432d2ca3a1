"""This browser's id, the owner of its runs, votes, ratings and test sets when no one signs in:
the same on every page."""

from __future__ import annotations

import gradio as gr

NEW_BROWSER_JS = "(id) => id || (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2))"


def browser_state() -> gr.BrowserState:
    """This browser's id (the owner of its runs and test sets without sign-in), the same on every
    page. A fixed secret: Gradio's default is random per component and per start, so another
    page, or this one after a restart, could not read the id back and made a new one (its runs
    and sets lost from view). The secret is public in /config either way: obfuscation only."""
    return gr.BrowserState("", storage_key="glm-vision-chat-browser", secret="glm-vision-chat-browser-id")


def owner_of(request: gr.Request | None, browser: str) -> str:
    """Who a run, vote, rating or test set belongs to: the signed-in user, else this browser."""
    user = getattr(request, "username", None)
    return f"user:{user}" if user else f"browser:{browser or 'anonymous'}"
