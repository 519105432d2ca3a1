"""Gradio chat history ⇄ OpenAI messages. Pure functions: the input history is never mutated.

A history message is a dict {"role", "content", "metadata"?}. Content is a string, a file dict
({"path": ...} or {"type": "file", "file": {"path": ...}}), a text part ({"type": "text"}), or a
list of these: the shapes Gradio 6 hands to functions from the UI and from its API.
Assistant messages with a metadata title (thinking, notices, drawn boxes) are UI-only and never
sent back to the model. Texts are stored as the chat shows them (ui/sanitize.py escapes HTML);
`parts_of` gives them back as they were written, so the model reads what it and the person wrote.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ui.errors import InputError
from ui.imaging.payload import ImageError, PreparedImage, prepare
from ui.profiles import ModelProfile
from ui.sanitize import restore

# A line that is nothing but a link is an image link the user pasted.
_LINK_LINE = re.compile(r"^\s*<?(?P<url>[a-zA-Z][a-zA-Z0-9+.-]*:\S+?)>?\s*$")
_HTTP = re.compile(r"^https?://[^\s/]+", re.I)
_BAD_SCHEMES = ("javascript", "data", "file", "vbscript", "blob", "about")
OMITTED_IMAGE = "(an earlier image, not sent again)"

Preparer = Callable[[str], PreparedImage]


@dataclass(frozen=True)
class Turn:
    """One user turn pulled out of the history: its text, files and pasted links."""

    text: str
    files: tuple[str, ...]
    links: tuple[str, ...]


@dataclass(frozen=True)
class Built:
    """The OpenAI messages plus what was done to the images on the way."""

    messages: list[dict[str, Any]]
    images: tuple[tuple[str, PreparedImage], ...]  # (path, prepared) of the newest turn
    image_count: int  # image parts in the request, history included
    omitted: int  # earlier images left out by the history policy
    earlier: tuple[tuple[str, PreparedImage], ...] = ()  # earlier turns' images sent again
    links: tuple[str, ...] = ()  # image links in the request (the endpoint fetches them)


def parts_of(content: Any) -> Iterable[tuple[str, str]]:
    """Yield ("text", text as written) and ("file", path) from any Gradio content shape."""
    items = content if isinstance(content, list | tuple) else [content]
    for item in items:
        if item is None:
            continue
        if isinstance(item, str):
            yield "text", restore(item)
        elif isinstance(item, dict):
            if item.get("type") == "text":
                yield "text", restore(str(item.get("text", "")))
            elif isinstance(item.get("file"), dict):
                yield "file", str(item["file"]["path"])
            elif "path" in item:
                yield "file", str(item["path"])
        elif hasattr(item, "path"):  # FileData / component values from the API
            yield "file", str(item.path)


def is_ui_only(message: dict[str, Any]) -> bool:
    """Thinking blocks, notices and drawn boxes carry a metadata title; they stay on screen."""
    metadata = message.get("metadata") or {}
    return bool(metadata.get("title"))


def split_links(text: str) -> tuple[str, tuple[str, ...]]:
    """Take lines that are only a link out of the text; raise for links that are not http(s)."""
    kept, links = [], []
    for line in text.split("\n"):
        match = _LINK_LINE.match(line)
        url = match["url"] if match else ""
        scheme = url.split(":", 1)[0].lower()
        if scheme in ("http", "https") and _HTTP.match(url):
            links.append(url)
        elif scheme in _BAD_SCHEMES or "://" in url:
            raise InputError("bad_link", link=url[:60])
        else:
            kept.append(line)
    return "\n".join(kept).strip(), tuple(links)


def to_turn(content: Any) -> Turn:
    """The text, files and links of one user message."""
    texts: list[str] = []
    files: list[str] = []
    for kind, value in parts_of(content):
        (texts if kind == "text" else files).append(value)
    text, links = split_links("\n".join(t for t in texts if t))
    return Turn(text=text, files=tuple(files), links=links)


def image_url(image: PreparedImage, profile: ModelProfile) -> str:
    """The image_url.url value: a data URL or bare base64, as the model wants it."""
    return image.data_url() if profile.data_url else image.b64()


def build_messages(
    history: Sequence[dict[str, Any]],
    *,
    profile: ModelProfile,
    system_prompt: str = "",
    quality: str = "balanced",
    history_images: int | None = None,
    max_images: int | None = None,
    preparer: Preparer | None = None,
) -> Built:
    """OpenAI chat messages for the whole history (the last user turn is the new question).

    history_images: how many images from earlier turns to send again (None = all, 0 = none).
    max_images: images allowed per request (default: the profile's).
    """
    load: Preparer = preparer or (lambda path: prepare(path, quality))
    limit = max_images if max_images is not None else profile.max_images
    convo = [m for m in history if m.get("role") in ("user", "assistant") and not is_ui_only(m)]
    last_user = max((i for i, m in enumerate(convo) if m["role"] == "user"), default=-1)
    if last_user < 0:
        raise InputError("empty")

    # Count images per user message first, to decide which earlier ones to drop.
    turns = [to_turn(m["content"]) if m["role"] == "user" else None for m in convo]
    newest = [t for i, t in enumerate(turns) if t is not None and i >= last_user]
    new_count = sum(len(t.files) + len(t.links) for t in newest)
    if newest and not newest[-1].text and new_count == 0:
        raise InputError("empty")
    if limit is not None and new_count > limit:
        raise InputError("too_many_images", limit=limit, count=new_count, model=profile.name)
    keep_old = _old_image_budget(turns, last_user, history_images, limit, new_count)

    messages: list[dict[str, Any]] = []
    if system_prompt.strip():
        messages.append({"role": "system", "content": system_prompt.strip()})
    sent: list[tuple[str, PreparedImage]] = []
    earlier: list[tuple[str, PreparedImage]] = []
    links: list[str] = []
    count = omitted = 0
    old_seen = _count_old(turns, last_user)
    for i, (message, turn) in enumerate(zip(convo, turns, strict=True)):
        if turn is None:
            text = "".join(v for kind, v in parts_of(message["content"]) if kind == "text")
            _append(messages, "assistant", text)
            continue
        parts: list[dict[str, Any]] = []
        for kind, ref in [("file", f) for f in turn.files] + [("link", u) for u in turn.links]:
            if i < last_user:
                old_seen -= 1
                if old_seen >= keep_old:  # older than the newest `keep_old` earlier images
                    omitted += 1
                    parts.append({"type": "text", "text": OMITTED_IMAGE})
                    continue
            if kind == "link":
                url = ref
                links.append(ref)
            else:
                if not profile.base64:
                    raise InputError("base64_not_accepted", model=profile.name)
                try:
                    prepared = load(ref)
                except ImageError as e:
                    e.params.setdefault("path", ref)
                    raise
                url = image_url(prepared, profile)
                (sent if i >= last_user else earlier).append((ref, prepared))
            parts.append({"type": "image_url", "image_url": {"url": url}})
            count += 1
        if turn.text:
            parts.append({"type": "text", "text": turn.text})
        _append(messages, "user", parts)
    return Built(messages, tuple(sent), count, omitted, tuple(earlier), tuple(links))


def _count_old(turns: Sequence[Turn | None], last_user: int) -> int:
    return sum(len(t.files) + len(t.links) for t in turns[:last_user] if t is not None)


def _old_image_budget(turns: Sequence[Turn | None], last_user: int, policy: int | None,
                      limit: int | None, new_count: int) -> int:
    """How many of the most recent earlier images can be sent again."""
    old = _count_old(turns, last_user)
    keep = old if policy is None else min(policy, old)
    if limit is not None:
        keep = min(keep, limit - new_count)
    return max(keep, 0)


def _append(messages: list[dict[str, Any]], role: str, content: str | list[dict[str, Any]]) -> None:
    """Add a message, merging with the previous one of the same role (roles must alternate)."""
    if not content:
        return
    if messages and messages[-1]["role"] == role:
        previous = messages[-1]["content"]
        if isinstance(previous, str) and isinstance(content, str):
            merged: str | list[dict[str, Any]] = previous + "\n\n" + content
        else:
            merged = _as_parts(previous) + _as_parts(content)
        messages[-1] = {"role": role, "content": merged}
    else:
        messages.append({"role": role, "content": content})


def _as_parts(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
