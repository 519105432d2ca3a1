"""Maths the page can render safely: how deep LaTeX nests and how long it is.

Gradio renders each maths span of a message with KaTeX, which stacks boxes inside boxes for every
level of the LaTeX. Nested deep enough, laying them out crashes Chromium's renderer: the tab dies
and the conversation with it (`$$` + `\\frac{1}{` × 150 + `$$`, 1.5 KB). Long maths freezes the
tab for seconds. ui/sanitize.py shows a span beyond these limits as code instead.

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
from functools import lru_cache

MATHS_DEPTH = 30  # levels of nesting one span may have: 2.5 × below the first crash seen
MATHS_CHARS = 4_000  # characters one span may have, delimiters included: ~2 s at most

# What opens or closes a level; what puts the rest of its group one level down without braces
# (`\Large x y`, `\displaystyle`, `\color{red} x`, `\bf`); what defines macros (a chain of
# definitions, each one level deeper than the last, nests as deep as it is long, with two braces
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
    """How deep KaTeX's output of this LaTeX can nest, in levels: never less than it will.

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
