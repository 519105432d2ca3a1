"""Who is asking and in which language, and the one way a handler refuses: for every page's
events (gradio only under ui/page/)."""

from __future__ import annotations

import math
import os
from typing import Any

import gradio as gr

from ui.i18n import language


def number_in(value: Any, lo: float, hi: float) -> bool:
    """A real number (not a bool, not NaN or infinite) within [lo, hi]."""
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and lo <= value <= hi)


def attached(value: dict[str, Any]) -> list[str]:
    """The paths of the files in a MultimodalTextbox value (plain paths or file dicts)."""
    return [f if isinstance(f, str) else f.get("path", "") for f in value.get("files") or []]


def refuse(message: str) -> gr.Error:
    """One sentence for the visitor; an expected refusal, so no traceback in the server log."""
    return gr.Error(message, title="", print_exception=False)


def session_of(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None)


def visitor_of(request: gr.Request | None) -> str | None:
    """Who is asking, for the per-visitor limit: the client's address. On a Hugging Face Space
    every request comes through its proxy, which puts the visitor's own address first in
    X-Forwarded-For; elsewhere that header could be forged, so it is not read."""
    if os.environ.get("SPACE_ID"):
        forwarded = (getattr(request, "headers", None) or {}).get("x-forwarded-for", "")
        if forwarded.split(",")[0].strip():
            return forwarded.split(",")[0].strip()
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or None


def request_language(request: gr.Request | None) -> str:
    headers = getattr(request, "headers", None) or {}
    return language(headers.get("accept-language"))
