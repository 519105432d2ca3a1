"""The conversation file: its format, version and limits, its error, and what it may hold.

Shared by the export (ui/export.py) and the import (ui/importing.py): no setting that looks like
a key, token or secret goes out or comes in (`safe_settings`), only the Chatbot's own metadata
fields with the right types (`clean_metadata`), and file names made plain (`safe_name`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ui.errors import ChatError
from ui.i18n import say

FORMAT = "glm-vision-chat"
VERSION = 1
MAX_BYTES = 200 * 1024 * 1024  # all images of one document, decoded

# A setting whose name says "secret" never leaves the server; `*_tokens` are counts, not tokens.
_SECRET_NAME = re.compile(r"key|secret|passw|credential|auth|bearer|cookie|session|token(?!s)", re.I)
# Values that look like API keys: OpenAI-style sk-..., Zhipu's <32 hex>.<16 chars>, bearer headers.
_SECRET_VALUE = re.compile(r"^(sk-\S{8,}|[0-9a-f]{32}\.[A-Za-z0-9]{16}|bearer\s+\S+)$", re.I)
_UNSAFE_CHARS = re.compile(r"[^\w.\- ()\[\]]+")
_META_KEYS: dict[str, type | tuple[type, ...]] = {
    "title": str, "status": str, "duration": (int, float), "log": str, "id": str, "parent_id": str}

History = list[dict[str, Any]]


class ExportError(ChatError):
    """An export or import that cannot be done; .key names a sentence in ui/i18n.py."""

    def __str__(self) -> str:  # logs and tests read the English sentence
        return say("en", self.key, self.params)


def safe_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings without anything that looks like a key, token or secret, JSON values only."""
    clean: dict[str, Any] = {}
    for name, value in settings.items():
        if not isinstance(name, str) or _SECRET_NAME.search(name):
            continue
        kept = _json_value(value)
        if kept is not _DROP:
            clean[name] = kept
    return clean


_DROP = object()


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        return _DROP if _SECRET_VALUE.match(value.strip()) else value
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return safe_settings(value)
    if isinstance(value, list | tuple):
        return [v for v in map(_json_value, value) if v is not _DROP]
    return _DROP


def clean_metadata(metadata: Any) -> dict[str, Any]:
    """Only the Chatbot's own metadata fields with the right types; nothing stays 'pending'."""
    if not isinstance(metadata, Mapping):
        return {}
    clean = {k: metadata[k] for k, kind in _META_KEYS.items()
             if isinstance(metadata.get(k), kind) and not isinstance(metadata.get(k), bool)}
    if "status" in clean:
        clean["status"] = "done"
    return clean


def safe_name(name: str) -> str:
    """Letters, digits and a few marks only; no leading dot; at most ~110 characters."""
    safe = _UNSAFE_CHARS.sub("_", os.path.basename(name)).strip(" .") or "image"
    stem, ext = os.path.splitext(safe)
    return stem[:100] + ext[:10]
