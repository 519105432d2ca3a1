"""A conversation kept in the visitor's browser, read back. Pure functions, no gradio.

The page saves each tab's conversation in the browser's localStorage (ui/page/kept_js.py) when an
answer ends, and sends it back here on a reload, an Undo of Clear or a reopened earlier chat.
What comes back is untrusted: anything that can write to this site's storage could have written
it. So it is rebuilt from plain parts, as an import is: every path named anywhere must be a file
this app stored (ui/paths.py; one foreign path refuses the whole conversation before any file is
opened), texts and titles are made inert again (ui/sanitize.py), metadata keeps only the Chatbot's
own fields. An upload that has expired since (GLM_FILE_TTL) becomes a note in its place, so the
words of the conversation still come back. A question kept as it was sent whose answer never was
(the page reloaded or closed first) gets a notice after it, which the Chatbot's Retry hangs on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ui.conversation import NOTICE_ICON
from ui.errors import InputError
from ui.export_format import clean_metadata
from ui.i18n import say
from ui.paths import Roots
from ui.sanitize import restore, sanitize

MAX_CHARS = 8_000_000  # more than the page ever keeps (ui/page/kept_js.py BUDGET)
MAX_MESSAGES = 4000
History = list[dict[str, Any]]


class KeptError(InputError):
    """A kept conversation that cannot be shown; .key names the sentence."""


def reopened(text: str, roots: Roots, lang: str) -> History:
    """The history for the Chatbot from a kept conversation (JSON text), or KeptError.

    FileRefused (a KeptError's sibling, from ui/paths.py) if it names a file this app did not store.
    """
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        raise KeptError("kept_unreadable")
    try:
        messages = json.loads(text)
    except ValueError:
        raise KeptError("kept_unreadable") from None
    if not isinstance(messages, list) or len(messages) > MAX_MESSAGES:
        raise KeptError("kept_unreadable")
    roots.check(messages)  # every path, at any depth, before anything is opened
    history = [m for m in (_message(m, lang) for m in messages) if m is not None]
    if history and history[-1]["role"] == "user":  # sent, never answered: Retry asks again
        sentence = sanitize(say(lang, "kept_unanswered"))
        history.append({"role": "assistant", "content": sentence,
                        "metadata": {"title": f"{NOTICE_ICON} {sentence}", "status": "done"}})
    return history


def _message(message: Any, lang: str) -> dict[str, Any] | None:
    if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant"):
        raise KeptError("kept_unreadable")
    raw = message.get("content")
    items = raw if isinstance(raw, list) else [raw]
    content: list[Any] = []
    for item in items:
        part = _part(item, lang)
        if part is not None:
            content.append(part)
    if not content:
        return None
    entry: dict[str, Any] = {"role": message["role"], "content": content}
    if message["role"] == "assistant" and all(isinstance(c, str) for c in content):
        entry["content"] = "\n\n".join(content)
    metadata = _metadata(message.get("metadata"))
    if metadata:
        entry["metadata"] = metadata
    return entry


def _part(item: Any, lang: str) -> Any:
    """A text (made inert), a kept file ({"path"}), or a note where an expired file was."""
    if isinstance(item, str):
        return sanitize(restore(item))
    if not isinstance(item, Mapping):
        raise KeptError("kept_unreadable")
    if item.get("type") == "text":
        if not isinstance(item.get("text"), str):
            raise KeptError("kept_unreadable")
        return sanitize(restore(item["text"])) if item["text"] else None
    file: Mapping[str, Any] = item["file"] if isinstance(item.get("file"), Mapping) else item
    path = file.get("path")
    if not isinstance(path, str):
        raise KeptError("kept_unreadable")
    if not os.path.isfile(path):  # inside the uploads (checked above), but expired since
        return sanitize(say(lang, "kept_image_gone", {"name": os.path.basename(path)}))
    return {"path": path}


def _metadata(metadata: Any) -> dict[str, Any]:
    """The Chatbot's own fields with the right types; titles inert; nothing stays 'pending'."""
    clean = clean_metadata(metadata)
    if "title" in clean:
        clean["title"] = sanitize(restore(clean["title"]))
    return clean
