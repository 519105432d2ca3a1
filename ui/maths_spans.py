"""Where Gradio takes the maths out of a message before `marked` sees it (ui/sanitize.py).

Gradio's Chatbot replaces, for each of its LaTeX delimiters in turn, every match in what is left
with a placeholder, and renders those with KaTeX apart from the Markdown. `maths_spans` finds the
same spans in the text; `Placed` is the text as marked then sees it, mapped back to the source.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from ui.marked import LATEX_DELIMITERS

_MATHS = [re.compile(re.escape(left) + r"([\s\S]+?)" + re.escape(right))
          for left, right in LATEX_DELIMITERS]
PLACEHOLDER = "%%%LATEX_BLOCK_{}%%%"


def maths_spans(text: str) -> list[tuple[int, int]]:
    """Gradio replaces, for each delimiter in turn, every match in what is left by a placeholder."""
    spans: list[tuple[int, int]] = []
    for pattern in _MATHS:
        if not pattern.search(text):
            continue
        if not spans:  # nothing taken out yet: the positions are the text's own
            spans = [m.span() for m in pattern.finditer(text)]
            continue
        current, segments = _without(text, spans)
        found = []
        for match in pattern.finditer(current):
            start = _map(segments, match.start())
            end = _map(segments, match.end() - 1) + 1
            found.append((start, end))
        if found:
            kept = [s for s in spans if not any(a <= s[0] and s[1] <= b for a, b in found)]
            spans = sorted(kept + found)
    return spans


def _without(text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """The text with each span replaced by one inert character; (current_start, source_start)."""
    parts, segments, last, size = [], [], 0, 0
    for start, end in spans:
        parts.append(text[last:start])
        segments.append((size, last))
        size += start - last
        parts.append("\x00")
        segments.append((size, start))
        size += 1
        last = end
    parts.append(text[last:])
    segments.append((size, last))
    return "".join(parts), segments


def _map(segments: list[tuple[int, int]], pos: int) -> int:
    i = bisect_right(segments, (pos, float("inf"))) - 1
    current, source = segments[i]
    return source + pos - current


class Placed:
    """The text as marked sees it (maths replaced by Gradio's placeholders), mapped back."""

    def __init__(self, text: str, maths: list[tuple[int, int]]) -> None:
        parts: list[str] = []
        self.holders: list[tuple[int, int, int, int]] = []  # placed start/end, source start/end
        last = size = 0
        for n, (start, end) in enumerate(maths):
            parts.append(text[last:start])
            size += start - last
            holder = PLACEHOLDER.format(n)
            self.holders.append((size, size + len(holder), start, end))
            parts.append(holder)
            size += len(holder)
            last = end
        parts.append(text[last:])
        self.text = "".join(parts)
        self._starts = [h[0] for h in self.holders]

    def source(self, pos: int, end: bool = False) -> int:
        """The source position of a placed one; inside a placeholder, its span's start (or end)."""
        i = bisect_right(self._starts, pos) - 1
        if i < 0:
            return pos
        placed_start, placed_end, start, stop = self.holders[i]
        if pos < placed_end:
            return stop if end and pos > placed_start else start
        return stop + pos - placed_end
