"""The UI-only notes about a question's images, shown in the chat and never sent to a model: what
the model saw (every image the request carried, what was done to each, what was left out) and the
image with the answer's grounding boxes drawn on it. Plain data, no gradio; texts sanitized.
"""

from __future__ import annotations

from typing import Any

from ui.i18n import say
from ui.imaging.payload import PreparedImage
from ui.messages import Built
from ui.sanitize import sanitize

SEEN_ICON = "🖼️"
BOXES_ICON = "📍"


def seen_message(built: Built, lang: str) -> dict[str, Any]:
    """A collapsed UI-only note under the question: every image the request carried (this turn's
    and earlier ones sent again), what was done to each, and what was left out."""
    images = [image for _, image in built.images + built.earlier]
    tokens = sum(i.est_tokens for i in images)
    title = say(lang, "saw_title", {"count": built.image_count, "tokens": f"{tokens:,}",
                                    "size": _bytes(sum(len(i.data) for i in images))})
    lines = []
    for path, image in built.images:
        line = say(lang, "saw_line", {"name": path.rsplit("/", 1)[-1],
                                      "original": _shape(image, original=True),
                                      "sent": _shape(image, original=False)})
        lines.append(f"- {line} · {_notes(image, lang)}")
    for path, image in built.earlier:
        lines.append("- " + say(lang, "saw_again", {"name": path.rsplit("/", 1)[-1],
                                                   "sent": _shape(image, original=False)}))
    for link in built.links:
        lines.append("- " + say(lang, "saw_link", {"link": link[:80]}))
    if built.omitted:
        lines.append(f"- {say(lang, 'saw_omitted', {'count': built.omitted})}")
    return {"role": "assistant", "content": sanitize("\n".join(lines)),
            "metadata": {"title": f"{SEEN_ICON} {sanitize(title)}", "status": "done"}}


def _shape(image: PreparedImage, *, original: bool) -> str:
    if original:
        (w, h), fmt, size = image.original_size, image.original_format, image.original_bytes
    else:
        (w, h), fmt, size = image.sent_size, image.mime.split("/")[-1].upper(), len(image.data)
    return f"{w}×{h} {fmt} {_bytes(size)}"


def _notes(image: PreparedImage, lang: str) -> str:
    keys = image.notes or ("unchanged",)
    return ", ".join(say(lang, f"note_{k}") for k in keys) + f" · ≈{image.est_tokens:,} tokens"


def _bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} B"


def boxes_message(path: str, count: int, lang: str) -> dict[str, Any]:
    """A UI-only message showing the image with the answer's boxes drawn on it."""
    return {"role": "assistant", "content": {"path": path},
            "metadata": {"title": f"{BOXES_ICON} {say(lang, 'boxes_title', {'count': count})}"}}

