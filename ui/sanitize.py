"""Text that the chat shows, made inert: no raw HTML, no images, nothing fetched.

Every text the Chatbot renders (answers, thinking, notices, the person's own question, imported
chats) passes `sanitize()` on its way into the history. Gradio dedents a message (cleandoc), takes
its LaTeX out and renders it with `marked` (GFM, line breaks), then with its own sanitizer, which
keeps inline styles, forms and remote images. So here, outside code and maths, every `<` that could open a tag
becomes `&LT;` and every Markdown image a link (`![a](u)` → `[🖼️ a](u)`); code and maths keep
their text, which the browser shows literally anyway. What is code is decided the way the page
decides it: `ui/marked.py` ports the lexer of the bundled marked 12 (code, HTML, images
as far as they go), and the result is lexed again and checked before it is used. Anything unsure, or slower
than `BUDGET`, falls back to escaping inside code too: just as safe, only less pretty. The maths
spans Gradio takes out are found by ui/maths_spans.py, the escaping itself is ui/escaping.py.

The history keeps the text as shown, and `restore()` gives back what was written (dedented, as
Gradio would have it anyway): the model's next turn, exports and Undo read the history through
`ui.messages.parts_of`, which applies it.
The escapes are the uppercase entities `&LT;`, `&AMP;` and `&QUOT;` (a literal `&LT;` is written
`&AMP;LT;`), because they are rare in real code, where `restore()`, which does not parse, would
turn them back too. Not restored: images and ```` ```mermaid ```` fences (Gradio draws those from
raw HTML) stay links and plain code, for the model too, and so does maths nested too deep or too
long to render safely (ui/maths.py: KaTeX's output of it crashes the tab), which goes in inline code.
"""

from __future__ import annotations

import inspect
import re
import time
from bisect import bisect_right
from dataclasses import dataclass

from ui.escaping import IMAGE_MARK, escaped
from ui.marked import DANGER, ESCAPED, LATEX_DELIMITERS, Lexer, OutOfTime
from ui.maths import as_code, too_much
from ui.maths_spans import Placed, maths_spans

BUDGET = 0.05  # seconds of analysis (plus 1 ms per 4 KB) before falling back to escaping all

_TRIGGER = re.compile(r"<[A-Za-z/!?]|!\[|&(?:LT|AMP|QUOT);|```mermaid|src=\"/file")
# The escapes and what they stand for; the chat's copy buttons undo them in the browser with the
# same pattern and table (ui/page/scripts.py COPY_JS, which is built from these two).
RESTORE = re.compile(r"&(LT|AMP|QUOT);")
RESTORED = {"LT": "<", "AMP": "&", "QUOT": '"'}
_MERMAID = re.compile(r"```mermaid(?=\s*\n)")
_ODD_LINE_ENDS = "\r\u2028\u2029"  # marked and this port would split lines differently: escape all


def sanitize(text: str) -> str:
    """Markdown for the chat with no raw HTML and no images; plain text comes back unchanged."""
    return _sanitize(text, None)


class Growing:
    """sanitize() for a text that grows, such as a streaming answer: the parts before its last
    blank line that marked cannot read differently whatever follows are done only once."""

    def __init__(self) -> None:
        self._done: dict[str, _Part] = {}

    def __call__(self, text: str) -> str:
        return _sanitize(text, self._done)


@dataclass(frozen=True)
class _Part:
    text: str
    open: bool  # ends inside a fence, which the next part would continue


def _sanitize(text: str, memo: dict[str, _Part] | None) -> str:
    if _MATHS_LEFT.search(text):
        text = _unsafe_maths_as_code(text)
    if not _TRIGGER.search(text):
        return text
    text = _MERMAID.sub("``` mermaid", _dedented(text))
    maths = maths_spans(text)
    if any(c in text for c in _ODD_LINE_ENDS):
        return escaped(text, maths, links=False).text
    deadline = time.perf_counter() + BUDGET + len(text) / 4_000_000
    try:
        out: list[str] = []
        done: dict[str, _Part] = {}
        bounds = _part_bounds(text, maths)
        start = 0
        for i, end in enumerate(bounds):
            piece = text[start:end]
            part = (memo or {}).get(piece) or _sanitized_part(piece, deadline)
            if part.open and i + 1 < len(bounds):
                continue  # the fence goes on: this part grows until one ends
            done[piece] = part
            out.append(part.text)
            start = end
    except OutOfTime:
        return escaped(text, maths, links=False).text
    if memo is not None:
        memo.clear()
        memo.update(done)
    return "".join(out)


_MATHS_LEFT = re.compile("|".join(re.escape(left) for left, _ in LATEX_DELIMITERS))
def _unsafe_maths_as_code(text: str) -> str:
    """The text with maths too deep or too long to render safely as code (ui/maths.py), placed
    as Gradio will see it: dedented, its spans where Gradio takes them out."""
    if not any(too_much(text[a:b]) for a, b in maths_spans(text)):
        return text
    text = _dedented(text)
    return as_code(text, maths_spans(text))


def _dedented(text: str) -> str:
    """The text as Gradio's Chatbot hands it on: it dedents every text message with
    inspect.cleandoc, and code in the text before that could be plain text after (and take its
    HTML along). Once more until it holds: cleandoc's first line is exempt, and dropping blank
    lines at the start gives it a new one."""
    for _ in range(3):
        cleaned = inspect.cleandoc(text)
        if cleaned == text:
            break
        text = cleaned
    return text


_PART_START = re.compile(r"\n\n(?=\S)")
_DEF_LIKE = re.compile(r"\]:")
_FENCE_LINE = re.compile(r"(?m)^ {0,3}(?:```|~~~)")


def _part_bounds(text: str, maths: list[tuple[int, int]]) -> list[int]:
    """Where the text can be cut into parts that marked reads one after the other: after a blank
    line, before a line that is not indented, outside maths. Nothing goes on across that but a
    fence, which the caller checks, and a list (a bullet after a blank line adds an item, which
    is lexed on its own all the same). Not at all with a link definition (its title may run
    across blank lines) or a maths delimiter that Gradio left unpaired (it shapes paragraphs far
    away)."""
    if _DEF_LIKE.search(text) or _unpaired_delimiter(text, maths):
        return [len(text)]
    starts = [span[0] for span in maths]
    bounds = []
    for match in _PART_START.finditer(text):
        cut = match.end()
        i = bisect_right(starts, cut) - 1
        if i < 0 or maths[i][1] <= cut:
            bounds.append(cut)
    bounds.append(len(text))
    return bounds


def _unpaired_delimiter(text: str, maths: list[tuple[int, int]]) -> bool:
    starts = [span[0] for span in maths]
    for left, _ in LATEX_DELIMITERS:
        for match in re.finditer(re.escape(left), text):
            i = bisect_right(starts, match.start()) - 1
            if i < 0 or maths[i][1] <= match.start():
                return True
    return False


def _sanitized_part(text: str, deadline: float) -> _Part:
    maths = maths_spans(text)
    if not _TRIGGER.search(text):
        if not _FENCE_LINE.search(text):
            return _Part(text, False)
        return _Part(text, Lexer(Placed(text, maths).text, deadline).run().open)
    return _sanitized(text, maths, deadline)


def restore(text: str) -> str:
    """The text as it was before `sanitize()` (images and mermaid fences aside)."""
    if "&" not in text:
        return text
    return RESTORE.sub(lambda m: RESTORED[m[1]], text)


# --- propose code from a first lexing, build, check by lexing the result ------------------------


def _sanitized(text: str, maths: list[tuple[int, int]], deadline: float) -> _Part:
    # First guess: lex the text with each would-be tag made inert (same length); take its code.
    inert = re.sub(r"<(?=[A-Za-z/!?])", "\ufffc", text)
    placed = Placed(inert, maths)
    first = Lexer(placed.text, deadline, want_code=True).run()
    open_end = first.open
    code = sorted({(placed.source(a), placed.source(b, end=True)) for a, b in first.code})
    # Code that escaping would change must stay as it is; other code may as well be escaped.
    code = [(a, b) for a, b in code
            if b > a and (DANGER.search(text[a:b + 1]) or ESCAPED.search(text, a, b))]
    refused: frozenset[int] = frozenset()
    for _ in range(16):
        built = escaped(text, _union(maths, code), refused=refused)
        if (not built.kept and not any(DANGER.search(text[a:b + 1]) for a, b in code)
                and "\\[" + IMAGE_MARK not in built.text):
            return _Part(built.text, open_end)  # nothing left that could be a tag or an image
        check_placed = Placed(built.text, maths_spans(built.text))
        check = Lexer(check_placed.text, deadline).run()
        if not check.danger:
            return _Part(built.text, open_end)
        bad_code: set[tuple[int, int]] = set()
        bad_kept: set[int] = set()
        for start, stop in check.danger:
            a, b = check_placed.source(start), check_placed.source(stop, end=True)
            for x, y in built.sources(a, max(b, a + 1)):
                bad_code.update(c for c in code if c[0] < y and x < c[1])
            bad_kept.update(s for s, o in built.kept.items() if a <= o < max(b, a + 1))
        if not bad_code and not bad_kept:
            break
        code = [c for c in code if c not in bad_code]
        refused = refused | frozenset(bad_kept)
    return _Part(escaped(text, maths, links=False).text, open_end)


def _union(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(a + b):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
