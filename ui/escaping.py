"""A text escaped outside its verbatim parts (code and maths), for ui/sanitize.py.

Outside them every `<` that could open a tag becomes `&LT;`, every `&LT;`, `&AMP;` and `&QUOT;`
already there is escaped once more (so `restore()` can undo exactly this), every Markdown image a
link (`![a](u)` → `[🖼️ a](u)`), and the `"` of a `src="/file` `&QUOT;` (the page would put its own
address there).
With `links`, a `<` that starts an autolink or a link destination stays, and where it stays is
recorded (`Built.kept`): ui/sanitize.py lexes the result again and refuses the ones that turned out
to open something else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ui.marked import AUTOLINK, LINK, REFLINK, SPACES

IMAGE_MARK = "🖼️ "  # a Markdown image becomes a link with this in front of its text

# The page puts its own address into the first `src="/file` of a message: in plain text that would
# start a link (http://...) that swallows what follows, and marked would read on differently.
_ESCAPE = re.compile(r"\\*(?:<(?=[A-Za-z/!?])|!\[|&(?=(?:LT|AMP|QUOT);)|(?<=src=)\"(?=/file))")
_ANGLE_DESTINATION = re.compile(r"\](?:\(|:)[ \t]*(?:\n[ \t]*)?\Z")  # `](<u>)`, `[r]: <u>`
_DEF_LABEL = re.compile(r"(?m)^[ \t>]*\[((?:\\.|[^\[\]\\])+)\]:")
_NOLINK_IMAGE = re.compile(r"!\[((?!\s*\])(?:\\.|[^\[\]\\])+)\](\[\])?(?![\[(])")


@dataclass
class Built:
    text: str = ""
    verbatim: list[tuple[int, int, int]] = field(default_factory=list)  # (out, source, length)
    kept: dict[int, int] = field(default_factory=dict)  # source → out position of a `<` left as is

    def sources(self, start: int, end: int) -> list[tuple[int, int]]:
        """The source ranges of the verbatim parts of output [start, end)."""
        found = []
        for out, source, length in self.verbatim:
            a, b = max(start, out), min(end, out + length)
            if a < b:
                found.append((source + a - out, source + b - out))
        return found


def escaped(text: str, verbatim: list[tuple[int, int]], links: bool = True,
           refused: frozenset[int] = frozenset()) -> Built:
    """`text` escaped outside the sorted, disjoint `verbatim` ranges. With `links`, a `<` that
    starts an autolink or a link destination stays (unless `refused`): the result must be checked."""
    built = Built()
    out: list[str] = []
    size = last = 0
    labels = frozenset(SPACES.sub(" ", m[1]).lower() for m in _DEF_LABEL.finditer(text)) \
        if "]:" in text else frozenset()
    for start, end in [*verbatim, (len(text), len(text))]:
        if start > last:
            piece = _escape(text, last, start, size, links, refused, built.kept, labels)
            out.append(piece)
            size += len(piece)
        if end > start:
            out.append(text[start:end])
            built.verbatim.append((size, start, end - start))
            size += end - start
        last = max(last, end)
    built.text = "".join(out)
    return built


def _escape(text: str, start: int, end: int, base: int, links: bool, refused: frozenset[int],
            kept: dict[int, int], labels: frozenset[str] = frozenset()) -> str:
    parts: list[str] = []
    size = base
    last = start

    def emit(s: str) -> None:
        nonlocal size
        parts.append(s)
        size += len(s)

    for match in _ESCAPE.finditer(text, start, end):
        at = match.end() - (2 if text[match.end() - 1] == "[" else 1)
        char = text[at]
        if char in "&\"":
            emit(text[last:at] + ("&AMP;" if char == "&" else "&QUOT;"))
            last = at + 1
            continue
        escaped = (at - match.start()) % 2 == 1
        if escaped and links and at not in refused:
            kept[at] = size + at - last  # `\<` and `\!` show as themselves, unless marked
            continue  # reads the backslash as part of something else: checked
        emit(text[last:at - 1 if escaped else at])  # a backslash that cannot be trusted goes
        last = at + 1
        if char == "!":
            emit("[" + IMAGE_MARK)
            last = at + 2
            ref = _NOLINK_IMAGE.match(text, at, end)
            if (ref and SPACES.sub(" ", ref[1]).lower() in labels
                    and not LINK.match(text, at, end) and not REFLINK.match(text, at, end)):
                # `![r]` and `![r][]` name their target by their text, which now has the mark.
                label = _escape(text, at + 2, ref.end(1), size, False, refused, kept)
                emit(label + "][" + label + "]")
                last = ref.end()
        elif links and not escaped and at not in refused and (
                _ANGLE_DESTINATION.search(text, max(start, at - 40), at) or AUTOLINK.match(text, at, end)):
            kept[at] = size
            emit("<")
        else:
            emit("&LT;")
    emit(text[last:end])
    return "".join(parts)
