"""Maths the page can render safely: how deep LaTeX nests and how long it is.

Gradio renders each maths span of a message with KaTeX, which stacks boxes inside boxes for every
level of the LaTeX. Nested deep enough, laying them out crashes Chromium's renderer: the tab dies
and the conversation with it (`$$` + `\\frac{1}{` × 150 + `$$`, 1.5 KB). Long maths freezes the
tab for seconds. A span beyond these limits is shown as code instead (`as_code`, which
ui/sanitize.py applies to every text the chat shows).

Figures from bench/maths_limits.py (Chromium 156, Gradio 6.31, a shared 2-core machine): `\\frac`,
`\\sqrt`, `x^{`, `\\hat`, `\\binom`, `\\overset`, `\\boxed`, matrices... render at 140 levels and
crash at 150; `\\overbrace{...}^{a}` and `\\underbrace{...}_{a}` (two boxes a level) render at 60
and crash at 75. `\\boxed` takes 1.8 s at 40 levels, 4.4 s at 75, 38 s at 140. One span of flat
maths takes 0.7 s at 1,000 characters, 2.7 s at 5,000, 19 s at 20,000 (rows of an aligned block
about as long). Real answers nest a handful of levels, and their longest formulas are a few hundred
characters.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

MATHS_DEPTH = 30  # levels of nesting one span may have: 2.5 × below the first crash seen
MATHS_CHARS = 4_000  # characters one span may have, delimiters included: ~2.5 s here at most

# What opens or closes a level; what puts the rest of its group one level down without braces
# (`\Large x y`, `\displaystyle`, `\color{red} x`, `\bf`); what defines macros (a chain of
# definitions, each one level deeper than the last, nests as deep as it is long, with a few braces
# in any one). A command taking arguments (`\frac`, `\hat`) nests only through them: KaTeX
# refuses `\hat\hat x`, and braces are counted.
_TOKEN = re.compile(r"\\(?:[a-zA-Z]+|.)|[{}]", re.S)
_OPEN = frozenset({"{", "\\left", "\\begin"})
_CLOSE = frozenset({"}", "\\right", "\\end"})
_SWITCH = frozenset({
    "\\tiny", "\\scriptsize", "\\footnotesize", "\\small", "\\normalsize", "\\large", "\\Large",
    "\\LARGE", "\\huge", "\\Huge", "\\displaystyle", "\\textstyle", "\\scriptstyle",
    "\\scriptscriptstyle", "\\color", "\\rm", "\\sf", "\\tt", "\\bf", "\\it", "\\cal", "\\em",
})
_DEFINES = frozenset({"\\def", "\\gdef", "\\edef", "\\xdef", "\\let", "\\futurelet", "\\global",
                      "\\newcommand", "\\renewcommand", "\\providecommand"})


@lru_cache(maxsize=4096)  # a long answer's spans, checked again on every update
def too_much(maths: str) -> bool:
    """Whether this maths span (delimiters included) is too long or nests too deep to render."""
    return len(maths) > MATHS_CHARS or depth(maths) > MATHS_DEPTH


def depth(maths: str) -> int:
    """How deep this LaTeX nests, in the levels that KaTeX's output nests boxes for.

    A level is a group ({...}, \\left...\\right, \\begin...\\end) or a command that puts what
    follows it in its group one level down (\\Large x). Macro definitions count as unbounded: a
    few kilobytes of them expand a hundred levels deep. (`\\sqrt[\\sqrt[x]{y}]{y}` is an error
    to KaTeX: brackets do not nest.)
    """
    added = [0]  # per open group: the levels its commands added, gone when it closes
    level = deepest = 0
    for match in _TOKEN.finditer(maths):
        token = match[0]
        if token in _OPEN:
            added.append(0)
            level += 1
        elif token in _CLOSE:
            if len(added) > 1:
                level -= 1 + added.pop()
        elif token in _SWITCH:
            added[-1] += 1
            level += 1
        elif token in _DEFINES:
            return MATHS_CHARS
        deepest = max(deepest, level)
    return deepest


_BACKTICKS = re.compile(r"`+")
_PLACEHOLDER_TEXT = re.compile(r"LATEX_BLOCK_")


def as_code(text: str, maths: list[tuple[int, int]]) -> str:
    """The text with each of its maths spans (as the page takes them out, sorted) that is too
    deep or too long to render safely put in inline code, which KaTeX leaves alone and the page
    shows literally (in code already, it shows the backticks too: rare, and safe). The backtick
    run is longer than any other, so that nothing pairs with it, and has a space before it unless
    a line or a space is (what comes before could take the run in: `www.x`, `~`, `\\` would), and
    one after it before a backtick. A span wrapped so already (an imported chat) stays as it is.

    The page puts each span back where `%%%LATEX_BLOCK_<n>%%%` stands in the rendered HTML, also
    where the text itself wrote one: outside maths, such a text is broken up with an entity
    (`LATEX&#95;BLOCK`), or it would bring span n back out of its code.
    """
    starts = [a for a, _ in maths]

    def in_maths(at: int) -> bool:
        i = bisect_right(starts, at) - 1
        return i >= 0 and at < maths[i][1]

    # The backtick runs marked sees (the maths is taken out before it reads the text).
    runs = {m.start(): m.end() for m in _BACKTICKS.finditer(text) if not in_maths(m.start())}
    ticks = "`" * (1 + max((e - s for s, e in runs.items()), default=0))
    ending = {e: s for s, e in runs.items()}
    edges = set(starts) | {b for _, b in maths}
    # Run lengths of which every run stands next to maths: only these can be a wrapping's.
    lengths: dict[int, bool] = {}
    for s_, e in runs.items():
        lengths[e - s_] = lengths.get(e - s_, True) and (e in edges or s_ in edges)
    edits: list[tuple[int, int, str]] = []
    for a, b in maths:
        n = a - ending.get(a, a)
        wrapped = n and runs.get(b) == b + n and lengths[n] and (
            a == n or text[a - n - 1].isspace())
        if too_much(text[a:b]) and not wrapped:
            before = " " if a and not text[a - 1].isspace() else ""
            after = " " if text[b:b + 1] == "`" else ""
            edits.append((a, b, f"{before}{ticks}{text[a:b]}{ticks}{after}"))
    edits += [(m.start(), m.end(), "LATEX&#95;BLOCK_") for m in _PLACEHOLDER_TEXT.finditer(text)
              if not in_maths(m.start())]
    out: list[str] = []
    last = 0
    for a, b, replacement in sorted(edits):
        out += [text[last:a], replacement]
        last = b
    out.append(text[last:])
    return "".join(out)
