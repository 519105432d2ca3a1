"""Markup GLM models write inside an answer: `<think>…</think>` and grounding boxes.

GLM-4.5V and later answer "where is X" with `<|begin_of_box|>[x1,y1,x2,y2]<|end_of_box|>`, the
coordinates on a 0–1000 scale of the image. People should see neither marker: boxes become a
numbered label (drawn on the image by ui/imaging/payload.py), markers around plain text just disappear.
Everything here works on the whole text so far, so it can run on every streamed update. While the
answer streams, a box not yet closed and a marker cut in half at the end wait out of sight; once it
has ended (`final`), whatever is still open is shown as the text it is (an answer cut off by
max_tokens inside a box keeps its words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN, END = "<|begin_of_box|>", "<|end_of_box|>"
_SPAN = re.compile(re.escape(BEGIN) + r"(.*?)" + re.escape(END), re.S)
_QUAD = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,"
                   r"\s*(-?\d+(?:\.\d+)?)\s*\]")
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class Box:
    """One grounding box, coordinates on the 0–1000 scale, numbered from 1 in the answer."""

    label: int
    x1: float
    y1: float
    x2: float
    y2: float

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The box in pixels of an image of this size, corners ordered and clipped."""
        xs = sorted(min(max(v, 0.0), 1000.0) * width / 1000 for v in (self.x1, self.x2))
        ys = sorted(min(max(v, 0.0), 1000.0) * height / 1000 for v in (self.y1, self.y2))
        return round(xs[0]), round(ys[0]), round(xs[1]), round(ys[1])


def render_boxes(text: str, final: bool = False) -> tuple[str, list[Box]]:
    """The text without box markers (boxes as `**[n]**`), and the boxes found; `final`: the
    answer has ended, and a box left open shows its text."""
    boxes: list[Box] = []

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        quads = _QUAD.findall(inner)
        if not quads:
            return inner  # markers around plain text: keep the text
        labels = []
        for quad in quads:
            box = Box(len(boxes) + 1, *(float(v) for v in quad))
            boxes.append(box)
            coords = ", ".join(f"{v:g}" for v in (box.x1, box.y1, box.x2, box.y2))
            labels.append(f"**[{box.label}]** `[{coords}]`")
        return " ".join(labels)

    shown = _SPAN.sub(replace, text)
    if final:  # never closed: the marker goes, what the model wrote after it stays
        return shown.replace(BEGIN, "").replace(END, ""), boxes
    # While streaming, an opened box not yet closed is hidden until it completes.
    cut = shown.rfind(BEGIN)
    if cut >= 0:
        shown = shown[:cut]
    shown = shown.replace(END, "")
    return _strip_partial_marker(shown), boxes


def _strip_partial_marker(text: str) -> str:
    """Drop a marker cut in half at the very end of a streamed text (`<|begin_of`)."""
    for marker in (BEGIN, END, _THINK_OPEN, _THINK_CLOSE):
        for n in range(len(marker) - 1, 0, -1):
            if text.endswith(marker[:n]):
                return text[:-n]
    return text


def split_think(text: str, final: bool = False) -> tuple[str, str]:
    """(reasoning, answer) for content that starts with `<think>`; ("", text) otherwise.
    `final`: the answer has ended, nothing more is coming to complete a half tag."""
    stripped = text.lstrip()
    if not stripped.startswith(_THINK_OPEN):
        if _THINK_OPEN.startswith(stripped) and stripped and not final:
            return "", ""  # "<thi" so far: wait and see
        return "", text
    body = stripped[len(_THINK_OPEN):]
    reasoning, closed, answer = body.partition(_THINK_CLOSE)
    if not closed:
        return (reasoning if final else _strip_partial_marker(reasoning)).strip(), ""
    return reasoning.strip(), answer.lstrip()
